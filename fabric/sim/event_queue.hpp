// The world's one event queue: a binary min-heap ordered by (time, sequence number).
//
// Events are small PODs kept inline in the heap, so scheduling allocates nothing once the heap's
// vector has grown to the working set. The sequence number is assigned at push time and makes the
// order total: events due at the same virtual time run in the order they were scheduled, which is
// what makes equal-deadline timers fire in start order and a run reproducible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::sim {

enum class EventKind : std::uint8_t {
    timer,        // slot/generation: timer table entry
    arrive,       // slot/generation: initiator connection; value: send sequence number
    ack,          // slot/generation: initiator connection; value: send sequence number
    retransmit,   // slot/generation: initiator connection; value: send sequence number
    flush,        // slot/generation: connection; code: final CmEventType; value: CM message or none
    cm_message,   // value: index of the CM message in the pool
    cm_timeout,   // slot/generation: connection waiting for the CM
};

// 32 bytes: the kind and code ride in the low bits of `order`, under the sequence number, so one
// comparison of (time, order) sorts by (time, sequence).
struct Event {
    Nanos time = 0;
    std::uint64_t order = 0;  // sequence << 16 | kind << 8 | code
    std::uint64_t value = 0;
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;

    static Event make(Nanos time, EventKind kind, std::uint32_t slot, std::uint32_t generation,
                      std::uint64_t value, std::uint8_t code = 0) {
        Event event;
        event.time = time;
        event.order = (std::uint64_t{static_cast<std::uint8_t>(kind)} << 8) | code;
        event.value = value;
        event.slot = slot;
        event.generation = generation;
        return event;
    }
    EventKind kind() const { return static_cast<EventKind>((order >> 8) & 0xFF); }
    std::uint8_t code() const { return static_cast<std::uint8_t>(order & 0xFF); }
    std::uint64_t sequence() const { return order >> 16; }
};

class EventQueue {
public:
    // Schedules `event` at event.time; the sequence number is assigned here (2^48 per run).
    void push(Event event);
    bool empty() const { return heap_.empty(); }
    std::size_t size() const { return heap_.size(); }
    // Time of the earliest event; the queue must not be empty.
    Nanos next_time() const;
    // Removes and returns the earliest event; the queue must not be empty.
    Event pop();
    // Drops every queued event for which stale(event) holds, in O(size). Used to shed cancelled
    // timers in bulk; the order of the remaining events is unchanged.
    template <class Predicate>
    void remove_if(Predicate stale) {
        std::erase_if(heap_, stale);
        rebuild();
    }

private:
    void rebuild();

    std::vector<Event> heap_;
    std::uint64_t next_sequence_ = 0;
};

}  // namespace ibnbd::fabric::sim
