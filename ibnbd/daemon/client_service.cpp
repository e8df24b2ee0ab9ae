#include "ibnbd/daemon/client_service.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "ibnbd/nbd/unix_listener.hpp"

namespace ibnbd::daemon {

namespace {

const char* mode_name(wire::AccessMode mode) {
    switch (mode) {
        case wire::AccessMode::ro: return "ro";
        case wire::AccessMode::rw: return "rw";
        case wire::AccessMode::migration: return "migration";
    }
    return "?";
}

bool parse_mode(const std::string& text, wire::AccessMode& mode) {
    if (text == "ro") mode = wire::AccessMode::ro;
    else if (text == "rw") mode = wire::AccessMode::rw;
    else if (text == "migration") mode = wire::AccessMode::migration;
    else return false;
    return true;
}

std::string errno_text(int error) { return std::strerror(-error); }

std::string bad_path(const std::string& text, const std::string& why) {
    return "bad path '" + excerpt(text) + "': " + why + "; use [SRC@]DST[:PORT] with IP addresses";
}

// NBD has no authentication: a TCP export is only offered on loopback addresses.
bool is_loopback_ipv4(const std::string& host) { return host.rfind("127.", 0) == 0; }

}  // namespace

struct ClientService::Device {
    std::string name;
    wire::AccessMode mode = wire::AccessMode::rw;
    block::BlockDevice* device = nullptr;
    std::string nbd_socket;
    std::string nbd_tcp;  // "HOST:PORT" asked for at map (loopback only); empty: none
    std::unique_ptr<BlockDeviceTarget> target;
    std::unique_ptr<nbd::NbdServer> nbd;
    std::unique_ptr<nbd::NbdServer> nbd_tcp_server;
    struct Remote {
        ShardExport* host = nullptr;  // owned; destroyed on its reactor
        runtime::Reactor* reactor = nullptr;
    };
    std::vector<Remote> remote;  // by shard - 1
    std::size_t next_reactor = 0;  // round-robin of accepted NBD connections
    Responder pending_map;

    // Remote connections count once they chose the export (they are the copies' users).
    std::size_t nbd_connections() const {
        std::size_t remote_users = 0;
        for (std::size_t shard = 1; device && shard <= remote.size(); ++shard) {
            remote_users += device->shard_copy(shard)->users();
        }
        return (nbd ? nbd->connections() : 0) + (nbd_tcp_server ? nbd_tcp_server->connections() : 0) + remote_users;
    }
};

struct ClientService::Session : block::BlockClientHandler, ibtrs::ClientEventListener {
    Session(ClientService& owner, std::string session_name) : service(owner), name(std::move(session_name)) {}
    void on_mapped(block::BlockDevice& device, int status) override { service.on_mapped(*this, device, status); }
    ibtrs::ClientEventListener* transport_listener() override { return this; }
    void on_path_state(std::string_view path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                       std::string_view reason) override {
        log().info("ibnbd-client: session {} path {}: {} -> {} ({})", name, path, to_string(from), to_string(to), reason);
    }
    void on_failover(std::string_view from, std::string_view to, std::uint32_t ios) override {
        failed_over += ios;
        log().warn("ibnbd-client: session {}: {} requests failed over from {} to {}", name, ios, from, to);
    }

