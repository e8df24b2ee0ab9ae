// One-shot timers on a min-heap, for backends that run on the real clock.
//
// Timers fire in deadline order, equal deadlines in start order. Cancelling removes the timer from
// the live table at once; its heap entry is dropped lazily when it reaches the top. start() costs
// one heap push and one hash insertion (it allocates); fire_expired() never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric {

class TimerHeap {
public:
    // Returns the new timer's id (never 0).
    TimerId start(Nanos deadline, TimerHandler& handler, std::uint64_t cookie);
    // False if the timer already fired, was cancelled or is unknown.
    bool cancel(TimerId id);
    // Runs up to `budget` timers whose deadline is <= now; returns how many ran. A handler may
    // start or cancel timers; timers it starts that are already due run in the same call.
    std::size_t fire_expired(Nanos now, std::size_t budget);
    // Deadline of the earliest live timer, or 0 when none is pending.
    Nanos next_deadline();
    std::size_t pending() const { return live_.size(); }

private:
    struct HeapEntry {
        Nanos deadline;
        TimerId id;  // ids grow with start order, so they break deadline ties
    };
    struct LiveTimer {
        TimerHandler* handler;
        std::uint64_t cookie;
    };
    static bool later(const HeapEntry& a, const HeapEntry& b);
    void drop_cancelled_top();

    std::vector<HeapEntry> heap_;
    std::unordered_map<TimerId, LiveTimer> live_;
    TimerId next_id_ = 1;
};

}  // namespace ibnbd::fabric
