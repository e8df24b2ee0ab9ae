// swarm: the bounds within which swarm mode draws a scenario per seed (swarm.hpp).
#include <charconv>
#include <fmt/core.h>

#include "sim-scenarios/runner/parse_parts.hpp"

namespace ibnbd::scenario::detail {

namespace {

template <class T>
void parse_list(MapReader& map, std::string_view key, std::string_view expected, std::vector<T>& out,
                const std::function<std::optional<T>(const std::string&)>& parse) {
    const YAML::Node node = map.child(key);
    if (!node.IsDefined()) return;
    std::vector<T> values;
    const auto add = [&](const YAML::Node& item) {
        const auto value = item.IsScalar() ? parse(item.Scalar()) : std::nullopt;
        if (!value) {
            map.error(key, fmt::format("'{}' is not {}", item.IsScalar() ? item.Scalar() : "?", expected));
            return;
        }
        values.push_back(*value);
    };
    if (node.IsSequence()) {
        for (const auto& item : node) add(item);
    } else {
        add(node);
    }
    if (values.empty()) {
        map.error(key, "expected a non-empty list");
        return;
    }
    out = std::move(values);
}

// "-5ms" or "10ms": a duration that may be negative.
std::optional<std::int64_t> parse_signed_duration(const std::string& text) {
    const bool negative = !text.empty() && text[0] == '-';
    const auto value = parse_duration(negative ? std::string_view(text).substr(1) : std::string_view(text));
    if (!value || *value > static_cast<Nanos>(INT64_MAX)) return std::nullopt;
    return negative ? -static_cast<std::int64_t>(*value) : static_cast<std::int64_t>(*value);
}

void parse_signed_duration_range(MapReader& map, std::string_view key, Range<std::int64_t>& out) {
    const YAML::Node node = map.child(key);
    if (!node.IsDefined()) return;
    const bool pair = node.IsSequence() && node.size() == 2 && node[0].IsScalar() && node[1].IsScalar();
    const auto low = pair ? parse_signed_duration(node[0].Scalar()) : std::nullopt;
    const auto high = pair ? parse_signed_duration(node[1].Scalar()) : std::nullopt;
    if (!low || !high || *low > *high) {
        map.error(key, "expected [low, high] of durations, low <= high (e.g. [-5ms, 10ms])");
        return;
    }
    out = {*low, *high};
}

// A list of fault types, or a mapping of fault types to weights ({link_down: 3, crash: 1}).
void parse_fault_types(MapReader& map, std::vector<FaultType>& out) {
    const YAML::Node node = map.child("fault_types");
    if (!node.IsMap()) {
        parse_list<FaultType>(map, "fault_types", "a fault type", out, parse_fault_type);
        return;
    }
    std::vector<FaultType> weighted;
    for (const auto& item : node) {
        const auto type = item.first.IsScalar() ? parse_fault_type(item.first.Scalar()) : std::nullopt;
        std::uint32_t weight = 0;
        const std::string text = item.second.IsScalar() ? item.second.Scalar() : "";
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), weight);
        const bool good_weight = !text.empty() && ec == std::errc{} && end == text.data() + text.size() && weight <= 100;
        if (!type || !good_weight) {
            map.error("fault_types", "expected fault types, or fault types mapped to weights 0..100");
            return;
        }
        weighted.insert(weighted.end(), weight, *type);
    }
    if (weighted.empty()) map.error("fault_types", "every weight is 0");
    else out = std::move(weighted);
}

template <class T>
void optional_range(MapReader& map, std::string_view key, std::optional<Range<T>>& out,
                    const std::function<bool(T&, T&)>& read) {
    if (!map.has(key)) return;
    Range<T> range;
    if (read(range.low, range.high)) out = range;
}

void parse_heartbeats(MapReader& map, SwarmSpec& out) {
    const auto positive = [](const std::string& text) -> std::optional<Nanos> {
        const auto value = parse_duration(text);
        return value && *value > 0 ? value : std::nullopt;
    };
    parse_list<Nanos>(map, "heartbeat_intervals", "a positive duration", out.heartbeat_intervals, positive);
    parse_list<Nanos>(map, "server_heartbeat_intervals", "a positive duration", out.server_heartbeat_intervals, positive);
    for (auto [key, range] : {std::pair{"heartbeat_missed_max", &out.heartbeat_missed_max},
                              std::pair{"server_heartbeat_missed_max", &out.server_heartbeat_missed_max}}) {
        optional_range<std::uint32_t>(map, key, *range, [&, key = key](std::uint32_t& low, std::uint32_t& high) {
            return map.u32_range(key, low, high, 1, 1000);
        });
    }
}

