#include "sim-scenarios/runner/units.hpp"

#include <charconv>
#include <cmath>
#include <fmt/core.h>

namespace ibnbd::scenario {

namespace {

struct Number {
    double value = 0;
    std::string_view unit;
};

// A non-negative decimal number followed by an optional unit (spaces between are allowed).
std::optional<Number> split_number(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    std::size_t end = 0;
    bool digits = false;
    while (end < text.size() && ((text[end] >= '0' && text[end] <= '9') || text[end] == '.')) {
        digits = digits || text[end] != '.';
        ++end;
    }
    if (!digits) return std::nullopt;
    double value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
    if (ec != std::errc{} || ptr != text.data() + end || !std::isfinite(value)) return std::nullopt;
    std::string_view unit = text.substr(end);
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    return Number{value, unit};
}

std::optional<std::uint64_t> scaled(double value, double scale) {
    const double result = value * scale;
    if (!(result >= 0) || result > 9.2e18) return std::nullopt;
    return static_cast<std::uint64_t>(std::llround(result));
}

}  // namespace

std::optional<Nanos> parse_duration(std::string_view text) {
    const auto number = split_number(text);
    if (!number) return std::nullopt;
    double scale = 0;
    if (number->unit == "ns") scale = 1;
    else if (number->unit == "us") scale = 1e3;
    else if (number->unit == "ms") scale = 1e6;
    else if (number->unit == "s") scale = 1e9;
    else if (number->unit == "min") scale = 60e9;
    else if (number->unit.empty() && number->value == 0) scale = 1;
    else return std::nullopt;
    return scaled(number->value, scale);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    const auto number = split_number(text);
    if (!number) return std::nullopt;
    double scale = 0;
    const std::string_view u = number->unit;
    if (u.empty() || u == "B") scale = 1;
    else if (u == "KiB" || u == "K" || u == "k") scale = 1024.0;
    else if (u == "MiB" || u == "M") scale = 1024.0 * 1024;
    else if (u == "GiB" || u == "G") scale = 1024.0 * 1024 * 1024;
    else if (u == "TiB" || u == "T") scale = 1024.0 * 1024 * 1024 * 1024;
    else return std::nullopt;
    const double bytes = number->value * scale;
    if (bytes != std::floor(bytes)) return std::nullopt;
    return scaled(number->value, scale);
}

std::optional<std::uint64_t> parse_bandwidth(std::string_view text) {
    if (text == "inf" || text == "0") return 0;
    const auto number = split_number(text);
    if (!number) return std::nullopt;
    const std::string_view u = number->unit;
    double scale = 0;
    if (u == "Gbit" || u == "Gbps" || u == "Gbit/s") scale = 1e9 / 8;
    else if (u == "Mbit" || u == "Mbps" || u == "Mbit/s") scale = 1e6 / 8;
    else if (u == "Kbit" || u == "Kbps" || u == "Kbit/s") scale = 1e3 / 8;
    else if (u == "bit" || u == "bps" || u == "bit/s") scale = 1.0 / 8;
    else if (u == "GB/s") scale = 1e9;
    else if (u == "MB/s") scale = 1e6;
    else if (u == "KB/s" || u == "kB/s") scale = 1e3;
    else if (u == "B/s") scale = 1;
    else return std::nullopt;
    // Only "0" and "inf" mean no limit: a value that rounds to 0 bytes/s is a mistake, not that.
    const auto bytes = scaled(number->value, scale);
    if (bytes == 0u) return std::nullopt;
    return bytes;
}

std::optional<double> parse_percent(std::string_view text) {
    const auto number = split_number(text);
    if (!number || !(number->unit.empty() || number->unit == "%")) return std::nullopt;
    if (number->value > 100) return std::nullopt;
    return number->value;
}

std::string format_duration(Nanos nanos) {
    if (nanos == 0) return "0";
    // Three significant digits at most: 284ms, 2.48ms, 117us.
    const auto plain = [](double value, const char* unit) {
        const int decimals = value < 10 ? 2 : value < 100 ? 1 : 0;
        std::string text = fmt::format("{:.{}f}", value, decimals);
        if (decimals == 0) return text + unit;
        while (text.back() == '0') text.pop_back();
        if (text.back() == '.') text.pop_back();
        return text + unit;
    };
    if (nanos < kMicrosecond) return fmt::format("{}ns", nanos);
    if (nanos < kMs) return plain(static_cast<double>(nanos) / 1e3, "us");
    if (nanos < kSec) return plain(static_cast<double>(nanos) / 1e6, "ms");
    return plain(static_cast<double>(nanos) / 1e9, "s");
}

std::string format_size(std::uint64_t bytes) {
    constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    std::uint64_t value = bytes;
    while (unit < 4 && value >= 1024 && value % 1024 == 0) {
        value /= 1024;
        ++unit;
    }
    return fmt::format("{}{}", value, units[unit]);
}

std::string format_bytes(std::uint64_t bytes) {
    const auto b = static_cast<double>(bytes);
    if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f}GiB", b / (1024.0 * 1024 * 1024));
    if (b >= 1024.0 * 1024) return fmt::format("{:.1f}MiB", b / (1024.0 * 1024));
    if (b >= 1024.0) return fmt::format("{:.0f}KiB", b / 1024.0);
    return fmt::format("{}B", bytes);
}

std::string format_bandwidth(std::uint64_t bytes_per_second) {
    if (bytes_per_second == 0) return "inf";
    const double bits = static_cast<double>(bytes_per_second) * 8;
    if (bits >= 1e9) return fmt::format("{:g}Gbit", bits / 1e9);
    if (bits >= 1e6) return fmt::format("{:g}Mbit", bits / 1e6);
    return fmt::format("{:g}Kbit", bits / 1e3);
}

}  // namespace ibnbd::scenario
