// The state of one simulated connection (one side of an RC queue pair), and the table that owns
// them.
//
// Events refer to connections by handle (slot, generation), never by pointer: when user code
// destroys an Endpoint its slot's generation moves on, and every event still queued for it is
// recognised as stale and dropped. Slots are reused in a deterministic order (a LIFO free list).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "fabric/fabric.hpp"
#include "fabric/sim/link.hpp"
#include "fabric/sim/work_queue.hpp"

namespace ibnbd::fabric::sim {

class Node;

struct EndpointHandle {
    static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
    std::uint32_t slot = kNone;
    std::uint32_t generation = 0;
    bool valid() const { return slot != kNone; }
};

enum class ConnState : std::uint8_t {
    connecting,  // active side: request sent, no answer yet
    accepted,    // passive side: accepted, waiting for the ready-to-use (data arriving first
                 // establishes it, as rdma_cm does on the first message before the RTU)
    connected,   // both queues usable
    closing,     // broken: a flush event will complete everything posted, then the final event
    closed,      // the final CM event (disconnected, rejected, unreachable) was delivered
    dead,        // its node crashed: inert, silent
};

struct Connection {
    std::uint32_t generation = 1;
    bool in_use = false;
    std::uint64_t id = 0;  // world-unique, for traces
    EndpointHandle self;
    Node* node = nullptr;
    EndpointHandler* handler = nullptr;
    ConnState state = ConnState::closed;
    EndpointHandle peer;  // the other side, once known
    Node* peer_node = nullptr;
    Link* link = nullptr;
    std::uint8_t tx = 0;  // link direction this side sends on
    Address local_address;
    Address peer_address;
    Ring<SendWr> sends;
    Ring<RecvWr> recvs;
    std::uint64_t next_delivery = 0;  // first send sequence number not yet executed at the target
    Nanos last_tx_arrival = 0;        // keeps this side's messages in order under jitter
    Nanos last_ack_arrival = 0;       // keeps acknowledgements to this side in order
    bool peer_told = false;           // a disconnect request went to the peer
    bool peer_closed = false;         // the peer said it is gone

    std::uint8_t rx() const { return static_cast<std::uint8_t>(1 - tx); }
    LinkDirection& tx_direction() const { return link->direction(tx); }
    LinkDirection& rx_direction() const { return link->direction(rx()); }
};

class ConnectionTable {
public:
    // A fresh connection record with its handle and id set and its queues sized.
    Connection& allocate(QueueSizes queues);
    // The live record of `handle`, or nullptr once it was released.
    Connection* get(EndpointHandle handle) {
        if (handle.slot >= slots_.size()) return nullptr;
        Connection& connection = slots_[handle.slot];
        return connection.in_use && connection.generation == handle.generation ? &connection : nullptr;
    }
    void release(EndpointHandle handle);

    template <class Visit>
    void for_each(Visit visit) {
        for (Connection& connection : slots_) {
            if (connection.in_use) visit(connection);
        }
    }

private:
    std::deque<Connection> slots_;  // a deque keeps references stable while it grows
    std::vector<std::uint32_t> free_;
    std::uint64_t next_id_ = 1;
};

}  // namespace ibnbd::fabric::sim
