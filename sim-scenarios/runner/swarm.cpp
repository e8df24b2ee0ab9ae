#include "sim-scenarios/runner/swarm.hpp"

#include <algorithm>
#include <cassert>
#include <fmt/core.h>

#include "sim-scenarios/runner/path_selector.hpp"
#include "sim-scenarios/runner/seeds.hpp"
#include "sim-scenarios/runner/swarm_faults.hpp"

namespace ibnbd::scenario {

namespace {

class Drawer {
public:
    Drawer(const Scenario& base, std::uint64_t seed, std::vector<std::string>& draws)
        : base_(base), swarm_(*base.swarm), rng_(rng_for(seed, SeedPurpose::swarm)), draws_(draws) {}

    Scenario run() {
        Scenario s = base_;
        s.swarm.reset();
        s.topology = {};
        s.workloads.clear();
        s.faults.clear();
        settings(s.settings);
        servers(s.topology);
        clients(s.topology);
        workloads(s);
        faults(s);
        return s;
    }

private:
    template <class T>
    T in(const Range<T>& range) {
        return range.low + static_cast<T>(rng_.below(static_cast<std::uint64_t>(range.high - range.low) + 1));
    }
    double in(const Range<double>& range) {
        return range.low + (range.high - range.low) * static_cast<double>(rng_.below(10001)) / 10000.0;
    }
    template <class T>
    const T& pick(const std::vector<T>& items) {
        assert(!items.empty());
        return items[rng_.below(items.size())];
    }

    void settings(Settings& settings) {
        settings.policy = pick(swarm_.policies);
        settings.queue_depth = pick(swarm_.queue_depths);
        settings.wait_while_reconnecting = pick(swarm_.wait_while_reconnecting);
        settings.io_shards = in(swarm_.io_shards);
        settings.io_connections = in(swarm_.io_connections);
        settings.server_reactors = in(swarm_.server_reactors);
        heartbeats(settings);
        draws_.push_back(fmt::format("swarm settings: policy {}, queue_depth {}, wait_while_reconnecting {}, "
                                     "io_shards {}, io_connections {}, server_reactors {}",
                                     ibtrs::to_string(settings.policy), settings.queue_depth,
                                     format_duration(settings.wait_while_reconnecting), settings.io_shards,
                                     settings.io_connections, settings.server_reactors));
        draws_.push_back(fmt::format("swarm heartbeats: client {} x{}, server {} x{}",
                                     format_duration(settings.heartbeat_interval), settings.heartbeat_missed_max,
                                     format_duration(server_interval(settings)), server_missed_max(settings)));
    }

    // Client and server heartbeats independently, so that either side may notice much later.
    void heartbeats(Settings& settings) {
        if (!swarm_.heartbeat_intervals.empty()) settings.heartbeat_interval = pick(swarm_.heartbeat_intervals);
        if (swarm_.heartbeat_missed_max) settings.heartbeat_missed_max = in(*swarm_.heartbeat_missed_max);
        if (!swarm_.server_heartbeat_intervals.empty()) {
            settings.server_heartbeat_interval = pick(swarm_.server_heartbeat_intervals);
        }
        if (swarm_.server_heartbeat_missed_max) settings.server_heartbeat_missed_max = in(*swarm_.server_heartbeat_missed_max);
    }
    static Nanos server_interval(const Settings& s) {
        return s.server_heartbeat_interval ? s.server_heartbeat_interval : s.heartbeat_interval;
    }
    static std::uint32_t server_missed_max(const Settings& s) {
        return s.server_heartbeat_missed_max ? s.server_heartbeat_missed_max : s.heartbeat_missed_max;
    }

    void servers(Topology& topology) {
        const std::uint32_t count = in(swarm_.servers);
        std::string line = "swarm servers:";
        for (std::uint32_t j = 0; j < count; ++j) {
            ServerSpec server;
            server.name = fmt::format("s{}", j);
            const std::uint32_t devices = in(swarm_.devices);
            for (std::uint32_t k = 0; k < devices; ++k) {
                DeviceSpec device;
                device.name = fmt::format("vol{}", k);
                device.size = 16u << 20;
                device.latency = in(swarm_.storage_latency);
                device.jitter = device.latency / 4;
                server.devices.push_back(device);
            }
            line += fmt::format(" {} ({} devices, storage {}){}", server.name, devices,
                                format_duration(server.devices.front().latency), j + 1 < count ? "," : "");
            topology.servers.push_back(std::move(server));
        }
        draws_.push_back(line);
    }

    LinkSpec link() {
        LinkSpec spec;
        spec.latency = in(swarm_.latency);
        spec.jitter = in(swarm_.jitter);
        spec.bandwidth = pick(swarm_.bandwidths);
        return spec;
    }

    SessionSpec& session_to(ClientSpec& client, const std::string& server) {
        for (auto& session : client.sessions) {
            if (session.server == server) return session;
        }
        SessionSpec session;
        session.server = session.label = server;
        const std::uint32_t paths = in(swarm_.paths);
        for (std::uint32_t p = 0; p < paths; ++p) session.paths.push_back(link());
        client.sessions.push_back(std::move(session));
        return client.sessions.back();
    }

