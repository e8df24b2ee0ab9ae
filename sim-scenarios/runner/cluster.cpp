#include "sim-scenarios/runner/cluster.hpp"

#include <fmt/core.h>

#include "core/ibtrs/client_path.hpp"

namespace ibnbd::scenario {

namespace {

std::string server_address(std::uint32_t server, std::uint32_t slot) {
    return fmt::format("172.16.{}.{}", server, slot + 1);
}

std::string client_address(std::uint32_t client, std::uint32_t path) {
    return fmt::format("10.{}.{}.{}", client / 250 + 1, client % 250, path + 1);
}

fabric::sim::WorldConfig world_config(const Settings& settings) {
    fabric::sim::WorldConfig config;
    config.imm_mode = settings.imm_mode;
    config.transport_timeout = settings.transport_timeout;
    config.retransmit_interval = settings.retransmit_interval;
    config.cm_timeout = settings.cm_timeout;
    return config;
}

bool has_rogue(const Scenario& scenario) {
    for (const auto& fault : scenario.faults) {
        if (fault.type == FaultType::rogue_client) return true;
    }
    return false;
}

}  // namespace

// ---- Session: BlockClient events to observers ----------------------------------------------

std::uint32_t Cluster::Session::path_of(std::string_view transport_name) const {
    for (std::uint32_t p : paths) {
        if (cluster_.paths_[p].transport_name == transport_name) return p;
    }
    return RunObserver::kNoPath;
}

std::uint32_t Cluster::Session::device_of(const block::BlockDevice& device) const {
    for (std::uint32_t d : devices) {
        if (cluster_.devices_[d].device == &device) return d;
    }
    return UINT32_MAX;
}

void Cluster::Session::on_mapped(block::BlockDevice& device, int status) {
    const std::uint32_t index = device_of(device);
    if (index != UINT32_MAX) cluster_.devices_[index].map_status = status;
}

void Cluster::Session::on_device_state(block::BlockDevice& device, block::DeviceState from, block::DeviceState to) {
    const std::uint32_t index = device_of(device);
    if (index != UINT32_MAX) cluster_.observer_.device_state(cluster_.world_.now(), index, from, to);
}

void Cluster::Session::on_path_state(std::string_view path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                                     std::string_view reason) {
    cluster_.observer_.path_state(cluster_.world_.now(), path_of(path), from, to, reason);
}

void Cluster::Session::on_failover(std::string_view from, std::string_view to, std::uint32_t ios) {
    cluster_.observer_.failover(cluster_.world_.now(), path_of(from), path_of(to), ios);
}

void Cluster::Session::on_reconnect_attempt(std::string_view path, std::uint32_t attempt, bool ok) {
    cluster_.observer_.reconnect_attempt(cluster_.world_.now(), path_of(path), attempt, ok);
}

// ---- building --------------------------------------------------------------------------------

Cluster::Cluster(const Scenario& scenario, std::uint64_t seed, RunObserver& observer)
    : scenario_(scenario), observer_(observer), world_(seed, world_config(scenario.settings)) {
    build_servers();
    build_clients();
    if (has_rogue(scenario_)) {
        std::vector<std::string> addresses;
        for (std::uint32_t j = 0; j < servers_.size(); ++j) addresses.push_back(rogue_address(j));
        rogue_ = &world_.add_node("rogue", addresses);
        for (std::uint32_t j = 0; j < servers_.size(); ++j) {
            world_.add_link(rogue_address(j), server_address(j, 0), fabric::sim::LinkConfig{5'000, 1'000, 0});
        }
    }
}

Cluster::~Cluster() {
    // Clients first (their sessions refer to nodes and fabrics), then servers; the world goes last.
    sessions_.clear();
    for (auto& shards : client_shards_) {
        for (auto& mailbox : shards->mailboxes) mailbox->run_all();  // the remote shards' teardown
    }
    client_shards_.clear();
    client_fabrics_.clear();
    for (auto& server : servers_) server.group.reset();
}

std::string Cluster::rogue_address(std::uint32_t server) const { return fmt::format("192.168.{}.1", server); }

void Cluster::build_servers() {
    const Topology& topology = scenario_.topology;
    // Path slots per server: the most paths any session to it has.
    std::vector<std::uint32_t> slots(topology.servers.size(), 1);
    for (const auto& client : topology.clients) {
        for (const auto& session : client.sessions) {
            for (std::uint32_t j = 0; j < topology.servers.size(); ++j) {
                if (topology.servers[j].name == session.server) {
                    slots[j] = std::max<std::uint32_t>(slots[j], static_cast<std::uint32_t>(session.paths.size()));
                }
            }
        }
    }
    servers_.resize(topology.servers.size());
    for (std::uint32_t j = 0; j < topology.servers.size(); ++j) {
        Server& server = servers_[j];
        server.spec = &topology.servers[j];
        for (std::uint32_t p = 0; p < slots[j]; ++p) server.addresses.push_back(server_address(j, p));
        server.node = &world_.add_node(server.spec->name, server.addresses);
        server.catalog = std::make_unique<storage::memory::MemoryCatalog>();
        for (const auto& device : server.spec->devices) {
            storage::memory::StoreOptions options;
            options.latency = device.latency;
            options.jitter = device.jitter;
            server.stores.push_back(&server.catalog->add_store("/srv/" + device.name, device.size, options));
        }
        layout_.servers.push_back(server.spec->name);
    }
}

void Cluster::build_clients() {
    const Topology& topology = scenario_.topology;
    for (std::uint32_t c = 0; c < topology.clients.size(); ++c) {
        const ClientSpec& client = topology.clients[c];
        std::vector<std::string> addresses;
        std::uint32_t total = 0;
        for (const auto& session : client.sessions) total += static_cast<std::uint32_t>(session.paths.size());
        for (std::uint32_t k = 0; k < total; ++k) addresses.push_back(client_address(c, k));
        client_nodes_.push_back(&world_.add_node(client.name, addresses));
        client_fabrics_.push_back(std::make_unique<LaggingFabric>(*client_nodes_.back(), scenario_.settings.teardown_delay));
        auto shards = std::make_unique<ClientShards>();
        for (std::uint32_t s = 0; s < scenario_.settings.io_shards && scenario_.settings.io_shards > 1; ++s) {
            shards->mailboxes.push_back(std::make_unique<SimMailbox>(*client_fabrics_.back()));
            if (s > 0) shards->views.push_back(std::make_unique<ShardFabric>(*client_fabrics_.back(), shards->registry));
        }
        client_shards_.push_back(std::move(shards));
        layout_.clients.push_back(client.name);
        std::uint32_t next_path = 0;
        for (const auto& session : client.sessions) add_session(c, client, session, next_path);
    }
}

std::uint32_t Cluster::add_session(std::uint32_t client, const ClientSpec& spec, const SessionSpec& session,
                                   std::uint32_t& next_path) {
    const std::uint32_t server = *server_index(session.server);
    const auto index = static_cast<std::uint32_t>(sessions_.size());
    auto runtime = std::make_unique<Session>(*this, client, server, fmt::format("{}-{}", spec.name, session.label));
    for (std::uint32_t p = 0; p < session.paths.size(); ++p) {
        const LinkSpec& link = session.paths[p];
        Path path{client_address(client, next_path++), server_address(server, p), index, p, {}};
        world_.add_link(path.client_address, path.server_address,
                        fabric::sim::LinkConfig{link.latency, link.jitter, link.bandwidth});
        runtime->paths.push_back(static_cast<std::uint32_t>(paths_.size()));
        layout_.paths.push_back({fmt::format("{}/{}/{}", spec.name, session.label, p), spec.name, runtime->name,
                                 fmt::format("{}@{}", path.client_address, path.server_address), server});
        paths_.push_back(std::move(path));
    }
    for (const auto& name : session.devices) {
        const auto& devices = servers_[server].spec->devices;
        const auto store = static_cast<std::uint32_t>(
            std::find_if(devices.begin(), devices.end(), [&](const DeviceSpec& d) { return d.name == name; }) -
            devices.begin());
        runtime->devices.push_back(static_cast<std::uint32_t>(devices_.size()));
        devices_.push_back({index, server, store, name, nullptr, 1});
        layout_.devices.push_back({fmt::format("{}:{}/{}", spec.name, session.server, name), spec.name, server});
    }
    sessions_.push_back(std::move(runtime));
    return index;
}

std::optional<std::uint32_t> Cluster::server_index(std::string_view name) const {
    for (std::uint32_t j = 0; j < servers_.size(); ++j) {
        if (servers_[j].spec->name == name) return j;
    }
    return std::nullopt;
}

// ---- running ---------------------------------------------------------------------------------

void Cluster::start_server(Server& server) {
    const Settings& settings = scenario_.settings;
    ServerGroupConfig config;
    config.reactors = settings.server_reactors;
    config.transport.queue_depth = settings.queue_depth;
    config.transport.chunk_size = settings.chunk_size;
    config.transport.always_invalidate = settings.always_invalidate;
    config.transport.heartbeat = {
        settings.server_heartbeat_interval ? settings.server_heartbeat_interval : settings.heartbeat_interval,
        settings.server_heartbeat_missed_max ? settings.server_heartbeat_missed_max : settings.heartbeat_missed_max};
    server.group = std::make_unique<ServerGroup>(*server.node, *server.catalog, config);  // validate() checked it
    for (const auto& address : server.addresses) {
        const auto listening = server.group->listen({address, kPort});
        assert(listening.has_value());
        (void)listening;
    }
    server.up = true;
}

Expected<void, std::string> Cluster::start(Nanos timeout) {
    observer_.start(layout_);
    for (std::uint32_t j = 0; j < servers_.size(); ++j) {
        start_server(servers_[j]);
        observer_.server_state(world_.now(), j, true);
    }
    const Settings& settings = scenario_.settings;
    for (auto& session : sessions_) {
        block::BlockClientConfig config;
        config.transport.session_name = session->name;
        config.transport.port = kPort;
        config.transport.io_connections = settings.io_connections;
        config.transport.policy = settings.policy;
        config.transport.heartbeat = {settings.heartbeat_interval, settings.heartbeat_missed_max};
        config.transport.reconnect_delay = settings.reconnect_delay;
        config.transport.reconnect_max_delay = settings.reconnect_max_delay;
        config.transport.reconnect_jitter = settings.reconnect_jitter;
        config.transport.max_reconnect_attempts = settings.max_reconnect_attempts;
        config.transport.connect_timeout = settings.connect_timeout;
        config.transport.copy_lifetime = settings.copy_lifetime;
        config.wait_while_reconnecting = settings.wait_while_reconnecting;
        std::vector<ibtrs::PathSpec> specs;
        for (std::uint32_t p : session->paths) {
            specs.push_back({{paths_[p].client_address, 0}, {paths_[p].server_address, kPort}});
        }
        auto created = block::BlockClient::create(*client_fabrics_[session->client], config, specs, *session,
                                                  shard_layout(session->client));
        if (!created) return unexpected(fmt::format("session {}: cannot create it ({})", session->name, created.error()));
        session->block = std::move(created.value());
        session->block->transport().test_hooks().failover_without_drain = settings.unsafe_failover_without_drain;
        for (std::size_t i = 0; i < session->paths.size(); ++i) {
            paths_[session->paths[i]].transport_name = session->block->transport().path(static_cast<std::uint32_t>(i))->name();
        }
        for (std::uint32_t d : session->devices) {
            auto mapped = session->block->map(devices_[d].name, wire::AccessMode::rw);
            if (!mapped) return unexpected(fmt::format("device {}: map refused ({})", layout_.devices[d].name, mapped.error()));
            devices_[d].device = mapped.value();
        }
    }
    const bool settled = world_.run_until([&] {
        return std::all_of(devices_.begin(), devices_.end(), [](const Device& d) { return d.map_status != 1; });
    }, world_.now() + timeout);
    for (std::uint32_t d = 0; d < devices_.size(); ++d) {
        if (devices_[d].map_status == 1 || !settled) {
            return unexpected(fmt::format("device {} was not mapped within {}", layout_.devices[d].name, format_duration(timeout)));
        }
        if (devices_[d].map_status != 0) {
            return unexpected(fmt::format("device {}: map failed with {}", layout_.devices[d].name, devices_[d].map_status));
        }
    }
    // Let every session's remaining paths finish their handshake, and the devices' copies on
    // further IO shards learn that they are mapped (a task after the device itself).
    world_.run_until([&] {
        for (const auto& session : sessions_) {
            if (session->block->transport().connected_paths() != session->paths.size()) return false;
        }
        for (const Device& device : devices_) {
            for (std::size_t shard = 1; shard < device.device->shard_count(); ++shard) {
                if (device.device->shard_copy(shard)->state() != block::DeviceState::mapped) return false;
            }
        }
        return true;
    }, world_.now() + timeout);
    return {};
}

std::size_t Cluster::session_count() const { return sessions_.size(); }
const Cluster::Session& Cluster::session(std::uint32_t index) const { return *sessions_[index]; }
block::BlockClient& Cluster::block_client(std::uint32_t session) { return *sessions_[session]->block; }
ibtrs::ShardLayout Cluster::shard_layout(std::uint32_t client) {
    ibtrs::ShardLayout layout;
    ClientShards& shards = *client_shards_[client];
    if (shards.views.empty()) return layout;
    layout.home = shards.mailboxes[0].get();
    for (std::size_t s = 0; s < shards.views.size(); ++s) {
        layout.remote.push_back({shards.views[s].get(), shards.mailboxes[s + 1].get()});
    }
    return layout;
}

fabric::Fabric& Cluster::client_fabric(std::uint32_t session) { return *client_fabrics_[sessions_[session]->client]; }

void Cluster::crash_server(std::uint32_t index, std::uint64_t seed) {
    Server& server = servers_[index];
    if (!server.up) return;
    server.node->crash();
    server.group.reset();
    server.catalog->crash_all(seed);
    server.up = false;
    ++server.crashes;
    observer_.server_state(world_.now(), index, false);
}

void Cluster::restart_server(std::uint32_t index) {
    Server& server = servers_[index];
    if (server.up) return;
    server.node->restart();
    start_server(server);
    observer_.server_state(world_.now(), index, true);
}

std::vector<std::string> Cluster::leaks() const {
    std::vector<std::string> found;
    for (const auto& session : sessions_) {
        if (!session->block) continue;
        const auto permits = session->block->transport().permits_in_use();
        if (permits != 0) found.push_back(fmt::format("session {}: {} permits still in use", session->name, permits));
    }
    for (std::uint32_t d = 0; d < devices_.size(); ++d) {
        const block::BlockDevice* device = devices_[d].device;
        if (device && device->inflight_all() != 0) {
            found.push_back(fmt::format("device {}: {} IOs still in flight", layout_.devices[d].name, device->inflight_all()));
        }
    }
    for (const auto& server : servers_) {
        if (!server.up) continue;
        for (std::size_t r = 0; r < server.group->size(); ++r) {
            const ServerGroup::Reactor& reactor = server.group->reactor(r);
            for (const ibtrs::ServerSession* session : reactor.server->sessions()) {
                if (session->busy_chunks() != 0) {
                    found.push_back(fmt::format("server {} session {}: {} chunks still busy", server.spec->name,
                                                session->name(), session->busy_chunks()));
                }
            }
            for (const auto& device : reactor.blocks->devices()) {
                if (device.inflight != 0) {
                    found.push_back(fmt::format("server {} device {}: {} storage IOs in flight", server.spec->name,
                                                device.name, device.inflight));
                }
            }
        }
        if (const std::size_t foreign = server.group->foreign_entries(); foreign != 0) {
            found.push_back(fmt::format("server {}: {} work entries posted with another reactor's memory",
                                        server.spec->name, foreign));
        }
    }
    return found;
}

}  // namespace ibnbd::scenario
