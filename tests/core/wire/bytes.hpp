// Helpers for the wire codec tests: golden vectors are written as lists of byte values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <vector>

#include "core/wire/error.hpp"

namespace ibnbd::wire {

// Lets BOOST_TEST print errors when a comparison fails (found by argument-dependent lookup).
inline std::ostream& operator<<(std::ostream& os, Error error) { return os << to_string(error); }

}  // namespace ibnbd::wire

namespace ibnbd::wire::test {

using Bytes = std::vector<std::byte>;

inline Bytes bytes(std::initializer_list<unsigned> values) {
    Bytes out;
    out.reserve(values.size());
    for (unsigned value : values) out.push_back(static_cast<std::byte>(value));
    return out;
}

// `values` followed by zeros up to `size` bytes (for long messages that are mostly padding).
inline Bytes bytes_padded(std::initializer_list<unsigned> values, std::size_t size) {
    Bytes out = bytes(values);
    out.resize(size, std::byte{0});
    return out;
}

// Comparable and printable form for BOOST_TEST(..., per_element()).
inline std::vector<unsigned> values(std::span<const std::byte> in) {
    std::vector<unsigned> out;
    out.reserve(in.size());
    for (std::byte b : in) out.push_back(std::to_integer<unsigned>(b));
    return out;
}

inline std::span<const std::byte> prefix(const Bytes& in, std::size_t size) {
    return std::span<const std::byte>(in).first(size);
}

}  // namespace ibnbd::wire::test
