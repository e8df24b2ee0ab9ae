// One IO shard of a client session (shard_control.hpp): the request path on one fabric, i.e. on one
// reactor thread. It owns a contiguous share of the session's permits (the server's chunks), their
// request slots, header buffers and read buffers, and per path a "lane": this shard's IO
// connections of that path. Requests go out, complete and fail over entirely inside the shard;
// nothing on that path touches another thread.
//
// IO API (the shard's thread only): the same contract as ClientSession's IO methods, which are
// shard 0's. Permits are the session's chunk numbers: shard s hands out only its own range.
//
// CONTROL (from the session, see ShardEvents for the answers): connect_lane() opens the lane's
// connections in cid order; lane_up() makes it carry IO (and frees the permits fenced for it alone,
// telling the PathWatcher that a path is usable);
// drain_lane() disconnects it, waits for its flush (at most LaneConnect::drain_timeout) and only
// then re-issues its requests on another lane of this shard (failover after drain).
//
// STATS may be read from any thread: counters are written by the shard's thread alone and read
// with relaxed atomics, so a reader sees each counter's recent value, not a consistent snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/ibtrs/mp_policy.hpp"
#include "core/ibtrs/permit_pool.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "core/ibtrs/shard_control.hpp"
#include "core/ibtrs/timer_slots.hpp"
#include "core/ibtrs/types.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class IoHandler {
public:
    virtual ~IoHandler() = default;
    virtual void on_io_complete(std::uint64_t cookie, int status) = 0;
};

// Told when a path of the shard (re)connected and carries IO: requests that failed for want of
// a path may be tried again.
class PathWatcher {
public:
    virtual ~PathWatcher() = default;
    virtual void on_path_usable() = 0;
};

// A counter written by one thread and read by any.
template <class T>
class SharedCounter {
public:
    void add(T n) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void sub(T n) { value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    void set(T n) { value_.store(n, std::memory_order_relaxed); }
    T get() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<T> value_{0};
};

// One request in flight, indexed by its permit. Pre-allocated for the shard's permits.
// FENCED: a copy of the request went out on a path that broke before the server answered there,
// so the server may still be working on the chunk, or the copy may still be on its way (it can
// arrive after another path's copy was answered: nothing orders two paths). The permit is held
// back until every such path has reconnected (the server accepts a path again only once it closed
// the old connection and the requests it brought are done, server.hpp), ClientConfig::fence_timeout
// after the path broke, or once the server turned out not to know the session any more.
// HELD: a write answered with success whose copy on a broken path may still land
// (ShardConfig::copy_lifetime): its completion waits until that path reconnected or the copy's
// lifetime is over, so that a newer write sent once the caller saw the completion cannot be
// overtaken by the old copy.
// STATES  free → posted → written | answered → free | held (the request completes once both its
//         own write-with-imm completed locally and the server's response arrived, in either
//         order; held: a successful write whose copy may still land); posted | written → posted
//         (failover re-posts it on another path), → free (no path took it); held → free (its late
//         copies cannot land); free → fenced → free (unfence). Asserted in IoShard::set_state.
struct RequestSlot {
    enum class State : std::uint8_t { free, posted, written, answered, held, fenced };
    State state = State::free;
    Dir dir = Dir::write;
    bool in_flight() const { return state == State::posted || state == State::written || state == State::answered; }
    std::uint8_t data_count = 0;
    std::uint16_t usr_len = 0;
    std::uint16_t cid = 0;
    std::uint16_t generation = 0;
    std::uint32_t path = 0;
    std::uint32_t data_len = 0;
    std::uint32_t hdr_len = 0;  // bytes of the header area to send (usr + RTRS message)
    int response_status = 0;
    std::array<fabric::Sge, 3> data{};
    IoHandler* handler = nullptr;
    std::uint64_t cookie = 0;
    PathSet tried;  // paths this request failed on since they last (re)connected (failover)
    PathSet unanswered_on;  // paths it went out on and was not answered on (since they reconnected)
    fabric::Nanos posted_at = 0;  // its latest post (kept only with a copy_lifetime)
    fabric::Nanos lands_by = 0;   // a copy on a path that broke cannot land after this; 0: none
};

struct ShardConfig {
    std::uint32_t index = 0;   // within the session
    std::uint32_t count = 1;   // shards of the session
    std::string session_name;  // for logs
    MpPolicy policy = MpPolicy::min_inflight;
    fabric::Nanos copy_lifetime = 0;  // ClientConfig::copy_lifetime
};

class IoShard : private fabric::TimerHandler {
public:
    // `home` carries reports to the session's thread; nullptr when the session runs on this
    // shard's thread (reports are then calls). Every report task holds `events`, so it may stay
    // valid after the session is gone. Touches no fabric until connect_lane().
    IoShard(fabric::Fabric& fabric, ShardConfig config, std::shared_ptr<ShardEvents> events, Mailbox* home);
    ~IoShard() override;
    IoShard(const IoShard&) = delete;
    IoShard& operator=(const IoShard&) = delete;

