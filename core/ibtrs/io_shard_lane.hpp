// Internal to IoShard: a lane is one path as one shard sees it (its IO connections of the path).
#pragma once

#include <memory>
#include <vector>

#include "core/ibtrs/io_shard.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "core/ibtrs/timer_slots.hpp"

namespace ibnbd::ibtrs {

struct IoShard::LaneConn final : fabric::EndpointHandler {
    LaneConn(Lane& owner, std::uint16_t cid) : lane(owner), cid(cid) {}
    void on_completion(const fabric::Completion& completion) override;
    void on_cm_event(const fabric::CmEvent& event) override;

    Lane& lane;
    const std::uint16_t cid;
    std::unique_ptr<fabric::Endpoint> endpoint;
    bool established = false;
    bool drained = false;
    // The server sends each response as a send-with-immediate carrying the chunk's next key
    // (RKEY_RSP; its accept had NEW_RKEY_F): one 8-byte receive buffer per permit.
    RegisteredBuffer rkey_buffers;
};

struct IoShard::Lane final : fabric::TimerHandler {
    // idle: no connections. connecting: connect_lane() is opening them. established: all up,
    // waiting for lane_up(). up: carries IO. failed: a connection broke; waiting for drain_lane().
    // draining: flushing before failover.
    enum class State : std::uint8_t { idle, connecting, established, up, failed, draining };
    // fence_timer: from the first drain since the lane was last up, ClientConfig::fence_timeout.
    enum TimerKind : std::uint64_t { drain_timer, deferred_fail_timer, fence_timer, timer_kinds };

    Lane(IoShard& owner, std::uint32_t path) : shard(owner), path(path), timers(owner.fabric_, *this) {}
    void on_timer(std::uint64_t kind) override {
        timers.fired(kind);
        shard.on_lane_timer(*this, kind);
    }

    IoShard& shard;
    const std::uint32_t path;
    State state = State::idle;
    std::uint16_t generation = 0;
    LaneConnect connect;  // of the current generation
    std::vector<std::unique_ptr<LaneConn>> conns;
    std::vector<wire::RemoteChunk> chunks;
    std::uint32_t drain_pending = 0;
    fabric::Nanos latency = 0;
    TimerSlots<timer_kinds> timers;
    LaneCounters counters;
};

}  // namespace ibnbd::ibtrs
