#include "sim-scenarios/runner/scenario_writer.hpp"

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include "sim-scenarios/runner/fault_plan.hpp"

namespace ibnbd::scenario {

std::string exact_duration(Nanos nanos) {
    if (nanos == 0) return "0";
    constexpr std::pair<Nanos, const char*> kUnits[] = {{kSec, "s"}, {kMs, "ms"}, {kMicrosecond, "us"}};
    for (const auto& [scale, unit] : kUnits) {
        if (nanos % scale == 0) return fmt::format("{}{}", nanos / scale, unit);
    }
    return fmt::format("{}ns", nanos);
}

std::string exact_bandwidth(std::uint64_t bytes_per_second) {
    if (bytes_per_second == 0) return "inf";
    const std::uint64_t bits = bytes_per_second * 8;
    if (bits / 8 == bytes_per_second && bits % 1'000'000'000 == 0) return fmt::format("{}Gbit", bits / 1'000'000'000);
    if (bits / 8 == bytes_per_second && bits % 1'000'000 == 0) return fmt::format("{}Mbit", bits / 1'000'000);
    return fmt::format("{}B/s", bytes_per_second);
}

std::string exact_percent(double percent) {
    std::string text = fmt::format("{}", percent);
    if (text.find_first_of("eE") == std::string::npos) return text;
    // The parser reads no exponents: write every digit instead.
    text = fmt::format("{:.30f}", percent);
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    return text;
}

namespace {

// A block size weight as the parser reads it back (weight = percent * 100, truncated).
std::string exact_weight(std::uint32_t weight) {
    const std::string plain = exact_percent(weight / 100.0);
    if (static_cast<std::uint32_t>(std::stod(plain) * 100) == weight) return plain;
    return exact_percent((weight + 0.5) / 100.0);
}

std::string_view policy_name(ibtrs::MpPolicy policy) { return ibtrs::to_string(policy); }

class Writer {
public:
    explicit Writer(const Scenario& s) : s_(s) {}

    std::string run() {
        out_ << YAML::BeginMap;
        out_ << YAML::Key << "name" << YAML::Value << s_.name;
        if (!s_.description.empty()) {
            out_ << YAML::Key << "description" << YAML::Value << s_.description;
        }
        topology();
        settings();
        workloads();
        faults();
        expectations();
        if (s_.settings.unsafe_failover_without_drain) {
            out_ << YAML::Key << "hidden" << YAML::Value << YAML::Flow << YAML::BeginMap;
            out_ << YAML::Key << "unsafe_failover_without_drain" << YAML::Value << true << YAML::EndMap;
        }
        out_ << YAML::EndMap;
        return std::string(out_.c_str()) + "\n";
    }

private:
    template <class T>
    void pair(const char* key, const T& value) {
        out_ << YAML::Key << key << YAML::Value << value;
    }

    void link(const LinkSpec& link) {
        out_ << YAML::Flow << YAML::BeginMap;
        pair("latency", exact_duration(link.latency));
        pair("jitter", exact_duration(link.jitter));
        pair("bandwidth", exact_bandwidth(link.bandwidth));
        out_ << YAML::EndMap;
    }

    void topology() {
        out_ << YAML::Key << "topology" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "servers" << YAML::Value << YAML::BeginSeq;
        for (const ServerSpec& server : s_.topology.servers) {
            out_ << YAML::BeginMap;
            pair("name", server.name);
            out_ << YAML::Key << "devices" << YAML::Value;
            if (server.devices.empty()) out_ << YAML::Flow;
            out_ << YAML::BeginSeq;
            for (const DeviceSpec& device : server.devices) {
                out_ << YAML::Flow << YAML::BeginMap;
                pair("name", device.name);
                pair("size", format_size(device.size));
                pair("latency", exact_duration(device.latency));
                pair("jitter", exact_duration(device.jitter));
                out_ << YAML::EndMap;
            }
            out_ << YAML::EndSeq << YAML::EndMap;
        }
        out_ << YAML::EndSeq;
        out_ << YAML::Key << "clients" << YAML::Value << YAML::BeginSeq;
        for (const ClientSpec& client : s_.topology.clients) {
            out_ << YAML::BeginMap;
            pair("name", client.name);
            out_ << YAML::Key << "sessions" << YAML::Value << YAML::BeginSeq;
            for (const SessionSpec& session : client.sessions) sessions(session);
            out_ << YAML::EndSeq << YAML::EndMap;
        }
        out_ << YAML::EndSeq << YAML::EndMap;
    }