    // ---- IO (see ClientSession) ----
    std::optional<Permit> get_permit() { return permits_.try_get(); }
    std::optional<Permit> get_permit_or_queue(PermitQueueEntry& entry) { return permits_.get_or_queue(entry); }
    // A permit of whose last request a copy may still land is fenced (see RequestSlot) instead of
    // coming back at once.
    void put_permit(Permit permit);
    // Whether a copy of the permit's last request, sent on a path that broke before the server
    // answered, may still reach the server (until every such path has reconnected, or
    // ClientConfig::fence_timeout after it broke): the request
    // must not go out again, on any chunk, before that, or the old copy could land after newer
    // writes. The permit's holder keeps the permit meanwhile.
    bool copies_may_land(Permit permit) const { return slots_[offset(permit)].unanswered_on.any(); }
    // Permits not in flight whose last request may still land (fenced, or kept for a retry); they
    // come back when the paths reconnect. The shard's thread only (it reads every slot).
    std::uint32_t permits_awaiting_paths() const;
    bool cancel_queued_permit(PermitQueueEntry& entry) { return permits_.cancel_queued(entry); }
    Status<int> request(Dir dir, Permit permit, std::span<const std::byte> usr,
                        std::span<const fabric::Sge> data, IoHandler& handler, std::uint64_t cookie);
    fabric::Sge read_buffer(Permit permit, std::uint32_t length) const;
    std::span<std::byte> read_buffer_bytes(Permit permit) const;
    std::uint32_t permit_count() const { return permits_.capacity(); }
    std::uint32_t index() const { return config_.index; }

    // ---- control, from the session ----
    void connect_lane(const LaneConnect& connect);
    void lane_up(std::uint32_t path, std::uint16_t generation, const std::vector<wire::RemoteChunk>& chunks);
    // `at_once`: TESTING ONLY, re-issue before the flush (ClientTestHooks::failover_without_drain).
    void drain_lane(std::uint32_t path, std::uint16_t generation, bool at_once);
    void set_latency(std::uint32_t path, fabric::Nanos latency);
    void set_policy(MpPolicy policy) { config_.policy = policy; }
    // The server does not know the session any more (restarted, or it dropped the session): no
    // chunk of the old session can be in use, every fenced permit comes back.
    void unfence_all();
    // `watcher` (or nullptr) hears when a path becomes usable; the shard's thread only.
    void watch_paths(PathWatcher* watcher) { path_watcher_ = watcher; }

