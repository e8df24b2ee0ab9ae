// Cross-reference and range checks of a scenario (after parsing, or built by swarm mode).
#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "core/wire/rtrs.hpp"
#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/path_selector.hpp"

namespace ibnbd::scenario {

namespace {

class Checker {
public:
    explicit Checker(const Scenario& scenario) : s_(scenario) {}

    std::vector<std::string> run() {
        servers();
        clients();
        workloads();
        faults();
        settings();
        return std::move(messages_);
    }

private:
    void error(int line, std::string_view key, std::string_view message) {
        messages_.push_back(line > 0 ? fmt::format("{}:{}: {}: {}", s_.file, line, key, message)
                                     : fmt::format("{}: {}: {}", s_.file, key, message));
    }

    const ServerSpec* server(std::string_view name) const {
        for (const auto& server : s_.topology.servers) {
            if (server.name == name) return &server;
        }
        return nullptr;
    }

    void servers() {
        const auto& topology = s_.topology;
        if (topology.servers.empty() && !s_.swarm) error(0, "topology.servers", "at least one server is needed");
        if (topology.servers.size() > 250) error(0, "topology.servers", "at most 250 servers");
        std::set<std::string> names;
        for (const auto& server : topology.servers) {
            if (!names.insert(server.name).second) error(server.line, "topology.servers", fmt::format("duplicate server '{}'", server.name));
            std::set<std::string> devices;
            for (const auto& device : server.devices) {
                if (!devices.insert(device.name).second || device.name.find('/') != std::string::npos) {
                    error(device.line, "topology.servers.devices", fmt::format("device name '{}' is repeated or has a '/'", device.name));
                }
            }
        }
    }

    void clients() {
        const auto& topology = s_.topology;
        if (topology.clients.empty() && !s_.swarm) error(0, "topology.clients", "at least one client is needed");
        if (topology.clients.size() > 60000) error(0, "topology.clients", "at most 60000 clients");
        std::set<std::string> names;
        std::set<std::pair<std::string, std::string>> mapped;
        for (const auto& client : topology.clients) {
            if (!names.insert(client.name).second) error(client.line, "topology.clients", fmt::format("duplicate client '{}'", client.name));
            if (client.name.find('/') != std::string::npos || client.name.find('.') != std::string::npos) {
                error(client.line, "topology.clients.name", "client names may not contain '/' or '.'");
            }
            std::set<std::string> labels;
            std::size_t paths = 0;
            for (const auto& session : client.sessions) {
                paths += session.paths.size();
                if (!labels.insert(session.label).second) error(session.line, "sessions.label", fmt::format("client '{}' has two sessions labelled '{}'", client.name, session.label));
                const ServerSpec* target = server(session.server);
                if (!target) {
                    error(session.line, "sessions.server", fmt::format("no server '{}'", session.server));
                    continue;
                }
                if (session.paths.empty() || session.paths.size() > 128) error(session.line, "sessions.paths", "1 to 128 paths");
                for (const auto& device : session.devices) {
                    const bool exists = std::any_of(target->devices.begin(), target->devices.end(),
                                                    [&](const DeviceSpec& d) { return d.name == device; });
                    if (!exists) error(session.line, "sessions.devices", fmt::format("server '{}' has no device '{}'", session.server, device));
                    if (!mapped.insert({session.server, device}).second) {
                        error(session.line, "sessions.devices", fmt::format("device '{}/{}' is mapped by two sessions (read-write access is exclusive)", session.server, device));
                    }
                }
            }
            if (paths > 250) error(client.line, "topology.clients", fmt::format("client '{}' has more than 250 paths", client.name));
        }
    }

    const DeviceSpec* device_of(const SessionSpec& session, std::string_view name) const {
        const ServerSpec* target = server(session.server);
        if (!target) return nullptr;
        for (const auto& device : target->devices) {
            if (device.name == name) return &device;
        }
        return nullptr;
    }