    void clients(Topology& topology) {
        const std::uint32_t count = in(swarm_.clients);
        for (std::uint32_t i = 0; i < count; ++i) topology.clients.push_back({fmt::format("c{}", i), {}, 0});
        // Every device is mapped by one client, drawn at random.
        for (const auto& server : topology.servers) {
            for (const auto& device : server.devices) {
                ClientSpec& client = topology.clients[rng_.below(count)];
                session_to(client, server.name).devices.push_back(device.name);
            }
        }
        for (auto& client : topology.clients) {
            if (client.sessions.empty()) session_to(client, pick(topology.servers).name);
        }
        for (const auto& client : topology.clients) {
            std::string line = fmt::format("swarm client {}:", client.name);
            for (const auto& session : client.sessions) {
                line += fmt::format(" -> {} [", session.server);
                for (std::size_t p = 0; p < session.paths.size(); ++p) {
                    const LinkSpec& l = session.paths[p];
                    line += fmt::format("{}{} +-{} {}", p ? ", " : "", format_duration(l.latency),
                                        format_duration(l.jitter), format_bandwidth(l.bandwidth));
                }
                line += fmt::format("] devices {}", session.devices.size());
            }
            draws_.push_back(line);
        }
    }

    void workloads(Scenario& s) {
        for (const auto& client : s.topology.clients) {
            for (const auto& session : client.sessions) {
                for (const auto& device : session.devices) {
                    WorkloadSpec w;
                    w.client = client.name;
                    w.device = session.server + "/" + device;
                    w.read_percent = in(swarm_.read_percent);
                    w.queue_depth = in(swarm_.workload_queue_depth);
                    w.ios = in(swarm_.ios);
                    if (swarm_.workload_span) w.rate = std::max<std::uint64_t>(1, w.ios * kSec / in(*swarm_.workload_span));
                    w.flush_percent = in(swarm_.flush_percent);
                    w.fua_percent = in(swarm_.fua_percent);
                    w.region = 4u << 20;
                    w.block_sizes.clear();
                    // Sizes that fit the chunk (its header takes a little of it).
                    std::vector<std::uint32_t> fitting;
                    for (std::uint32_t size : swarm_.block_sizes) {
                        if (size <= s.settings.chunk_size / 2) fitting.push_back(size);
                    }
                    if (fitting.empty()) fitting.push_back(4096);
                    // Up to three distinct sizes, weighted 1-4 (in the file's units: a weight of
                    // N there is N * 100 here).
                    const auto sizes = 1 + rng_.below(3);
                    for (std::uint64_t k = 0; k < sizes && !fitting.empty(); ++k) {
                        const auto chosen = rng_.below(fitting.size());
                        w.block_sizes.push_back({fitting[chosen], static_cast<std::uint32_t>(100 * (1 + rng_.below(4)))});
                        fitting.erase(fitting.begin() + static_cast<std::ptrdiff_t>(chosen));
                    }
                    draws_.push_back(fmt::format("swarm workload {}:{}/{}: {}", client.name, session.server, device, describe(w)));
                    s.workloads.push_back(std::move(w));
                }
            }
        }
    }

    void faults(Scenario& s) { s.faults = draw_swarm_faults(swarm_, s.topology, rng_, draws_); }

    const Scenario& base_;
    const SwarmSpec& swarm_;
    fabric::sim::Rng rng_;
    std::vector<std::string>& draws_;
};

}  // namespace

Scenario draw_swarm(const Scenario& base, std::uint64_t seed, std::vector<std::string>& draws) {
    return Drawer(base, seed, draws).run();
}

std::string describe(const FaultSpec& f) {
    std::string text = fmt::format("{} at {}", to_string(f.type), format_duration(f.at));
    if (f.duration) text += fmt::format(" for {}", format_duration(f.duration));
    if (!f.target.empty()) text += fmt::format(" on {}", f.target);
    switch (f.type) {
        case FaultType::link_down:
        case FaultType::heartbeat_loss:
        case FaultType::flap:
        case FaultType::clog:
            if (f.direction != fabric::sim::Direction::both) {
                text += f.direction == fabric::sim::Direction::a_to_b ? " (to_server)" : " (to_client)";
            }
            if (f.type == FaultType::flap) text += fmt::format(" period {}", format_duration(f.period));
            if (f.type == FaultType::clog) text += fmt::format(" delay {}", format_duration(f.delay));
            break;
        case FaultType::swizzle_clog:
        case FaultType::cm_delay: text += fmt::format(" delay {}", format_duration(f.delay)); break;
        case FaultType::storage_error:
            text += fmt::format(" errno {} {}", f.error, f.count ? fmt::format("x{}", f.count) : std::string("always"));
            break;
        case FaultType::storage_latency:
            text += fmt::format(" latency {} +-{}", format_duration(f.delay), format_duration(f.jitter));
            break;
        case FaultType::cm_reject: text += fmt::format(" x{}", f.count); break;
        case FaultType::rogue_client:
            text += fmt::format(" mode {} every {}", to_string(f.rogue), format_duration(f.period));
            break;
        case FaultType::crash:
        case FaultType::connection_error: break;
    }
    return text;
}

std::string describe(const WorkloadSpec& w) {
    std::string sizes;
    for (const auto& size : w.block_sizes) sizes += fmt::format("{}{}:{}", sizes.empty() ? "" : ",", format_size(size.bytes), size.weight / 100.0);
    return fmt::format("qd {} {}{} read {:.0f}% sizes {} flush {:.1f}% fua {:.1f}%", w.queue_depth,
                       w.ios ? fmt::format("ios {}", w.ios) : fmt::format("for {}", format_duration(w.duration)),
                       w.rate ? fmt::format(" at {}/s", w.rate) : "",
                       w.read_percent, sizes, w.flush_percent, w.fua_percent);
}

}  // namespace ibnbd::scenario
