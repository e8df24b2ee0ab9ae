// swarm: the bounds within which swarm mode draws a scenario per seed (swarm.hpp).
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
    map.u32_range("server_reactors", out.server_reactors.low, out.server_reactors.high, 1, 8);
    parse_list<Nanos>(map, "queue_while_reconnecting", "a duration", out.queue_while_reconnecting, parse_duration);
    parse_list<FaultType>(map, "fault_types", "a fault type", out.fault_types, parse_fault_type);
    map.u32_range("faults", out.faults.low, out.faults.high, 0, 64);
    map.duration("window", out.window);
    map.duration_range("fault_duration", out.fault_duration.low, out.fault_duration.high);
    map.u32_range("workload_queue_depth", out.workload_queue_depth.low, out.workload_queue_depth.high, 1, 1024);
    map.u64_range("ios", out.ios.low, out.ios.high);
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
