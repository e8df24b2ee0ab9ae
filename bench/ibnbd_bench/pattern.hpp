// The verify pattern: every 8-byte word of the device gets a value that depends only on its byte
// offset and the seed, so a read can be checked without remembering what was written, any block
// size and alignment (multiples of 8 bytes) checks the same way, and data written under another
// seed (or left zero) is caught.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ibnbd::bench {

// Fills `buffer` with the pattern for device bytes [offset, offset + size).
void fill_pattern(std::span<std::byte> buffer, std::uint64_t offset, std::uint64_t seed);
// The index of the first byte that differs from the pattern, or buffer.size() when all match.
std::size_t check_pattern(std::span<const std::byte> buffer, std::uint64_t offset, std::uint64_t seed);

// splitmix64: small, fast, well-mixed; the workload's random stream uses it too.
inline std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace ibnbd::bench
