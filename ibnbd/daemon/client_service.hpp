// What the ibnbd-client daemon does on one reactor, separate from its main(): IBNBD sessions by
// name (one BlockClient each), mapped devices each exported over NBD on its own unix socket and/or
// as a ublk block device /dev/ublkbN (ublk_export.hpp), and the control commands of the `ibnbd` CLI. With several reactors each has its own ClientService
// (and fabric), and ClientRouter places sessions: a session's control part (and this service's
// state for it) lives on one reactor, while its IO is spread over all of them. Its IBTRS session
// has an IO shard per reactor (each path one IO connection per reactor), and the NBD connections
// of its devices are handed to the reactors in turn (ShardExport), each doing its IO on its own
// shard; a ublk export has one queue per IO shard, on that shard's reactor. Cross-thread work goes
// through the peers' mailboxes (Reactor::post_message).
//
// COMMANDS (JSON, see control_server.hpp; names: ARCHITECTURE.md, glossary)
//   map {session, paths: ["[SRC@]DST[:PORT]"...], device, access_mode: ro|rw|migration, nbd_socket?,
//        nbd_tcp?: "127.x.y.z[:PORT]" (also export over TCP, loopback only: NBD has no authentication;
//        port 10809 by default, 0 picks a free one), export?: nbd|ublk|both (default: the daemon's)}
//        With ublk the answer comes once /dev/ublkbN exists (its path: `ublk_device`).
//   unmap {session, device, force}  (without force refused while an NBD connection is open or
//        /dev/ublkbN is open or mounted)      list {}      show {session, device}
//   remap {session, device}  (also a device the server closed: state closed-by-server)
//   session_reconnect {session}
//   resize {session, device, size}      (bytes; local capacity only, as the kernel's sysfs resize)
//   path_add / path_delete / path_readd / path_disconnect {session, path}  (disconnect: closed, no
//        automatic reconnect until readd)
//   policy_set {session, policy: round-robin|min-inflight|min-latency}
//   stats {session?}
// Errors carry the negative errno and a sentence saying what was wrong and what to do.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/client_path.hpp"
#include "ibnbd/client/block_client.hpp"
#include "ibnbd/daemon/client_router.hpp"
#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/daemon/path_text.hpp"
#include "ibnbd/daemon/shard_export.hpp"
#include "ibnbd/daemon/block_device_target.hpp"
#include "ibnbd/nbd/nbd_server.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::daemon {

// How a mapped device is exported: an NBD socket, a ublk block device, or both.
enum class ExportKind : std::uint8_t { nbd, ublk, both };
bool parse_export_kind(std::string_view text, ExportKind& kind);
inline bool exports_nbd(ExportKind kind) { return kind != ExportKind::ublk; }
inline bool exports_ublk(ExportKind kind) { return kind != ExportKind::nbd; }

struct ClientServiceConfig {
    std::string nbd_dir = "/run/ibnbd";  // default NBD socket directory
    ExportKind exports = ExportKind::nbd;  // when a map does not say
    ibtrs::ClientConfig transport;        // session_name is set per session
    fabric::Nanos wait_while_reconnecting = 0;
};

// One reactor of the daemon, as the others see it.
struct ReactorPeer {
    runtime::Reactor* reactor = nullptr;
    fabric::Fabric* fabric = nullptr;  // that reactor's; used only from its thread
    ibtrs::Mailbox* mailbox = nullptr;   // runs tasks there
};

class ClientService : public CommandHandler {
public:
    // `peers`: every reactor of the daemon (this one at `self`); empty or one: no IO spreading.
    ClientService(fabric::Fabric& fabric, runtime::Reactor& reactor, ClientServiceConfig config,
                  std::vector<ReactorPeer> peers = {}, std::size_t self = 0);
    ~ClientService() override;

    void handle(const Json& request, Responder respond) override;
    std::size_t sessions() const { return sessions_.size(); }
    // Before the daemon stops its reactors: deletes every ublk device (their IO in flight
    // completes first, and needs the reactors), then runs `done` on this reactor.
    void stop_ublk_exports(std::function<void()> done);

private:
    struct Session;
    struct Device;

    void map(const Json& request, Responder respond);
    void unmap(const Json& request, Responder respond);
    Json list() const;
    Json show(const Session& session, const Device& device) const;
    void remap(Session& session, Device& device, const Responder& respond);
    void resize(const Session& session, Device& device, std::uint64_t size, const Responder& respond);
    Json stats(const Session& session) const;
    void path_op(const std::string& cmd, Session& session, const Json& request, Responder respond);
    Session* find_session(const Json& request, Responder& respond);
    Device* find_device(Session& session, const Json& request, Responder& respond);
    void on_mapped(Session& session, block::BlockDevice& device, int status);
    // Takes the name by value: it erases the device that holds it.
    void fail_map(Session& session, std::string device_name, Responder respond, int status, const std::string& why);
    void finish_unmap(Session& session, Device& device, const Responder& respond);
    // 0, or the errno with `why` saying what to do.
    int export_nbd(Session& session, Device& device, std::string& why);
    void export_ublk(Session& session, Device& device, Responder respond);
    void unmap_ublk(Session& session, Device& device, bool force, Responder respond);
    void export_on_peers(Session& session, Device& device);
    bool hand_off(Device& device, int fd);
    void stop_export(Device& device);
    ibtrs::ShardLayout shard_layout(std::vector<std::size_t>& reactors) const;

    fabric::Fabric& fabric_;
    runtime::Reactor& reactor_;
    ClientServiceConfig config_;
    std::vector<ReactorPeer> peers_;
    std::size_t self_ = 0;
    std::map<std::string, std::unique_ptr<Session>> sessions_;
};

}  // namespace ibnbd::daemon
