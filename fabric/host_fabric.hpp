// What every backend on real hardware shares: the host's monotonic clock, one-shot timers kept in
// a heap (fired from the backend's poll()), and an OS-seeded random stream. The simulator has its
// own virtual versions of all three.
#pragma once

#include <random>

#include "fabric/fabric.hpp"
#include "fabric/timer_heap.hpp"

namespace ibnbd::fabric {

// The host's monotonic clock (steady_clock), in nanoseconds.
Nanos monotonic_now();

class HostFabric : public Fabric {
public:
    Nanos now() const override { return monotonic_now(); }
    TimerId start_timer(Nanos delay, TimerHandler& handler, std::uint64_t cookie) override {
        return timers_.start(now() + delay, handler, cookie);
    }
    bool cancel_timer(TimerId id) override { return timers_.cancel(id); }
    std::uint64_t random_u64() override { return random_(); }
    // The earliest pending timer's deadline (in now() time), or 0 when none is pending; for
    // reactors that want to sleep until then.
    Nanos next_timer_deadline() { return timers_.next_deadline(); }

protected:
    HostFabric();
    // Runs up to `budget` expired timers; returns how many ran. Backends call it from poll().
    std::size_t fire_timers(std::size_t budget) { return timers_.fire_expired(now(), budget); }

private:
    TimerHeap timers_;
    std::mt19937_64 random_;
};

}  // namespace ibnbd::fabric