    ClientService& service;
    std::string name;
    std::unique_ptr<block::BlockClient> client;
    std::map<std::string, std::unique_ptr<Device>> devices;
    std::vector<std::size_t> reactors;  // the reactor of each IO shard
    std::uint64_t failed_over = 0;
};

ClientService::ClientService(fabric::Fabric& fabric, runtime::Reactor& reactor, ClientServiceConfig config,
                             std::vector<ReactorPeer> peers, std::size_t self)
    : fabric_(fabric), reactor_(reactor), config_(std::move(config)), peers_(std::move(peers)), self_(self) {}

// Shard 0 here, one more on every other reactor.
ibtrs::ShardLayout ClientService::shard_layout(std::vector<std::size_t>& reactors) const {
    ibtrs::ShardLayout layout;
    reactors = {self_};
    if (peers_.size() <= 1) return layout;
    layout.home = peers_[self_].mailbox;
    for (std::size_t index = 0; index < peers_.size(); ++index) {
        if (index == self_) continue;
        layout.remote.push_back({peers_[index].fabric, peers_[index].mailbox});
        reactors.push_back(index);
    }
    return layout;
}

ClientService::~ClientService() {
    for (auto& [name, session] : sessions_) {
        for (auto& [device_name, device] : session->devices) stop_export(*device);
    }
}

ClientService::Session* ClientService::find_session(const Json& request, Responder& respond) {
    const auto found = sessions_.find(request.value("session", ""));
    if (found != sessions_.end()) return found->second.get();
    respond(error_response(-ENOENT, "no session '" + request.value("session", "") + "'; see 'ibnbd list'"));
    return nullptr;
}

ClientService::Device* ClientService::find_device(Session& session, const Json& request, Responder& respond) {
    const auto found = session.devices.find(request.value("device", ""));
    if (found != session.devices.end() && found->second->device != nullptr) return found->second.get();
    respond(error_response(-ENOENT, "session '" + session.name + "' has no mapped device '" +
                                        request.value("device", "") + "'; see 'ibnbd list'"));
    return nullptr;
}

void ClientService::handle(const Json& request, Responder respond) {
    const std::string cmd = request.value("cmd", "");
    if (cmd == "map") return map(request, std::move(respond));
    if (cmd == "unmap") return unmap(request, std::move(respond));
    if (cmd == "list") return respond(list());
    Session* session = find_session(request, respond);
    if (session == nullptr) return;
    if (cmd == "show" || cmd == "remap" || cmd == "resize") {
        Device* device = find_device(*session, request, respond);
        if (device == nullptr) return;
        if (cmd == "show") return respond(show(*session, *device));
        if (cmd == "resize") return resize(*session, *device, request.value("size", std::uint64_t{0}), respond);
        return remap(*session, *device, respond);
    }
    if (cmd == "stats") return respond(stats(*session));
    if (cmd == "policy_set") {
        ibtrs::MpPolicy policy;
        if (!ibtrs::parse_mp_policy(request.value("policy", ""), policy)) {
            return respond(error_response(-EINVAL, "policy must be round-robin, min-inflight or min-latency"));
        }
        session->client->transport().set_policy(policy);
        return respond({{"ok", true}, {"policy", ibtrs::to_string(policy)}});
    }
    if (cmd.rfind("path_", 0) == 0 || cmd == "session_reconnect") return path_op(cmd, *session, request, std::move(respond));
    respond(error_response(-EINVAL, "unknown command '" + cmd + "'; see 'ibnbd --help'"));
}

void ClientService::map(const Json& request, Responder respond) {
    const std::string session_name = request.value("session", "");
    const std::string device_name = request.value("device", "");
    wire::AccessMode mode{};
    if (!parse_mode(request.value("access_mode", "rw"), mode)) {
        return respond(error_response(-EINVAL, "access mode must be ro, rw or migration"));
    }
    const std::string nbd_tcp = request.value("nbd_tcp", "");
    if (!nbd_tcp.empty()) {
        auto address = fabric::Address::parse(nbd_tcp, 10809);
        if (!address || !is_loopback_ipv4(address->host)) {
            return respond(error_response(-EINVAL, "--nbd-tcp must be a loopback IPv4 address such as 127.0.0.1:10809 "
                                                   "(NBD has no authentication)"));
        }
    }
    std::vector<ibtrs::PathSpec> paths;  // checked even when the session exists (and they are not used)
    for (const auto& text : request.value("paths", std::vector<std::string>{})) {
        auto path = parse_path(text, config_.transport.port);
        if (!path) return respond(error_response(-EINVAL, bad_path(text, path.error())));
        paths.push_back(*path);
    }
    auto found = sessions_.find(session_name);
    if (found == sessions_.end()) {
        if (paths.empty()) return respond(error_response(-EINVAL, "a new session needs at least one --path"));
        auto session = std::make_unique<Session>(*this, session_name);
        block::BlockClientConfig config{config_.transport, config_.wait_while_reconnecting};
        config.transport.session_name = session_name;
        auto client = block::BlockClient::create(fabric_, config, paths, *session, shard_layout(session->reactors));
        if (!client) {
            return respond(error_response(client.error(), "cannot create session '" + session_name +
                                                              "' (names: 1-254 characters without '/' or '.'; 1-128 paths)"));
        }
        session->client = std::move(client.value());
        found = sessions_.emplace(session_name, std::move(session)).first;
    }
    Session& session = *found->second;
    if (session.devices.contains(device_name)) {
        return respond(error_response(-EEXIST, "'" + device_name + "' is already mapped in session " + session_name));
    }
    auto device = std::make_unique<Device>();
    device->name = device_name;
    device->mode = mode;
    device->nbd_socket = request.value("nbd_socket", "");
    device->nbd_tcp = nbd_tcp;
    device->pending_map = std::move(respond);
    Device& entry = *device;
    session.devices.emplace(device_name, std::move(device));
    auto mapped = session.client->map(device_name, mode);
    if (!mapped) {
        Responder answer = std::move(entry.pending_map);
        session.devices.erase(device_name);
        return answer(error_response(mapped.error(), "cannot map '" + device_name + "': " + errno_text(mapped.error())));
    }
    entry.device = *mapped;
}

void ClientService::on_mapped(Session& session, block::BlockDevice& mapped, int status) {
    const std::string name = mapped.name();  // `mapped` is gone once a failed export unmapped it
    const auto found = session.devices.find(name);
    if (found == session.devices.end()) return;
    Device& device = *found->second;
    Responder respond = std::move(device.pending_map);
    const bool refused = status != 0;
    std::string why;
    if (status == 0) status = export_device(session, device, why);
    if (status != 0) {
        log().warn("ibnbd-client: map {}/{} failed: {}", session.name, device.name, errno_text(status));
        if (device.device && device.device->state() == block::DeviceState::mapped) {
            (void)session.client->unmap(*device.device, true);
        }
        session.devices.erase(found);
        if (respond && refused && !session.client->ready()) {
            respond(error_response(status, "cannot reach the server of session '" + session.name + "' on any path: " +
                                               errno_text(status) + " (is ibnbd-server running and listening there?)"));
        } else if (respond && refused) {
            respond(error_response(status, "the server refused '" + name + "': " + errno_text(status) +
                                               " (check the name under the server's --dev-search-path and the access mode)"));
        } else if (respond) {
            respond(error_response(status, "cannot export '" + name + "' over NBD: " + why));
        }
        if (session.devices.empty() && !session.client->ready()) {
            // Never destroy a client inside its own callback.
            (void)reactor_.post([this, session_name = session.name] {
                if (auto it = sessions_.find(session_name); it != sessions_.end() && it->second->devices.empty()) {
                    sessions_.erase(it);
                }
            });
        }
        return;
    }
    if (respond) respond(show(session, device));
}

int ClientService::export_device(Session& session, Device& device, std::string& why) {
    if (device.nbd_socket.empty()) {
        ::mkdir(config_.nbd_dir.c_str(), 0755);
        std::string name = device.name;
        for (char& c : name) c = c == '/' ? '!' : c;
        device.nbd_socket = config_.nbd_dir + "/" + session.name + "@" + name + ".sock";
    }
    auto server = nbd::NbdServer::listen_unix(device.nbd_socket);
    if (!server) {
        why = nbd::unix_listen_error_text(device.nbd_socket, server.error()) + " (--nbd-socket)";
        return server.error();
    }
    std::unique_ptr<nbd::NbdServer> tcp_server;
    if (!device.nbd_tcp.empty()) {
        const auto address = fabric::Address::parse(device.nbd_tcp, 10809);  // checked in map()
        auto listening = nbd::NbdServer::listen_tcp(address->host, address->port);
        if (!listening) {
            why = "cannot listen on " + device.nbd_tcp + ": " + errno_text(listening.error()) + " (is the --nbd-tcp port free?)";
            return listening.error();
        }
        tcp_server = std::move(listening.value());
    }
    device.target = std::make_unique<BlockDeviceTarget>(*device.device);
    device.nbd = std::move(server.value());
    device.nbd_tcp_server = std::move(tcp_server);
    export_on_peers(session, device);
    for (nbd::NbdServer* exported : {device.nbd.get(), device.nbd_tcp_server.get()}) {
        if (exported == nullptr) continue;
        exported->add_export(device.name, *device.target);
        exported->add_export("", *device.target);  // clients that do not name an export
        if (!device.remote.empty()) exported->spread([this, &device](int fd) { return hand_off(device, fd); });
        reactor_.add(*exported);
    }
    return 0;
}

void ClientService::export_on_peers(Session& session, Device& device) {
    for (std::size_t shard = 1; shard < session.reactors.size(); ++shard) {
        runtime::Reactor* reactor = peers_[session.reactors[shard]].reactor;
        auto* remote = new ShardExport(device.device->shard_copy(shard), device.name);
        device.remote.push_back({remote, reactor});
        reactor->post_message([remote, reactor] { remote->start(*reactor); });
    }
}

// Accepted connections go round the session's reactors; false: serve it here.
bool ClientService::hand_off(Device& device, int fd) {
    const std::size_t pick = device.next_reactor++ % (1 + device.remote.size());
    if (pick == 0) return false;
    const Device::Remote& remote = device.remote[pick - 1];
    log().debug("ibnbd-client: NBD connection to {} handed to the reactor of shard {}", device.name, pick);
    remote.reactor->post_message([target = remote.host, fd] { target->adopt(fd); });
    return true;
}

void ClientService::stop_export(Device& device) {
    for (auto* exported : {&device.nbd, &device.nbd_tcp_server}) {
        if (*exported) reactor_.remove(**exported);
        exported->reset();  // closes remaining connections; their target is invalid by now
    }
    for (const Device::Remote& remote : device.remote) {
        remote.reactor->post_message([target = remote.host, reactor = remote.reactor] {
            target->stop(*reactor);
            delete target;
        });
    }
    device.remote.clear();
}

void ClientService::unmap(const Json& request, Responder respond) {
    Session* session = find_session(request, respond);
    if (session == nullptr) return;
    Device* device = find_device(*session, request, respond);
    if (device == nullptr) return;
    const bool force = request.value("force", false);
    if (!force && device->nbd_connections() != 0) {
        return respond(error_response(-EBUSY, "'" + device->name + "' is open by " +
                                                  std::to_string(device->nbd_connections()) +
                                                  " NBD connection(s); close them or use --force"));
    }
    if (force && device->target) device->target->invalidate();
    if (force) {
        for (const Device::Remote& remote : device->remote) {
            remote.reactor->post_message([target = remote.host] { target->invalidate(); });
        }
    }
    if (auto unmapped = session->client->unmap(*device->device, force); !unmapped) {
        return respond(error_response(unmapped.error(), "'" + device->name + "' has IO in flight; retry or use --force"));
    }
    stop_export(*device);
    session->devices.erase(device->name);
    respond({{"ok", true}});
}

void ClientService::remap(Session& session, Device& device, const Responder& respond) {
    const bool closed = device.device->state() == block::DeviceState::closed_by_server;
    auto remapped = session.client->remap(*device.device);
    if (remapped) {
        log().info("ibnbd-client: {}/{} remap asked for", session.name, device.name);
        return respond({{"ok", true}});
    }
    std::string why;
    switch (remapped.error()) {
        case -EALREADY: why = "the device is mapped; nothing to remap"; break;
        case -EBUSY: why = "the device is still being mapped; wait for it ('ibnbd list')"; break;
        default:
            why = closed ? "the session is down; remap again once a path is back ('ibnbd stats')"
                         : "the session is down; it remaps by itself when a path returns";
    }
    respond(error_response(remapped.error(), why));
}

void ClientService::resize(const Session& session, Device& device, std::uint64_t size, const Responder& respond) {
    auto resized = device.device->resize(size);
    if (!resized) {
        return respond(error_response(resized.error(), resized.error() == -ENODEV
                                                           ? "the device is not mapped (its session is down, or the "
                                                             "server closed it: see 'ibnbd list')"
                                                           : "the size must be a non-zero multiple of the logical block size (" +
                                                                 std::to_string(device.device->info().logical_block_size) + " bytes)"));
    }
    log().info("ibnbd-client: {}/{} resized to {} bytes", session.name, device.name, size);
    respond(show(session, device));
}

Json ClientService::show(const Session& session, const Device& device) const {
    const block::BlockDevice& d = *device.device;
    const block::DeviceInfo& info = d.info();
    Json shown = {{"ok", true},
            {"session", session.name},
            {"device", device.name},
            {"state", std::string(block::to_string(d.state()))},
            {"access_mode", mode_name(device.mode)},
            {"device_id", info.device_id},
            {"size", info.size_bytes},
            {"logical_block_size", info.logical_block_size},
            {"max_io", info.max_io_bytes},
            {"inflight", d.inflight_all()},
            {"io_reactors", session.reactors},
            {"remaps", d.remaps()},
            {"nbd_socket", device.nbd_socket},
            {"nbd_uri", "nbd+unix:///" + device.name + "?socket=" + device.nbd_socket}};
    if (device.nbd_tcp_server) {
        const std::string endpoint = device.nbd_tcp_server->address() + ":" + std::to_string(device.nbd_tcp_server->port());
        shown["nbd_tcp"] = endpoint;
        shown["nbd_tcp_uri"] = "nbd://" + endpoint + "/" + device.name;
    }
    return shown;
}

Json ClientService::list() const {
    Json devices = Json::array();
    for (const auto& [name, session] : sessions_) {
        for (const auto& [device_name, device] : session->devices) {
            if (device->device != nullptr && device->nbd) devices.push_back(show(*session, *device));
        }
    }
    return {{"ok", true}, {"devices", devices}};
}

Json ClientService::stats(const Session& session) const {
    const ibtrs::ClientSession& transport = session.client->transport();
    Json paths = Json::array();
    for (std::uint32_t i = 0; const ibtrs::ClientPath* path = transport.path(i); ++i) {
        const ibtrs::PathStats& s = path->stats();
        paths.push_back({{"index", i},
                         {"path", path->name()},
                         {"state", std::string(to_string(path->state()))},
                         {"read_count", s.read_count},
                         {"read_bytes", s.read_bytes},
                         {"write_count", s.write_count},
                         {"write_bytes", s.write_bytes},
                         {"inflight", s.inflight},
                         {"failovered", s.failovered},
                         {"rkey_updates", s.rkey_updates},
                         {"reconnects_ok", s.reconnects_ok},
                         {"reconnects_failed", s.reconnects_failed},
                         {"state_transitions", s.state_transitions},
                         {"cur_latency_ns", s.cur_latency}});
    }
    Json io_shards = Json::array();
    for (std::size_t shard = 0; shard < transport.shard_count(); ++shard) {
        const auto& counters = transport.shard(shard).counters();
        io_shards.push_back({{"reactor", session.reactors[shard]},
                             {"requests_completed_ok", counters.requests_completed_ok.get()},
                             {"requests_failed", counters.requests_failed.get()},
                             {"failovers", counters.failovers.get()},
                             {"permits_fenced", counters.permits_fenced.get()},
                             {"slot_transitions", counters.slot_transitions.get()},
                             {"io_transitions", session.client->block_shard(shard).io_transitions()}});
    }
    const ibtrs::SessionStats& totals = transport.stats();
    return {{"ok", true},
            {"session", session.name},
            {"mp_policy", std::string(ibtrs::to_string(transport.policy()))},
            {"queue_depth", transport.queue_depth()},
            {"connected_paths", transport.connected_paths()},
            {"requests_completed_ok", totals.requests_completed_ok},
            {"requests_failed", totals.requests_failed},
            {"failovers", totals.failovers},
            {"permits_fenced", totals.permits_fenced},
            {"server_session_lost", totals.server_session_lost},
            {"io_shards", io_shards},
            {"paths", paths}};
}

void ClientService::path_op(const std::string& cmd, Session& session, const Json& request, Responder respond) {
    ibtrs::ClientSession& transport = session.client->transport();
    if (cmd == "session_reconnect") {
        for (std::uint32_t i = 0; const ibtrs::ClientPath* path = transport.path(i); ++i) {
            if (!path->removed()) (void)transport.reconnect_path(i);
        }
        return respond({{"ok", true}});
    }
    const std::string text = request.value("path", "");
    auto spec = parse_path(text, config_.transport.port);
    if (!spec) return respond(error_response(-EINVAL, bad_path(text, spec.error())));
    if (cmd == "path_add") {
        auto added = transport.add_path(*spec);
        if (!added) return respond(error_response(added.error(), "cannot add the path: " + errno_text(added.error())));
        return respond({{"ok", true}, {"index", *added}});
    }
    std::optional<std::uint32_t> index;
    for (std::uint32_t i = 0; const ibtrs::ClientPath* path = transport.path(i); ++i) {
        if (!path->removed() && path->destination().host == spec->destination.host &&
            path->destination().port == spec->destination.port &&
            (spec->source.host.empty() || path->source().host == spec->source.host)) {
            index = i;
        }
    }
    if (!index) return respond(error_response(-ENOENT, "no such path in session " + session.name + "; see 'ibnbd stats'"));
    const auto result = cmd == "path_delete"       ? transport.remove_path(*index)
                        : cmd == "path_readd"      ? transport.reconnect_path(*index)
                        : cmd == "path_disconnect" ? transport.disconnect_path(*index)
                                                   : Status<int>(unexpected(-EINVAL));
    if (!result) return respond(error_response(result.error(), cmd + " failed: " + errno_text(result.error())));
    respond({{"ok", true}});
}

}  // namespace ibnbd::daemon