    void sessions(const SessionSpec& session) {
        out_ << YAML::BeginMap;
        pair("server", session.server);
        if (session.label != session.server) pair("label", session.label);
        out_ << YAML::Key << "paths" << YAML::Value << YAML::BeginSeq;
        for (const LinkSpec& path : session.paths) link(path);
        out_ << YAML::EndSeq;
        out_ << YAML::Key << "devices" << YAML::Value << YAML::Flow << session.devices;
        out_ << YAML::EndMap;
    }

    void settings() {
        const Settings& st = s_.settings;
        out_ << YAML::Key << "settings" << YAML::Value << YAML::BeginMap;
        pair("queue_depth", st.queue_depth);
        pair("chunk_size", format_size(st.chunk_size));
        pair("policy", std::string(policy_name(st.policy)));
        pair("io_connections", st.io_connections);
        pair("io_shards", st.io_shards);
        pair("server_reactors", st.server_reactors);
        pair("always_invalidate", st.always_invalidate);
        heartbeat("heartbeat", st.heartbeat_interval, st.heartbeat_missed_max);
        if (st.server_heartbeat_interval != 0 || st.server_heartbeat_missed_max != 0) {
            heartbeat("server_heartbeat", st.server_heartbeat_interval,
                      st.server_heartbeat_missed_max ? st.server_heartbeat_missed_max : st.heartbeat_missed_max);
        }
        out_ << YAML::Key << "reconnect" << YAML::Value << YAML::Flow << YAML::BeginMap;
        pair("delay", exact_duration(st.reconnect_delay));
        pair("max_delay", exact_duration(st.reconnect_max_delay));
        pair("jitter", exact_duration(st.reconnect_jitter));
        pair("max_attempts", st.max_reconnect_attempts);
        out_ << YAML::EndMap;
        pair("connect_timeout", exact_duration(st.connect_timeout));
        pair("wait_while_reconnecting", exact_duration(st.wait_while_reconnecting));
        pair("copy_lifetime", exact_duration(st.copy_lifetime));
        out_ << YAML::Key << "network" << YAML::Value << YAML::Flow << YAML::BeginMap;
        pair("transport_timeout", exact_duration(st.transport_timeout));
        pair("retransmit_interval", exact_duration(st.retransmit_interval));
        pair("cm_timeout", exact_duration(st.cm_timeout));
        pair("imm_mode", st.imm_mode == fabric::sim::ImmMode::verbs ? "verbs" : "tcp");
        pair("teardown_delay", exact_duration(st.teardown_delay));
        out_ << YAML::EndMap << YAML::EndMap;
    }

    void heartbeat(const char* key, Nanos interval, std::uint32_t missed_max) {
        out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
        pair("interval", exact_duration(interval));
        pair("missed_max", missed_max);
        out_ << YAML::EndMap;
    }

    void workloads() {
        if (s_.workloads.empty()) return;
        out_ << YAML::Key << "workload" << YAML::Value << YAML::BeginSeq;
        for (const WorkloadSpec& w : s_.workloads) {
            out_ << YAML::Flow << YAML::BeginMap;
            pair("client", w.client);
            pair("device", w.device);
            pair("read_percent", exact_percent(w.read_percent));
            block_sizes(w.block_sizes);
            pair("queue_depth", w.queue_depth);
            if (w.ios != 0) pair("ios", w.ios);
            else pair("duration", exact_duration(w.duration));
            if (w.rate != 0) pair("rate", w.rate);
            pair("flush_percent", exact_percent(w.flush_percent));
            pair("fua_percent", exact_percent(w.fua_percent));
            if (w.region != 0) pair("region", format_size(w.region));
            if (w.start != 0) pair("start", exact_duration(w.start));
            out_ << YAML::EndMap;
        }
        out_ << YAML::EndSeq;
    }

