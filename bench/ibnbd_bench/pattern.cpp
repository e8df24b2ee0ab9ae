#include "bench/ibnbd_bench/pattern.hpp"

#include <cassert>
#include <cstring>

namespace ibnbd::bench {

namespace {

std::uint64_t word_at(std::uint64_t byte_offset, std::uint64_t key) { return mix64(byte_offset ^ key); }

std::uint64_t key_of(std::uint64_t seed) { return mix64(seed ^ 0x6962'6e62'6462'656eull); }

}  // namespace

void fill_pattern(std::span<std::byte> buffer, std::uint64_t offset, std::uint64_t seed) {
    assert(offset % 8 == 0 && buffer.size() % 8 == 0);
    const std::uint64_t key = key_of(seed);
    for (std::size_t i = 0; i < buffer.size(); i += 8) {
        const std::uint64_t word = word_at(offset + i, key);
        std::memcpy(buffer.data() + i, &word, 8);
    }
}

std::size_t check_pattern(std::span<const std::byte> buffer, std::uint64_t offset, std::uint64_t seed) {
    assert(offset % 8 == 0 && buffer.size() % 8 == 0);
    const std::uint64_t key = key_of(seed);
    for (std::size_t i = 0; i < buffer.size(); i += 8) {
        const std::uint64_t want = word_at(offset + i, key);
        std::uint64_t got = 0;
        std::memcpy(&got, buffer.data() + i, 8);
        if (got != want) {
            for (std::size_t b = 0; b < 8; ++b) {
                if (std::memcmp(buffer.data() + i + b, reinterpret_cast<const std::byte*>(&want) + b, 1) != 0) return i + b;
            }
        }
    }
    return buffer.size();
}

}  // namespace ibnbd::bench
