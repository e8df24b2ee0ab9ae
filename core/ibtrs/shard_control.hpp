// How a client session's control part talks to its IO shards (ARCHITECTURE.md, "Threads in the
// daemons"). A session has one IO shard per reactor: shard 0 runs on the session's own fabric,
// the others each on a fabric of their own, driven by another thread. Control (handshake on cid 0,
// heartbeats, path states, reconnect) stays with the session; each shard owns its share of the
// permits and, per path, its own IO connections. The two sides exchange the messages below; for
// a shard on another thread they travel as tasks through a Mailbox, otherwise they are calls.
//
// Either side must cope with an answer that arrives inside the call that caused it (the same
// thread) or much later (another thread), and must ignore reports of an older path generation.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/wire/rtrs.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

// Runs tasks on the thread that owns some objects: later than post(), in post order, each
// exactly once. Control messages only (a few per path event): never on the IO path. post() must
// not drop a task; an implementation that cannot deliver any more (shutdown) may discard them,
// and the objects they address must then be torn down on their own thread by other means.
class Mailbox {
public:
    virtual ~Mailbox() = default;
    virtual void post(std::function<void()> task) = 0;
};

// What the server told cid 0 (CONN_RSP): every shard sizes its pools from it.
struct SessionParams {
    std::uint32_t queue_depth = 0;
    std::uint32_t max_io_size = 0;
    std::uint32_t max_hdr_size = 0;
    bool operator==(const SessionParams&) const = default;
};

// Control -> shard: open this shard's IO connections of a path for one connection generation.
struct LaneConnect {
    std::uint32_t path = 0;
    std::uint16_t generation = 0;
    fabric::Address destination;
    fabric::Address source;
    wire::ConnReq request;        // cid_num, recon_cnt, uuids; cid is set per connection
    std::uint16_t first_cid = 1;  // this shard's cids are first_cid .. first_cid + cids - 1
    std::uint16_t cids = 1;
    SessionParams params;
    fabric::Nanos drain_timeout = 0;
    fabric::Nanos fence_timeout = 0;  // ClientConfig::fence_timeout
};

// Shard -> control. `shard` is the shard's index within its session.
class ShardEvents {
public:
    virtual ~ShardEvents() = default;
    // Every connection of LaneConnect is established and accepted by the server.
    virtual void on_lane_established(std::uint32_t shard, std::uint32_t path, std::uint16_t generation) = 0;
    // A connection of the lane failed (refused, unreachable, broken, a work error).
    virtual void on_lane_failed(std::uint32_t shard, std::uint32_t path, std::uint16_t generation,
                                std::string reason) = 0;
    // Answer to drain_lane(): every connection of the lane is flushed and closed, and its
    // requests were moved to other paths of the shard (or failed).
    virtual void on_lane_drained(std::uint32_t shard, std::uint32_t path, std::uint16_t generation) = 0;
    // `ios` requests of `from` went to `to` during that drain.
    virtual void on_lane_failover(std::uint32_t from, std::uint32_t to, std::uint32_t ios) = 0;
};

}  // namespace ibnbd::ibtrs