    void workloads() {
        std::set<std::pair<std::string, std::string>> taken;
        for (const auto& workload : s_.workloads) {
            std::size_t matched = 0;
            for (const auto& client : s_.topology.clients) {
                for (const auto& session : client.sessions) {
                    for (const auto& name : session.devices) {
                        if (!workload_matches(workload, client.name, session.server, name)) continue;
                        ++matched;
                        if (!taken.insert({client.name, session.server + "/" + name}).second) {
                            error(workload.line, "workload", fmt::format("two workloads drive {}:{}/{}", client.name, session.server, name));
                        }
                        check_region(workload, device_of(session, name));
                    }
                }
            }
            if (matched == 0) error(workload.line, "workload", fmt::format("client '{}' device '{}' matches no mapped device", workload.client, workload.device));
        }
    }

    void check_region(const WorkloadSpec& workload, const DeviceSpec* device) {
        if (!device) return;
        const std::uint64_t region = workload.region ? workload.region : std::min<std::uint64_t>(device->size, 16u << 20);
        if (region > device->size || region % 512 != 0) {
            error(workload.line, "workload.region", fmt::format("must be a multiple of 512 within the device ({})", format_size(device->size)));
        }
        for (const auto& size : workload.block_sizes) {
            if (size.bytes > region) error(workload.line, "workload.block_sizes", fmt::format("{} is larger than the region", format_size(size.bytes)));
        }
    }

    void faults() {
        for (const auto& fault : s_.faults) {
            const std::string key = fmt::format("faults ({})", to_string(fault.type));
            const bool instant = fault.type == FaultType::connection_error || fault.type == FaultType::cm_reject;
            if (instant && fault.duration != 0) error(fault.line, key, "this fault is instantaneous: no duration");
            if (!instant && fault.duration == 0) error(fault.line, key, "needs a duration (when the fault ends)");
            if (fault.type == FaultType::flap && fault.period > fault.duration) error(fault.line, key, "period longer than the duration");
            switch (fault.type) {
                case FaultType::link_down:
                case FaultType::clog:
                case FaultType::swizzle_clog:
                case FaultType::flap:
                case FaultType::connection_error:
                case FaultType::heartbeat_loss:
                    if (select_paths(s_.topology, fault.target).empty()) error(fault.line, key, fmt::format("path '{}' matches no path", fault.target));
                    break;
                case FaultType::crash:
                case FaultType::cm_reject:
                case FaultType::rogue_client:
                    if (!server(fault.target)) error(fault.line, key, fmt::format("no server '{}'", fault.target));
                    break;
                case FaultType::storage_error:
                case FaultType::storage_latency: {
                    const auto slash = fault.target.find('/');
                    const ServerSpec* target = slash == std::string::npos ? nullptr : server(fault.target.substr(0, slash));
                    const std::string name = slash == std::string::npos ? "" : fault.target.substr(slash + 1);
                    if (!target || std::none_of(target->devices.begin(), target->devices.end(), [&](const DeviceSpec& d) { return d.name == name; })) {
                        error(fault.line, key, fmt::format("device '{}' is not SERVER/DEVICE of the topology", fault.target));
                    }
                    break;
                }
                case FaultType::cm_delay: break;
            }
        }
    }

    void settings() {
        const Settings& settings = s_.settings;
        if (!wire::check_server_params(settings.queue_depth, settings.chunk_size)) {
            error(0, "settings", fmt::format("queue_depth {} with chunk_size {} does not fit the 28 bits of an RTRS immediate",
                                             settings.queue_depth, format_size(settings.chunk_size)));
        }
        if (settings.heartbeat_interval == 0) error(0, "settings.heartbeat.interval", "must be positive");
        if (settings.transport_timeout == 0 || settings.retransmit_interval == 0 || settings.cm_timeout == 0) {
            error(0, "settings.network", "timeouts and the retransmit interval must be positive");
        }
        if (s_.expect.liveness_deadline == 0) error(0, "expect.liveness_deadline", "must be positive");
    }

    const Scenario& s_;
    std::vector<std::string> messages_;
};

}  // namespace

std::vector<std::string> validate(const Scenario& scenario) { return Checker(scenario).run(); }

}  // namespace ibnbd::scenario
