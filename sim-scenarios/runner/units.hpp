// Scenario values with units: durations ("250us", "1.5s"), sizes ("4KiB", "64MiB"), bandwidths
// ("10Gbit", "1.25GB/s") and percentages ("12.5%" or 12.5). Parsing is strict: a value that does
// not parse completely is an error (std::nullopt), never a silent default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fabric/fabric.hpp"

namespace ibnbd::scenario {

using fabric::Nanos;

inline constexpr Nanos kMicrosecond = 1'000;
inline constexpr Nanos kMs = 1'000'000;
inline constexpr Nanos kSec = 1'000'000'000;

// "0", "<number><unit>" with unit ns, us, ms, s (or min); fractional numbers allowed ("1.5ms").
// Results must fit in 2^63 ns.
std::optional<Nanos> parse_duration(std::string_view text);
// "<integer>" bytes, or "<number><unit>" with B, KiB/K, MiB/M, GiB/G, TiB/T (binary multiples).
// The result must be a whole number of bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);
// Bytes per second: "0" or "inf" (infinite), "<number>" with Gbit/Mbit/Kbit/bit (bits per second,
// also Gbps/Mbps) or GB/s, MB/s, KB/s, B/s (decimal bytes per second). Anything else that rounds to
// 0 bytes per second ("1bit", "0Gbit") is an error, not infinite.
std::optional<std::uint64_t> parse_bandwidth(std::string_view text);
// "<number>" or "<number>%", within 0..100.
std::optional<double> parse_percent(std::string_view text);

// Short human forms for reports: "250us", "1.5ms", "4KiB", "10Gbit/s".
std::string format_duration(Nanos nanos);
std::string format_size(std::uint64_t bytes);
std::string format_bandwidth(std::uint64_t bytes_per_second);
// Approximate, for totals: "1.3GiB", "557.2MiB", "12KiB".
std::string format_bytes(std::uint64_t bytes);

}  // namespace ibnbd::scenario
