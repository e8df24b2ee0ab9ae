// endian.hpp - explicit little- and big-endian loads and stores on byte spans.
//
// Wire bytes are never reinterpreted as structs: every field is read and written one byte at a
// time at an explicit offset, which is alignment-free, endian-free and well defined for any input.
//
// LIMITS
//     The caller checks lengths first (decoders do, before any load): an access beyond the span is
//     a programming error and asserts.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ibnbd::wire {

inline constexpr std::uint8_t load_u8(std::span<const std::byte> in, std::size_t off) {
    assert(off < in.size());
    return std::to_integer<std::uint8_t>(in[off]);
}

inline constexpr std::uint16_t load_le16(std::span<const std::byte> in, std::size_t off) {
    assert(off <= in.size() && in.size() - off >= 2);
    return static_cast<std::uint16_t>(load_u8(in, off) | load_u8(in, off + 1) << 8);
}

inline constexpr std::uint32_t load_le32(std::span<const std::byte> in, std::size_t off) {
    return static_cast<std::uint32_t>(load_le16(in, off)) |
           static_cast<std::uint32_t>(load_le16(in, off + 2)) << 16;
}

inline constexpr std::uint64_t load_le64(std::span<const std::byte> in, std::size_t off) {
    return static_cast<std::uint64_t>(load_le32(in, off)) |
           static_cast<std::uint64_t>(load_le32(in, off + 4)) << 32;
}

inline constexpr std::uint32_t load_be32(std::span<const std::byte> in, std::size_t off) {
    assert(off <= in.size() && in.size() - off >= 4);
    return static_cast<std::uint32_t>(load_u8(in, off)) << 24 |
           static_cast<std::uint32_t>(load_u8(in, off + 1)) << 16 |
           static_cast<std::uint32_t>(load_u8(in, off + 2)) << 8 |
           static_cast<std::uint32_t>(load_u8(in, off + 3));
}

inline constexpr void store_u8(std::span<std::byte> out, std::size_t off, std::uint8_t value) {
    assert(off < out.size());
    out[off] = static_cast<std::byte>(value);
}

inline constexpr void store_le16(std::span<std::byte> out, std::size_t off, std::uint16_t value) {
    store_u8(out, off, static_cast<std::uint8_t>(value));
    store_u8(out, off + 1, static_cast<std::uint8_t>(value >> 8));
}

inline constexpr void store_le32(std::span<std::byte> out, std::size_t off, std::uint32_t value) {
    store_le16(out, off, static_cast<std::uint16_t>(value));
    store_le16(out, off + 2, static_cast<std::uint16_t>(value >> 16));
}

inline constexpr void store_le64(std::span<std::byte> out, std::size_t off, std::uint64_t value) {
    store_le32(out, off, static_cast<std::uint32_t>(value));
    store_le32(out, off + 4, static_cast<std::uint32_t>(value >> 32));
}

inline constexpr void store_be32(std::span<std::byte> out, std::size_t off, std::uint32_t value) {
    store_u8(out, off, static_cast<std::uint8_t>(value >> 24));
    store_u8(out, off + 1, static_cast<std::uint8_t>(value >> 16));
    store_u8(out, off + 2, static_cast<std::uint8_t>(value >> 8));
    store_u8(out, off + 3, static_cast<std::uint8_t>(value));
}

// Zeroes `len` bytes at `off`: reserved fields and padding go out as zero.
inline constexpr void store_zero(std::span<std::byte> out, std::size_t off, std::size_t len) {
    assert(off <= out.size() && out.size() - off >= len);
    std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(off), len, std::byte{0});
}

}  // namespace ibnbd::wire