    void block_sizes(const std::vector<SizeWeight>& sizes) {
        out_ << YAML::Key << "block_sizes" << YAML::Value << YAML::Flow;
        const bool unweighted = std::all_of(sizes.begin(), sizes.end(), [](const SizeWeight& s) { return s.weight == 1; });
        if (unweighted) {
            out_ << YAML::BeginSeq;
            for (const SizeWeight& size : sizes) out_ << format_size(size.bytes);
            out_ << YAML::EndSeq;
            return;
        }
        out_ << YAML::BeginMap;
        for (const SizeWeight& size : sizes) pair(format_size(size.bytes).c_str(), exact_weight(size.weight));
        out_ << YAML::EndMap;
    }

    void faults() {
        if (s_.faults.empty()) return;
        out_ << YAML::Key << "faults" << YAML::Value << YAML::BeginSeq;
        for (const FaultSpec& fault : s_.faults) {
            out_ << YAML::Flow << YAML::BeginMap;
            pair("at", exact_duration(fault.at));
            pair("fault", std::string(to_string(fault.type)));
            if (fault.duration != 0) pair("duration", exact_duration(fault.duration));
            fault_keys(fault);
            out_ << YAML::EndMap;
        }
        out_ << YAML::EndSeq;
    }

    void direction(const FaultSpec& fault) {
        if (fault.direction != fabric::sim::Direction::both) pair("direction", std::string(direction_name(fault.direction)));
    }

    // The keys of each fault type, as parse_faults.cpp reads them.
    void fault_keys(const FaultSpec& f) {
        switch (f.type) {
            case FaultType::link_down:
            case FaultType::heartbeat_loss: pair("path", f.target); direction(f); return;
            case FaultType::connection_error: pair("path", f.target); return;
            case FaultType::clog:
            case FaultType::swizzle_clog:
                pair("path", f.target);
                pair("delay", exact_duration(f.delay));
                direction(f);
                return;
            case FaultType::flap:
                pair("path", f.target);
                pair("period", exact_duration(f.period));
                direction(f);
                return;
            case FaultType::crash: pair("server", f.target); return;
            case FaultType::cm_reject: pair("server", f.target); pair("count", f.count); return;
            case FaultType::storage_error:
                pair("device", f.target);
                pair("error", f.error);
                if (f.count != 0) pair("count", f.count);
                if (!f.op.empty()) pair("op", f.op);
                return;
            case FaultType::storage_latency:
                pair("device", f.target);
                pair("latency", exact_duration(f.delay));
                pair("jitter", exact_duration(f.jitter));
                return;
            case FaultType::cm_delay: pair("delay", exact_duration(f.delay)); return;
            case FaultType::rogue_client:
                pair("server", f.target);
                pair("period", exact_duration(f.period));
                pair("mode", std::string(to_string(f.rogue)));
                return;
        }
    }

    void expectations() {
        const Expectations& e = s_.expect;
        out_ << YAML::Key << "expect" << YAML::Value << YAML::BeginMap;
        if (e.max_io_errors) pair("max_io_errors", *e.max_io_errors);
        else pair("max_io_errors", "any");
        pair("max_io_stall", exact_duration(e.max_io_stall));
        pair("min_failovers", e.min_failovers);
        pair("min_reconnects", e.min_reconnects);
        pair("min_remaps", e.min_remaps);
        pair("min_stale_keys_refused", e.min_stale_keys_refused);
        pair("liveness_deadline", exact_duration(e.liveness_deadline));
        pair("no_errors_with_healthy_path", e.no_errors_with_healthy_path);
        pair("no_errors_with_usable_path", e.no_errors_with_usable_path);
        if (e.usable_path_margin != 0) pair("usable_path_margin", exact_duration(e.usable_path_margin));
        out_ << YAML::EndMap;
    }

    const Scenario& s_;
    YAML::Emitter out_;
};

}  // namespace

Scenario without_source(Scenario s) {
    s.file.clear();
    for (auto& server : s.topology.servers) {
        server.line = 0;
        for (auto& device : server.devices) device.line = 0;
    }
    for (auto& client : s.topology.clients) {
        client.line = 0;
        for (auto& session : client.sessions) session.line = 0;
    }
    for (auto& workload : s.workloads) workload.line = 0;
    for (auto& fault : s.faults) fault.line = 0;
    return s;
}

std::string write_scenario(const Scenario& scenario, const std::vector<std::string>& comments) {
    std::string text;
    for (const auto& comment : comments) text += comment.empty() ? "#\n" : "# " + comment + "\n";
    return text + Writer(scenario).run();
}

}  // namespace ibnbd::scenario
