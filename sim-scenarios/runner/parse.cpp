// Top level of the scenario parser: the file, settings, workloads, expectations, hidden settings.
#include "sim-scenarios/runner/parse.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <fmt/core.h>

#include "sim-scenarios/runner/parse_parts.hpp"

namespace ibnbd::scenario {

namespace detail {

bool parse_policy(MapReader& map, std::string_view key, ibtrs::MpPolicy& out) {
    return map.custom(key, "a policy (round-robin, min-inflight, min-latency)",
                      [&](const std::string& text) { return ibtrs::parse_mp_policy(text, out); });
}

void parse_settings(const YAML::Node& node, ParseErrors& errors, Settings& out) {
    if (!node.IsDefined()) return;
    MapReader map(node, "settings", errors);
    std::uint32_t depth = out.queue_depth;
    map.u32("queue_depth", depth, 1, 65535);
    out.queue_depth = static_cast<std::uint16_t>(depth);
    std::uint64_t chunk = out.chunk_size;
    if (map.size("chunk_size", chunk)) {
        if (chunk < 8192 || chunk > (1u << 27) || (chunk & (chunk - 1)) != 0) {
            map.error("chunk_size", "must be a power of two from 8KiB to 128MiB");
        } else {
            out.chunk_size = static_cast<std::uint32_t>(chunk);
        }
    }
    parse_policy(map, "policy", out.policy);
    map.u32("io_connections", out.io_connections, 1, 64);
    map.u32("io_shards", out.io_shards, 1, 8);
    map.u32("server_reactors", out.server_reactors, 1, 8);
    map.boolean("always_invalidate", out.always_invalidate);
    if (const YAML::Node heartbeat = map.child("heartbeat"); heartbeat.IsDefined()) {
        MapReader hb(heartbeat, map.key_path("heartbeat"), errors);
        hb.duration("interval", out.heartbeat_interval);
        hb.u32("missed_max", out.heartbeat_missed_max, 1, 1000);
    }
    if (const YAML::Node heartbeat = map.child("server_heartbeat"); heartbeat.IsDefined()) {
        MapReader hb(heartbeat, map.key_path("server_heartbeat"), errors);
        hb.duration("interval", out.server_heartbeat_interval);
        hb.u32("missed_max", out.server_heartbeat_missed_max, 1, 1000);
    }
    if (const YAML::Node reconnect = map.child("reconnect"); reconnect.IsDefined()) {
        MapReader rc(reconnect, map.key_path("reconnect"), errors);
        rc.duration("delay", out.reconnect_delay);
        rc.duration("max_delay", out.reconnect_max_delay);
        rc.duration("jitter", out.reconnect_jitter);
        rc.i32("max_attempts", out.max_reconnect_attempts, -1, 1'000'000);
    }
    map.duration("connect_timeout", out.connect_timeout);
    map.duration("wait_while_reconnecting", out.wait_while_reconnecting);
    map.duration("copy_lifetime", out.copy_lifetime);
    if (const YAML::Node network = map.child("network"); network.IsDefined()) {
        MapReader net(network, map.key_path("network"), errors);
        net.duration("transport_timeout", out.transport_timeout);
        net.duration("retransmit_interval", out.retransmit_interval);
        net.duration("cm_timeout", out.cm_timeout);
        net.duration("teardown_delay", out.teardown_delay);
        net.custom("imm_mode", "verbs or tcp", [&](const std::string& text) {
            if (text == "verbs") out.imm_mode = fabric::sim::ImmMode::verbs;
            else if (text == "tcp") out.imm_mode = fabric::sim::ImmMode::tcp;
            else return false;
            return true;
        });
    }
}

void parse_block_sizes(MapReader& map, std::string_view key, std::vector<SizeWeight>& out) {
    const YAML::Node node = map.child(key);
    if (!node.IsDefined()) return;
    std::vector<SizeWeight> sizes;
    const auto add = [&](const YAML::Node& item, std::uint32_t weight) {
        const auto bytes = item.IsScalar() ? parse_size(item.Scalar()) : std::nullopt;
        if (!bytes || *bytes == 0 || *bytes % 512 != 0 || *bytes > (1u << 30)) {
            map.error(key, fmt::format("'{}' is not a block size (a multiple of 512 bytes, e.g. 4KiB)",
                                       item.IsScalar() ? item.Scalar() : std::string("?")));
            return;
        }
        sizes.push_back({static_cast<std::uint32_t>(*bytes), weight});
    };
    if (node.IsScalar()) {
        add(node, 1);
    } else if (node.IsSequence()) {
        for (const auto& item : node) add(item, 1);
    } else if (node.IsMap()) {
        for (const auto& item : node) {
            std::uint32_t weight = 0;
            const bool good = item.second.IsScalar() && parse_percent(item.second.Scalar()) &&
                              (weight = static_cast<std::uint32_t>(*parse_percent(item.second.Scalar()) * 100)) > 0;
            if (!good) {
                map.error(key, "weights must be positive numbers up to 100 ({4KiB: 3, 64KiB: 1})");
                continue;
            }
            add(item.first, weight);
        }
    }
    if (sizes.empty()) {
        map.error(key, "expected a size, a list of sizes or a mapping of sizes to weights");
        return;
    }
    out = std::move(sizes);
}

void parse_workloads(const YAML::Node& node, ParseErrors& errors, std::vector<WorkloadSpec>& out) {
    for_each_item(node, "workload", errors, [&](const YAML::Node& item, const std::string& path) {
        MapReader map(item, path, errors);
        WorkloadSpec spec;
        map.string("client", spec.client);
        map.string("device", spec.device);
        map.percent("read_percent", spec.read_percent);
        parse_block_sizes(map, "block_sizes", spec.block_sizes);
        map.u32("queue_depth", spec.queue_depth, 1, 4096);
        map.u64("ios", spec.ios, 1, 1'000'000'000'000ull);
        map.duration("duration", spec.duration);
        map.u64("rate", spec.rate, 0, 1'000'000'000);
        map.percent("flush_percent", spec.flush_percent);
        map.percent("fua_percent", spec.fua_percent);
        map.size("region", spec.region);
        map.duration("start", spec.start);
        if ((spec.ios == 0) == (spec.duration == 0)) {
            map.error(map.has("ios") ? "ios" : "duration", "set exactly one of ios and duration");
        }
        out.push_back(std::move(spec));
    });
}

void parse_expectations(const YAML::Node& node, ParseErrors& errors, Expectations& out) {
    if (!node.IsDefined()) return;
    MapReader map(node, "expect", errors);
    map.custom("max_io_errors", "a count or 'any'", [&](const std::string& text) {
        if (text == "any") {
            out.max_io_errors.reset();
            return true;
        }
        std::uint64_t value = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || ptr != text.data() + text.size()) return false;
        out.max_io_errors = value;
        return true;
    });
    map.duration("max_io_stall", out.max_io_stall);
    map.u64("min_failovers", out.min_failovers);
    map.u64("min_reconnects", out.min_reconnects);
    map.u64("min_remaps", out.min_remaps);
    map.u64("min_stale_keys_refused", out.min_stale_keys_refused);
    map.duration("liveness_deadline", out.liveness_deadline);
    map.boolean("no_errors_with_healthy_path", out.no_errors_with_healthy_path);
    map.boolean("no_errors_with_usable_path", out.no_errors_with_usable_path);
    map.duration("usable_path_margin", out.usable_path_margin);
}

}  // namespace detail

namespace {

void parse_root(const YAML::Node& root, ParseErrors& errors, Scenario& scenario) {
    MapReader map(root, "", errors);
    map.string("name", scenario.name);
    map.string("description", scenario.description);
    detail::parse_topology(map.child("topology"), errors, scenario.topology);
    detail::parse_settings(map.child("settings"), errors, scenario.settings);
    detail::parse_workloads(map.child("workload"), errors, scenario.workloads);
    detail::parse_faults(map.child("faults"), errors, scenario.faults);
    detail::parse_expectations(map.child("expect"), errors, scenario.expect);
    if (const YAML::Node hidden = map.child("hidden"); hidden.IsDefined()) {
        MapReader secret(hidden, "hidden", errors);
        secret.boolean("unsafe_failover_without_drain", scenario.settings.unsafe_failover_without_drain);
    }
    if (const YAML::Node swarm = map.child("swarm"); swarm.IsDefined()) {
        scenario.swarm.emplace();
        detail::parse_swarm(swarm, errors, *scenario.swarm);
    }
}

}  // namespace

ParseResult parse_scenario_text(const std::string& text, const std::string& file) {
    ParseErrors errors(file);
    Scenario scenario;
    scenario.file = file;
    scenario.name = std::filesystem::path(file).stem().string();
    try {
        const YAML::Node root = YAML::Load(text);
        check_duplicate_keys(root, "", errors);
        if (errors.empty()) parse_root(root, errors, scenario);
    } catch (const YAML::Exception& e) {
        errors.add(e.mark.line >= 0 ? e.mark.line + 1 : 0, "(syntax)", e.msg);
    }
    if (!errors.empty()) return unexpected(errors.messages());
    auto problems = validate(scenario);
    if (!problems.empty()) return unexpected(std::move(problems));
    return scenario;
}

ParseResult parse_scenario_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        return unexpected(std::vector<std::string>{fmt::format("{}: no such scenario file", path)});
    }
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return unexpected(std::vector<std::string>{fmt::format("{}: cannot read the file", path)});
    return parse_scenario_text(text, path);
}

}  // namespace ibnbd::scenario
