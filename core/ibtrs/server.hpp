// IBTRS server (docs/protocol.md §1.3): listens, checks every connect request, finds sessions by
// paths_uuid and paths by sess_uuid, and owns the sessions.
//
// CONNECT CHECKS (rejections carry a conn_rsp whose errno the client logs)
//     short private data, bad magic or major version, cid_num 0 or > 4096, cid ≥ cid_num
//                                                                          → -ECONNRESET
//     unknown session without first_conn                                   → -ENXIO
//     known path connecting with another cid_num, or cid already connected → -ECONNRESET
//     known path closing, or closed with requests still on its chunks      → -EBUSY
//     a 129th path                                                         → -ECONNRESET
//     a new path with the same client and server addresses as another    → -EEXIST
//     memory registration failure                                          → -ENOMEM
//   A cid-0 request for a connected path with a different recon_cnt means the client reconnected
//   before we noticed the old path died: the old path is closed and the request refused with
//   -EBUSY. Like the kernel, which refuses a known path until it is closed, the path stays refused
//   until it is closed and storage has answered every request it brought (its chunks are idle):
//   the client may only reach the session's chunks again once nothing the old path started can
//   still read or write them. The client retries after its reconnect delay.
//   After INFO_REQ (§1.5): a name with '/' or '.' (-EINVAL) or a name used by another session
//   (-EPERM) closes the path.
//   Handshake limits (ServerConfig): with max_pending_handshakes connections already waiting for
//   their path's INFO exchange, the paths that have waited longest are closed to make room (so a
//   flood of silent clients cannot keep a real one out); when only the request's own path waits,
//   the request is refused with -EBUSY. A path not connected within handshake_timeout is closed.
//
// REACTORS
//     A server on several reactors has one Server per reactor, joined by join(): they share a
//     SessionDirectory, and each hands the connect requests of sessions owned by another reactor
//     to that reactor's Server (detached, through its Mailbox), which checks and accepts them on
//     its own fabric; its refusals travel back to be rejected by the listener's reactor. So a
//     session, its chunks, paths and connections live on one reactor, and sessions are spread over
//     all of them. A Server that did not join is a group of one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "core/ibtrs/server_session.hpp"
#include "core/ibtrs/session_directory.hpp"
#include "core/ibtrs/shard_control.hpp"
#include "core/ibtrs/types.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

struct ServerStats {
    std::uint64_t connect_requests = 0;
    std::uint64_t rejected = 0;
    std::uint64_t paths_closed = 0;
    std::uint64_t violations = 0;  // requests or handshakes that broke the protocol
    std::uint64_t stale_paths_closed = 0;  // a client reconnected before we saw its path die
    std::uint64_t refused_while_draining = 0;  // reconnects refused until the old path drained
    std::uint64_t handed_over = 0;  // connect requests handed to the reactor owning their session
    std::uint64_t handshakes_dropped = 0;    // paths closed: the oldest at max_pending_handshakes
    std::uint64_t handshakes_refused = 0;    // refused with -EBUSY: nothing else to drop
    std::uint64_t handshakes_timed_out = 0;  // paths closed: not connected within handshake_timeout
    // READ responses that invalidated the client's key first (NEED_INVAL: every kernel client).
    std::uint64_t reads_invalidated = 0;
    // NEED_INVAL reads answered without invalidation, because the fabric cannot send with
    // invalidate (ofi): the client must invalidate its key itself (docs/protocol.md §1.7.4).
    std::uint64_t invalidations_unsupported = 0;
    std::uint64_t slot_transitions = 0;  // chunk slot state changes of every session (Slot::State)
    // always_invalidate: chunk keys revoked when a request arrived, and binds of a next key.
    std::uint64_t keys_revoked = 0;
    std::uint64_t keys_rotated = 0;
};

class Server;

// Another reactor's Server, and the mailbox that runs tasks on its thread.
struct ServerPeer {
    Server* server = nullptr;
    Mailbox* mailbox = nullptr;
};

