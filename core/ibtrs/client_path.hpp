// One client path (protocol.md §1.3-§1.5, §1.9-§1.12): its connections, the handshake, the
// heartbeat, error recovery with drain, and reconnect. Owned by a ClientSession; not used alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/heartbeat.hpp"
#include "core/ibtrs/permit_pool.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "core/ibtrs/timer_slots.hpp"
#include "core/ibtrs/types.hpp"
#include "core/wire/rtrs.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class ClientSession;
struct PathSpec;
struct RequestSlot;

class ClientPath : private fabric::TimerHandler {
public:
    ClientPath(ClientSession& session, std::uint32_t index, const PathSpec& spec, bool first_conn);
    ~ClientPath() override;

    // Starts the first connection attempt (state connecting).
    void start();
    // Posts the request in `slot` (permit `permit`) on this path. Errors: -ENOTCONN (not
    // connected), -EAGAIN (send queue full: try another path), -EIO (post failed; the path is
    // failing).
    Status<int> post_request(Permit permit, RequestSlot& slot);

    // Runtime operations; see ClientSession.
    Status<int> reconnect();
    void disconnect(bool remove);

    ClientPathState state() const { return state_; }
    const std::string& name() const { return name_; }
    const PathStats& stats() const { return stats_; }
    std::uint32_t index() const { return index_; }
    bool removed() const { return state_ == ClientPathState::dead; }
    const fabric::Address& source() const { return source_; }
    const fabric::Address& destination() const { return destination_; }
    const Heartbeat& heartbeat() const { return heartbeat_; }

private:
    friend class ClientSession;
    struct Connection;

    enum TimerKind : std::uint64_t {
        heartbeat_timer,
        reconnect_timer,
        connect_timer,
        drain_timer,
        deferred_fail_timer,  // a post failed inside a submission: fail from the event loop
        timer_kinds,
    };

    void on_timer(std::uint64_t cookie) override;
    void on_cm_event(Connection& conn, const fabric::CmEvent& event);
    void on_completion(Connection& conn, const fabric::Completion& completion);

    // Handshake.
    void begin_attempt();
    void connect(std::uint16_t cid);
    void on_established(Connection& conn, std::span<const std::byte> private_data);
    int check_conn_rsp(std::uint16_t cid, std::span<const std::byte> private_data);
    void begin_info_exchange();
    void on_info_response(std::uint32_t byte_len);
    Status<int> post_empty_recvs(Connection& conn, std::uint32_t count);
    fabric::QueueSizes queue_sizes(std::uint16_t cid) const;

    // IO and heartbeat completions.
    void on_imm(Connection& conn, const fabric::Completion& completion);
    void heartbeat_tick();
    bool post_heartbeat(std::uint32_t imm);

    // Failure, drain, reconnect.
    void fail(std::string_view reason);
    void begin_drain();
    void on_connection_drained(Connection& conn);
    void finish_drain();
    void after_drain();
    void schedule_reconnect();
    void close_for_good(std::string_view reason);
    void set_state(ClientPathState to, std::string_view reason);

    ClientSession& session_;
    fabric::Fabric& fabric_;
    const std::uint32_t index_;
    const fabric::Address source_;
    const fabric::Address destination_;
    const std::string name_;
    Uuid sess_uuid_{};
    bool first_conn_;
    bool ever_connected_ = false;
    bool first_attempt_done_ = false;
    bool auto_reconnect_disabled_ = false;
    bool reconnect_now_ = false;  // manual reconnect: no delay after the drain
    bool adopt_new_depth_ = false;  // manual reconnect: a changed queue depth may be accepted
    bool remove_when_closed_ = false;
    bool draining_ = false;
    std::uint32_t drain_pending_ = 0;
    std::uint16_t recon_cnt_ = 0;
    std::uint16_t generation_ = 0;
    std::uint32_t reconnect_attempts_ = 0;
    std::uint32_t queue_depth_seen_ = 0;
    ClientPathState state_ = ClientPathState::connecting;
    std::vector<std::unique_ptr<Connection>> conns_;
    std::vector<wire::RemoteChunk> chunks_;
    std::vector<wire::SgDesc> info_descs_;
    RegisteredBuffer info_buffer_;  // INFO_REQ at 0, INFO_RSP receive after kInfoReqSize
    Heartbeat heartbeat_;
    TimerSlots<timer_kinds> timers_;
    PathStats stats_;
};

}  // namespace ibnbd::ibtrs
