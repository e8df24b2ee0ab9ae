// Self-describing sector contents for the data oracle. Every 512-byte sector a workload writes
// carries, in its first 8 bytes, the write's version and a 32-bit check of (device, sector); the
// other 63 words are that first word xor a fixed mask per position. Reading a sector back tells exactly which
// write of which sector put it there, or that it is all zeros (never written), or that it is
// neither (torn inside a sector, misdirected, or garbage).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>

namespace ibnbd::scenario {

inline constexpr std::uint32_t kSector = 512;
inline constexpr std::uint32_t kWordsPerSector = kSector / 8;

struct SectorContent {
    enum class Kind : std::uint8_t { zeros, version, foreign };
    Kind kind = Kind::zeros;
    std::uint32_t version = 0;  // for Kind::version
};

class Pattern {
public:
    explicit Pattern(std::uint64_t device_tag) : tag_(device_tag * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}

    // Fills `out` (a whole number of sectors) with `version` for sectors starting at `first`.
    void fill(std::uint64_t first, std::uint32_t version, std::span<std::byte> out) const {
        for (std::size_t s = 0; s < out.size() / kSector; ++s) {
            std::uint64_t words[kWordsPerSector];
            const std::uint64_t head = header(first + s, version);
            for (std::uint32_t i = 0; i < kWordsPerSector; ++i) words[i] = head ^ kMask[i];
            std::memcpy(out.data() + s * kSector, words, kSector);
        }
    }

    // What one sector (512 bytes at `bytes`) of sector index `sector` holds.
    SectorContent decode(std::uint64_t sector, const std::byte* bytes) const {
        std::uint64_t words[kWordsPerSector];
        std::memcpy(words, bytes, kSector);
        const std::uint64_t head = words[0];
        if (head == 0) {
            for (std::uint32_t i = 1; i < kWordsPerSector; ++i) {
                if (words[i] != 0) return {SectorContent::Kind::foreign, 0};
            }
            return {SectorContent::Kind::zeros, 0};
        }
        const auto version = static_cast<std::uint32_t>(head);
        if (version == 0 || header(sector, version) != head) return {SectorContent::Kind::foreign, 0};
        std::uint64_t differ = 0;
        for (std::uint32_t i = 1; i < kWordsPerSector; ++i) differ |= words[i] ^ head ^ kMask[i];
        if (differ != 0) return {SectorContent::Kind::foreign, 0};
        return {SectorContent::Kind::version, version};
    }

private:
    std::uint64_t header(std::uint64_t sector, std::uint32_t version) const {
        std::uint64_t x = (sector + 1) * 0xBF58476D1CE4E5B9ull ^ tag_;
        x ^= x >> 31;
        x *= 0x94D049BB133111EBull;
        x ^= x >> 29;
        return (x & 0xFFFFFFFF00000000ull) | version;
    }
    // Word i of a sector is its header xor kMask[i] (kMask[0] = 0): any other write's sector
    // differs in every word, and a sector torn inside has words of two headers.
    static constexpr auto kMask = [] {
        std::array<std::uint64_t, kWordsPerSector> mask{};
        for (std::uint32_t i = 1; i < kWordsPerSector; ++i) mask[i] = std::uint64_t{i} * 0x9E3779B97F4A7C15ull;
        return mask;
    }();

    std::uint64_t tag_;
};

}  // namespace ibnbd::scenario