    // ---- stats, any thread ----
    struct LaneCounters {
        SharedCounter<std::uint64_t> read_count, read_bytes, write_count, write_bytes, failovered;
        SharedCounter<std::uint64_t> received;  // messages from the server: the path's liveness
        SharedCounter<std::uint64_t> rkey_updates;  // chunk keys the server sent (NEW_RKEY_F)
        SharedCounter<std::uint32_t> inflight;
    };
    struct Counters {
        SharedCounter<std::uint64_t> requests_submitted, requests_completed_ok, requests_failed, failovers;
        SharedCounter<std::uint64_t> slot_transitions;  // RequestSlot state changes
        SharedCounter<std::uint32_t> permits_fenced;
        SharedCounter<std::uint64_t> completions_held;  // writes that waited for a late copy
    };
    std::uint32_t permits_in_use() const { return permits_.in_use(); }
    const Counters& counters() const { return counters_; }
    const LaneCounters& lane_counters(std::uint32_t path) const;

private:
    struct Lane;
    struct LaneConn;
    friend struct LaneConn;

    // Lanes' lives (io_shard_lane.cpp): connect, receives, failure, drain, failover.
    void connect_next(Lane& lane);
    void on_cm_event(LaneConn& conn, const fabric::CmEvent& event);
    Status<int> post_rkey_recv(LaneConn& conn, std::uint32_t slot);
    void on_conn_established(LaneConn& conn, std::span<const std::byte> private_data);
    void lane_failed(Lane& lane, std::string_view reason);
    void on_conn_drained(LaneConn& conn);
    void finish_drain(Lane& lane);
    void on_lane_timer(Lane& lane, std::uint64_t kind);
    Status<int> post_empty_recvs(LaneConn& conn, std::uint32_t count);
    void failover(Lane& lane);
    void forget_copies_on(const Lane& lane);
    bool any_lane_up() const;
    template <class Report>
    void report(Report&& report);

    // Requests (io_shard.cpp): from submission to the post on a lane, and from the lane's
    // completions to the handler.
    int configure(const SessionParams& params);
    // The shard's chunks are permits_.base() .. base + capacity - 1.
    std::size_t offset(Permit permit) const { return permit - permits_.base(); }
    RequestSlot& slot(Permit permit) { return slots_[offset(permit)]; }
    bool owns(Permit permit) const { return offset(permit) < permits_.capacity(); }
    Status<int> check_request(Dir dir, Permit permit, std::span<const std::byte> usr,
                              std::span<const fabric::Sge> data) const;
    void encode_header(RequestSlot& slot, Permit permit, std::span<const std::byte> usr);
    bool dispatch(Permit permit);
    Status<int> post_request(Lane& lane, Permit permit, RequestSlot& slot);
    void on_completion(LaneConn& conn, const fabric::Completion& completion);
    void on_imm(LaneConn& conn, const fabric::Completion& completion);
    void on_rkey_response(LaneConn& conn, const fabric::Completion& completion);
    Status<int> repost_recv(LaneConn& conn, const fabric::Completion& completion);
    void on_request_posted_done(Lane& lane, Permit permit);
    void on_response(Lane& lane, std::uint32_t msg_id, int status);
    void complete(Permit permit, int status);
    void finish(Permit permit, int status);
    // Held completions (copy_lifetime): released once their late copies cannot land.
    bool must_hold(const RequestSlot& request, int status) const;
    void release_held(Permit permit);
    void arm_hold_timer();
    void on_timer(std::uint64_t kind) override;
    void set_state(RequestSlot& request, RequestSlot::State to);
    void unfence(Permit permit);
    std::span<const PathView> path_views();

    fabric::Fabric& fabric_;
    ShardConfig config_;
    std::shared_ptr<ShardEvents> events_;
    Mailbox* home_;
    SessionParams params_;
    PermitPool permits_;
    std::vector<RequestSlot> slots_;
    RegisteredBuffer headers_;    // permit_count × max_hdr_size: user message + RTRS message
    RegisteredBuffer read_pool_;  // permit_count × max_io_size
    std::vector<std::unique_ptr<Lane>> lanes_;  // by path index, kMaxPathsPerSession
    std::uint32_t lanes_used_ = 0;  // 1 + the highest path index ever connected
    std::vector<PathView> path_views_;
    PathSelector selector_;
    PathWatcher* path_watcher_ = nullptr;
    Counters counters_;
    TimerSlots<1> hold_timer_;  // the earliest lands_by of a held request
};

}  // namespace ibnbd::ibtrs