void parse_fault_shapes(MapReader& map, SwarmSpec& out) {
    optional_range<Nanos>(map, "crash_duration", out.crash_duration,
                          [&](Nanos& low, Nanos& high) { return map.duration_range("crash_duration", low, high); });
    map.duration_range("clog_delay", out.clog_delay.low, out.clog_delay.high);
    map.duration_range("storage_fault_latency", out.storage_fault_latency.low, out.storage_fault_latency.high);
    constexpr std::string_view kPositive = "must be positive (drawn log-uniformly)";
    if (out.clog_delay.low == 0) map.error("clog_delay", kPositive);
    if (out.storage_fault_latency.low == 0) map.error("storage_fault_latency", kPositive);
    if (out.crash_duration && out.crash_duration->low == 0) map.error("crash_duration", kPositive);
    parse_list<fabric::sim::Direction>(map, "directions", "a direction (both, to_server, to_client)", out.directions,
                                       [](const std::string& text) -> std::optional<fabric::sim::Direction> {
                                           if (text == "both") return fabric::sim::Direction::both;
                                           if (text == "to_server") return fabric::sim::Direction::a_to_b;
                                           if (text == "to_client") return fabric::sim::Direction::b_to_a;
                                           return std::nullopt;
                                       });
    map.percent("session_wide_percent", out.session_wide_percent);
    map.percent("follow_up_percent", out.follow_up_percent);
    parse_signed_duration_range(map, "follow_up_offset", out.follow_up_offset);
}

}  // namespace

void parse_swarm(const YAML::Node& node, ParseErrors& errors, SwarmSpec& out) {
    MapReader map(node, "swarm", errors);
    map.u32_range("servers", out.servers.low, out.servers.high, 1, 16);
    map.u32_range("devices", out.devices.low, out.devices.high, 1, 16);
    map.u32_range("clients", out.clients.low, out.clients.high, 1, 64);
    map.u32_range("paths", out.paths.low, out.paths.high, 1, 16);
    parse_list<ibtrs::MpPolicy>(map, "policies", "a policy", out.policies, [](const std::string& text) {
        ibtrs::MpPolicy policy{};
        return ibtrs::parse_mp_policy(text, policy) ? std::optional(policy) : std::nullopt;
    });
    map.duration_range("latency", out.latency.low, out.latency.high);
    map.duration_range("jitter", out.jitter.low, out.jitter.high);
    parse_list<std::uint64_t>(map, "bandwidths", "a bandwidth", out.bandwidths, parse_bandwidth);
    map.duration_range("storage_latency", out.storage_latency.low, out.storage_latency.high);
    parse_list<std::uint16_t>(map, "queue_depths", "a queue depth (1..65535)", out.queue_depths,
                              [](const std::string& text) -> std::optional<std::uint16_t> {
                                  const auto value = parse_size(text);
                                  if (!value || *value == 0 || *value > 65535) return std::nullopt;
                                  return static_cast<std::uint16_t>(*value);
                              });
    map.u32_range("io_shards", out.io_shards.low, out.io_shards.high, 1, 8);
    map.u32_range("io_connections", out.io_connections.low, out.io_connections.high, 1, 64);
    map.u32_range("server_reactors", out.server_reactors.low, out.server_reactors.high, 1, 8);
    parse_heartbeats(map, out);
    parse_list<Nanos>(map, "wait_while_reconnecting", "a duration", out.wait_while_reconnecting, parse_duration);
    parse_fault_types(map, out.fault_types);
    map.u32_range("faults", out.faults.low, out.faults.high, 0, 64);
    map.duration("window", out.window);
    map.duration_range("fault_duration", out.fault_duration.low, out.fault_duration.high);
    parse_fault_shapes(map, out);
    map.u32_range("workload_queue_depth", out.workload_queue_depth.low, out.workload_queue_depth.high, 1, 1024);
    map.u64_range("ios", out.ios.low, out.ios.high);
    optional_range<Nanos>(map, "workload_span", out.workload_span,
                          [&](Nanos& low, Nanos& high) { return map.duration_range("workload_span", low, high); });
    if (out.workload_span && out.workload_span->low == 0) map.error("workload_span", "must be positive");
    map.percent_range("read_percent", out.read_percent.low, out.read_percent.high);
    map.percent_range("flush_percent", out.flush_percent.low, out.flush_percent.high);
    map.percent_range("fua_percent", out.fua_percent.low, out.fua_percent.high);
    parse_list<std::uint32_t>(map, "block_sizes", "a block size (multiple of 512)", out.block_sizes,
                              [](const std::string& text) -> std::optional<std::uint32_t> {
                                  const auto value = parse_size(text);
                                  if (!value || *value == 0 || *value % 512 != 0 || *value > (1u << 24)) {
                                      return std::nullopt;
                                  }
                                  return static_cast<std::uint32_t>(*value);
                              });
    if (out.window == 0) map.error("window", "must be positive");
    if (out.ios.low == 0) map.error("ios", "must be at least 1");
}

}  // namespace ibnbd::scenario::detail