class Server : private fabric::ListenerHandler, private fabric::TimerHandler {
public:
    // Errors: -EINVAL when the queue depth / chunk size fail check_server_params(), -EOPNOTSUPP
    // for always_invalidate on a fabric without fabric-wide memory windows (ofi).
    static Expected<std::unique_ptr<Server>, int> create(fabric::Fabric& fabric, ServerConfig config,
                                                         ServerHandler& handler);
    ~Server() override;

    // Errors: -EADDRINUSE, -EINVAL (bad address), -EIO.
    Status<int> listen(const fabric::Address& address);
    // Stops accepting new connections (shutdown); established paths go on.
    void stop_listening() { listeners_.clear(); }
    // Makes this Server reactor `self` of a group: `peers[i]` is reactor i's Server (peers[self]
    // is this one). Call before any connection arrives; the directory and the peers' Servers
    // must outlive every task posted between them.
    void join(SessionDirectory& directory, std::size_t self, std::vector<ServerPeer> peers);

    fabric::Fabric& fabric() { return fabric_; }
    const ServerConfig& config() const { return config_; }
    ServerHandler& handler() { return handler_; }
    const ServerStats& stats() const { return stats_; }
    // Connections that have not completed the handshake now (see max_pending_handshakes).
    std::size_t pending_handshakes() const;
    // Connections the listeners' backend closed before they became connect requests.
    std::uint64_t dropped_connections() const;
    std::size_t session_count() const { return sessions_.size(); }
    ServerSession* find_session(std::string_view name);
    std::vector<ServerSession*> sessions();
    const std::vector<std::unique_ptr<fabric::Listener>>& listeners() const { return listeners_; }

private:
    friend class ServerPath;
    friend class ServerSession;

    Server(fabric::Fabric& fabric, ServerConfig config, ServerHandler& handler);
    using Detached = std::shared_ptr<fabric::DetachedConnectRequest>;

    void on_connect_request(fabric::ConnectRequest& request) override;
    void on_timer(std::uint64_t cookie) override;
    // On the owning reactor: checks and accepts a request; `origin` is the reactor whose listener
    // got it (where a refusal is rejected).
    void admit_here(Detached request, const wire::ConnReq& req, std::size_t origin);
    void hand_over(Detached request, const wire::ConnReq& req, std::size_t origin, std::size_t owner);
    int admit(fabric::DetachedConnectRequest& request, const wire::ConnReq& req);
    bool make_handshake_room(const wire::ConnReq& req);
    ServerPath* oldest_connecting_path(const wire::ConnReq& req);
    void reject(fabric::DetachedConnectRequest& request, int error);
    // Records a session's name for the whole group; false when another session has it.
    bool take_name(const ServerSession& session, std::string_view name);
    // -EBUSY while the client's old path `existing` (same sess_uuid) is not gone; a stale
    // connected one is closed first.
    int refuse_until_drained(ServerPath& existing, const wire::ConnReq& req);
    // Paths and sessions are destroyed from a timer, never inside their own callbacks.
    void schedule_reap();
    void reap();
    void reap_paths(ServerSession& session);
    void on_session_lost(ServerSession& session);

    fabric::Fabric& fabric_;
    ServerConfig config_;
    ServerHandler& handler_;
    SessionDirectory own_directory_{1};
    SessionDirectory* directory_ = &own_directory_;
    std::size_t self_ = 0;
    std::vector<ServerPeer> peers_;  // empty: a group of one
    std::vector<std::unique_ptr<fabric::Listener>> listeners_;
    std::map<Uuid, std::unique_ptr<ServerSession>> sessions_;
    std::vector<std::unique_ptr<ServerSession>> retired_sessions_;  // waiting for busy chunks
    fabric::TimerId reap_timer_ = 0;
    ServerStats stats_;
};

// Joins the Servers of `peers` (reactor i's at index i) into one group over `directory`.
void join_group(SessionDirectory& directory, const std::vector<ServerPeer>& peers);

}  // namespace ibnbd::ibtrs
