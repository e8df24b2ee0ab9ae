// One server path (docs/protocol.md §1.3, §1.5, §1.7.6, §1.9, §1.14): its connections, the INFO
// exchange, the heartbeat, validation of every incoming request, responses, and close.
// A violation by the client closes this path only, with a logged reason.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/chunk_keys.hpp"
#include "core/ibtrs/heartbeat.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "core/ibtrs/timer_slots.hpp"
#include "core/ibtrs/types.hpp"
#include "core/wire/rtrs.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class Server;
class ServerSession;

// Where a READ's data goes back (docs/protocol.md §1.7.4): the client's buffer (len 0: no data), and
// whether the client asked for its key to be invalidated by the response (NEED_INVAL).
struct ReadTarget {
    wire::SgDesc desc{};
    bool invalidate = false;
};

struct ServerPathStats {
    std::uint64_t read_count = 0;
    std::uint64_t read_bytes = 0;
    std::uint64_t write_count = 0;
    std::uint64_t write_bytes = 0;
};

class ServerPath : private fabric::TimerHandler {
public:
    ServerPath(Server& server, ServerSession& session, const wire::ConnReq& first_request,
               const fabric::Address& peer, const fabric::Address& local);
    ~ServerPath() override;

    // Registers the session's chunks for this path. Errors: -ENOMEM.
    Status<int> init();
    // Can connection `req.cid` join this path (§1.3)? Errors: -ECONNRESET.
    Status<int> check_join(const wire::ConnReq& req) const;
    // Accepts connection `cid` with the session's parameters. Errors: -ENOMEM.
    Status<int> accept(fabric::DetachedConnectRequest& request, std::uint16_t cid);

    // Sends the response of `msg_id` on connection `cid`; parks it if the send queue is full.
    void send_response(std::uint16_t cid, std::uint32_t msg_id, int status, const ReadTarget& read);
    void close(std::string_view reason);

    ServerPathState state() const { return state_; }
    // Accepted connections waiting for the INFO exchange: all of them while connecting, else 0.
    std::size_t pending_connections() const;
    fabric::Nanos created() const { return created_; }
    bool closed() const { return state_ == ServerPathState::closed; }
    const std::string& name() const { return name_; }
    const fabric::Address& peer() const { return peer_; }
    const fabric::Address& local() const { return local_; }
    std::uint16_t recon_cnt() const { return recon_cnt_; }
    const Uuid& sess_uuid() const { return sess_uuid_; }
    ServerSession& session() const { return session_; }
    const ServerPathStats& stats() const { return stats_; }

private:
    struct Connection;
    enum TimerKind : std::uint64_t { heartbeat_timer, drain_timer, handshake_timer, timer_kinds };

    void on_timer(std::uint64_t cookie) override;
    void on_cm_event(Connection& conn, const fabric::CmEvent& event);
    void on_completion(Connection& conn, const fabric::Completion& completion);

    void on_info_request(std::uint32_t byte_len);
    int check_info_request(const wire::InfoReq& req) const;
    Status<int> post_empty_recvs(Connection& conn, std::uint32_t count);
    // The receives of §1.8, once the path is connected and the connection established.
    bool post_receive_credits(Connection& conn);
    bool send_info_response();
    void on_imm(Connection& conn, const fabric::Completion& completion);
    // A request's immediate arrived: with always_invalidate its chunk's key is revoked first.
    void on_io_request(Connection& conn, std::uint32_t payload);
    void on_key_revoked(std::uint32_t chunk);
    // Validates the request and hands it to the session (or defers it behind its chunk).
    void start_io_request(Connection& conn, std::uint32_t payload);
    void violation(std::string_view reason);
    bool post_heartbeat(std::uint32_t imm);
    void heartbeat_tick();
    void send_deferred(Connection& conn);
    bool post_response(Connection& conn, std::uint32_t msg_id, int status, const ReadTarget& read);
    struct ResponseOps;
    bool post_response_ops(Connection& conn, const ResponseOps& ops);
    void on_connection_drained(Connection& conn);
    void finish_close();
    void set_state(ServerPathState to, std::string_view reason);

    friend class ServerSession;

    Server& server_;
    ServerSession& session_;
    fabric::Fabric& fabric_;
    const Uuid sess_uuid_;
    const std::uint16_t cid_num_;
    const std::uint16_t recon_cnt_;
    const fabric::Address peer_;
    const fabric::Address local_;
    const std::string name_;
    const fabric::Nanos created_;
    ServerPathState state_ = ServerPathState::connecting;
    std::vector<std::unique_ptr<Connection>> conns_;
    // The session's chunks for this path: one region with remote-write access and a fixed key,
    // or with always_invalidate a region and a rotating key per chunk.
    RegisteredBuffer chunks_mr_;
    ChunkKeys chunk_keys_;
    std::vector<wire::SgDesc> info_descs_;  // the INFO_RSP's descriptors (one, or one per chunk)
    RegisteredBuffer info_buffer_;  // INFO_REQ receive at 0, INFO_RSP send after kInfoReqSize
    Heartbeat heartbeat_;
    std::uint32_t drain_pending_ = 0;
    bool warned_no_invalidation_ = false;
    TimerSlots<timer_kinds> timers_;
    ServerPathStats stats_;
};

}  // namespace ibnbd::ibtrs
