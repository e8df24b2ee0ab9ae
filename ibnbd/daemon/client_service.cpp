#include "ibnbd/daemon/client_service.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.hpp"
#include "ibnbd/daemon/client_service_parts.hpp"
#include "ibnbd/ublk/ublk_control.hpp"

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

const char* export_name(ExportKind kind) {
    switch (kind) {
        case ExportKind::nbd: return "nbd";
        case ExportKind::ublk: return "ublk";
        case ExportKind::both: return "both";
    }
    return "?";
}

std::string bad_path(const std::string& text, const std::string& why) {
    return "bad path '" + excerpt(text) + "': " + why + "; use [SRC@]DST[:PORT] with IP addresses";
}

// NBD has no authentication: a TCP export is only offered on loopback addresses.
bool is_loopback_ipv4(const std::string& host) { return host.rfind("127.", 0) == 0; }

}  // namespace

bool parse_export_kind(std::string_view text, ExportKind& kind) {
    for (const ExportKind known : {ExportKind::nbd, ExportKind::ublk, ExportKind::both}) {
        if (text == export_name(known)) {
            kind = known;
            return true;
        }
    }
    return false;
}

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
    ExportKind exports = config_.exports;
    if (request.contains("export") && !parse_export_kind(request.value("export", ""), exports)) {
        return respond(error_response(-EINVAL, "export must be nbd, ublk or both"));
    }
    if (exports_ublk(exports) && ::access(ublk::kControlPath, F_OK) != 0) {
        return respond(error_response(-ENOENT, std::string("this kernel offers no ublk: ") + ublk::kControlPath +
                                                   " is missing (modprobe ublk_drv; Linux 6.0 or later), or map with --export nbd"));
    }
    const std::string nbd_tcp = request.value("nbd_tcp", "");
    if (!nbd_tcp.empty() && !exports_nbd(exports)) {
        return respond(error_response(-EINVAL, "--nbd-tcp needs an NBD export (--export nbd or both)"));
    }
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
    device->exports = exports;
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
    const auto found = session.devices.find(mapped.name());
    if (found == session.devices.end()) return;
    Device& device = *found->second;
    Responder respond = std::move(device.pending_map);
    std::string why;
    if (status == 0 && exports_nbd(device.exports)) {
        status = export_nbd(session, device, why);
        if (status != 0) why = "cannot export '" + device.name + "' over NBD: " + why;
    }
    if (status != 0) return fail_map(session, device.name, std::move(respond), status, why);
    if (exports_ublk(device.exports)) return export_ublk(session, device, std::move(respond));
    if (respond) respond(show(session, device));
}

// `why` empty: the server refused the device (or could not be reached).
void ClientService::fail_map(Session& session, std::string device_name, Responder respond, int status,
                             const std::string& why) {
    log().warn("ibnbd-client: map {}/{} failed: {}", session.name, device_name, errno_text(status));
    Device& device = *session.devices.at(device_name);
    // In init the server refused it (the client drops it itself); a ublk export that failed may find
    // the device disconnected meanwhile.
    const bool opened = device.device && device.device->state() != block::DeviceState::init &&
                        device.device->state() != block::DeviceState::unmapped;
    if (opened) {
        stop_export(device);
        (void)session.client->unmap(*device.device, true);
    }
    session.devices.erase(device_name);
    if (respond && why.empty() && !session.client->ready()) {
        respond(error_response(status, "cannot reach the server of session '" + session.name + "' on any path: " +
                                           errno_text(status) + " (is ibnbd-server running and listening there?)"));
    } else if (respond && why.empty()) {
        respond(error_response(status, "the server refused '" + device_name + "': " + errno_text(status) +
                                           " (check the name under the server's --dev-search-path and the access mode)"));
    } else if (respond) {
        respond(error_response(status, why));
    }
    if (session.devices.empty() && !session.client->ready()) {
        // Never destroy a client inside its own callback.
        (void)reactor_.post([this, session_name = session.name] {
            if (auto it = sessions_.find(session_name); it != sessions_.end() && it->second->devices.empty()) {
                sessions_.erase(it);
            }
        });
    }
}

void ClientService::unmap(const Json& request, Responder respond) {
    Session* session = find_session(request, respond);
    if (session == nullptr) return;
    Device* device = find_device(*session, request, respond);
    if (device == nullptr) return;
    const bool force = request.value("force", false);
    if (device->ublk_busy) {
        return respond(error_response(-EBUSY, "'" + device->name + "' is being set up or removed as a ublk device; retry"));
    }
    if (!force && device->nbd_connections() != 0) {
        return respond(error_response(-EBUSY, "'" + device->name + "' is open by " +
                                                  std::to_string(device->nbd_connections()) +
                                                  " NBD connection(s); close them or use --force"));
    }
    if (device->ublk) return unmap_ublk(*session, *device, force, std::move(respond));
    if (force) device->invalidate_nbd_targets();
    if (auto unmapped = session->client->unmap(*device->device, force); !unmapped) {
        return respond(error_response(unmapped.error(), "'" + device->name + "' has IO in flight; retry or use --force"));
    }
    finish_unmap(*session, *device, respond);
}

void ClientService::finish_unmap(Session& session, Device& device, const Responder& respond) {
    stop_export(device);
    session.devices.erase(device.name);
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
            {"max_discard", info.max_discard_bytes},
            {"max_write_zeroes", info.max_write_zeroes_bytes},
            {"writeback_cache", info.writeback_cache},
            {"fua", info.fua},
            {"inflight", d.inflight_all()},
            {"io_reactors", session.reactors},
            {"remaps", d.remaps()},
            {"export", export_name(device.exports)}};
    if (device.nbd) {
        shown["nbd_socket"] = device.nbd_socket;
        shown["nbd_uri"] = "nbd+unix:///" + device.name + "?socket=" + device.nbd_socket;
    }
    if (device.ublk && device.ublk->live()) {
        const UblkExport::QueueTotals totals = device.ublk->totals();
        shown["ublk_device"] = device.ublk->block_device();
        shown["ublk"] = {{"queues", session.reactors.size()}, {"requests", totals.requests}, {"errors", totals.errors},
                         {"busy_retries", totals.busy}};
    }
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
            const bool exported = device->nbd || (device->ublk && device->ublk->live());
            if (device->device != nullptr && exported) devices.push_back(show(*session, *device));
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
                             {"completions_held", counters.completions_held.get()},
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
            {"completions_held", totals.completions_held},
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
