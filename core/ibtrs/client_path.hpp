// One client path (docs/protocol.md §1.3-§1.5, §1.9-§1.12): its service connection (cid 0), the
// handshake, the heartbeat, error recovery with drain, and reconnect. Its IO connections belong to
// the session's shards (io_shard.hpp), which it drives through the session. Owned by a
// ClientSession; not used alone.
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

class ClientPath : private fabric::TimerHandler {
public:
    ClientPath(ClientSession& session, std::uint32_t index, const PathSpec& spec, bool first_conn);
    ~ClientPath() override;

    // Starts the first connection attempt (state connecting).
    void start();

    // Runtime operations; see ClientSession.
    Status<int> reconnect();
    void disconnect(bool remove);

    ClientPathState state() const { return state_; }
    const std::string& name() const { return name_; }
    // This path's counters, with the IO ones summed over the session's shards.
    PathStats stats() const;
    std::uint32_t index() const { return index_; }
    bool removed() const { return state_ == ClientPathState::dead; }
    const fabric::Address& source() const { return source_; }
    const fabric::Address& destination() const { return destination_; }
    const Heartbeat& heartbeat() const { return heartbeat_; }

private:
    friend class ClientSession;
    struct Connection;

    // What the path has been through, beside its state: it decides whether an attempt may create
    // the server's session and whether a failed attempt counts as a failed reconnect. Only moves
    // forward.
    enum class History : std::uint8_t { untried, first_attempt_failed, connected_before };
    // A server that comes back with another queue depth stops automatic reconnects (the permits
    // are sized by it) until an operator's reconnect accepts the new depth for one attempt.
    enum class DepthRule : std::uint8_t { keep, changed_stopped, adopt_next };
    // What an operator asked for that waits for the drain in progress: the next attempt without
    // delay, or removal once closed. A disconnect replaces a waiting reconnect.
    enum class ManualAction : std::uint8_t { none, reconnect_at_once, remove_when_closed };

    enum TimerKind : std::uint64_t {
        heartbeat_timer,
        reconnect_timer,
        connect_timer,
        drain_timer,
        deferred_fail_timer,  // a post failed inside a submission: fail from the event loop
        timer_kinds,
    };

    void on_timer(std::uint64_t cookie) override;
    void on_cm_event(const fabric::CmEvent& event);
    void on_completion(const fabric::Completion& completion);

    // Handshake.
    void begin_attempt();
    void connect_service();
    wire::ConnReq conn_req() const;
    void on_established(std::span<const std::byte> private_data);
    int check_conn_rsp(std::span<const std::byte> private_data);
    void begin_info_exchange();
    void on_info_response(std::uint32_t byte_len);
    Status<int> post_empty_recvs(std::uint32_t count);

    // Shard reports for this path (see ShardEvents).
    void on_lane_established(std::uint16_t generation);
    void on_lane_failed(std::uint16_t generation, std::string_view reason);
    void on_lane_drained(std::uint16_t generation);

    // Heartbeat.
    void on_imm(const fabric::Completion& completion);
    void heartbeat_tick();
    bool post_heartbeat(std::uint32_t imm);

    // Failure, drain, reconnect.
    void fail(std::string_view reason);
    void begin_drain();
    void drained_one();
    void on_service_drained();
    void finish_drain();
    void after_drain();
    void schedule_reconnect();
    void close_for_good(std::string_view reason);
    void set_state(ClientPathState to, std::string_view reason);
    void set_history(History to);
    bool connected_before() const { return history_ == History::connected_before; }
    bool attempted_before() const { return history_ != History::untried; }

    ClientSession& session_;
    fabric::Fabric& fabric_;
    const std::uint32_t index_;
    const fabric::Address source_;
    const fabric::Address destination_;
    const std::string name_;
    Uuid sess_uuid_{};
    const bool may_create_session_;  // this path was started as the session's first
    bool attempt_first_conn_ = false;  // what the current attempt sends
    bool draining_ = false;  // a drain is in progress: only in connecting_err, reconnecting, closing
    History history_ = History::untried;
    DepthRule depth_rule_ = DepthRule::keep;
    ManualAction manual_action_ = ManualAction::none;
    std::uint32_t drain_pending_ = 0;  // cid 0 and shards not drained yet
    std::uint32_t lanes_pending_ = 0;  // shards whose IO connections are not up yet
    std::uint64_t lane_receipts_ = 0;  // the shards' received counters at the last heartbeat tick
    std::uint16_t recon_cnt_ = 0;
    std::uint16_t generation_ = 0;
    std::uint32_t reconnect_attempts_ = 0;
    std::uint32_t queue_depth_seen_ = 0;
    ClientPathState state_ = ClientPathState::connecting;
    std::unique_ptr<Connection> service_;  // cid 0
    std::vector<wire::RemoteChunk> chunks_;
    std::vector<wire::SgDesc> info_descs_;
    RegisteredBuffer info_buffer_;  // INFO_REQ at 0, INFO_RSP receive after kInfoReqSize
    Heartbeat heartbeat_;
    TimerSlots<timer_kinds> timers_;
    PathStats stats_;
};

}  // namespace ibnbd::ibtrs
