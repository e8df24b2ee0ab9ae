// A fixed set of named one-shot timers of one owner: at most one pending timer per kind, so
// restarting a kind cancels its previous instance. Cancels everything on destruction.
#pragma once

#include <array>
#include <cstdint>

#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

template <std::size_t Kinds>
class TimerSlots {
public:
    TimerSlots(fabric::Fabric& fabric, fabric::TimerHandler& owner) : fabric_(fabric), owner_(owner) {}
    ~TimerSlots() {
        for (std::size_t kind = 0; kind < Kinds; ++kind) cancel(kind);
    }
    TimerSlots(const TimerSlots&) = delete;
    TimerSlots& operator=(const TimerSlots&) = delete;

    // The owner's on_timer(kind) runs after `delay`.
    void start(std::size_t kind, fabric::Nanos delay) {
        cancel(kind);
        ids_[kind] = fabric_.start_timer(delay, owner_, kind);
    }
    void cancel(std::size_t kind) {
        if (ids_[kind] != 0) fabric_.cancel_timer(ids_[kind]);
        ids_[kind] = 0;
    }
    bool pending(std::size_t kind) const { return ids_[kind] != 0; }
    // Call first thing in on_timer(kind): that timer is no longer pending.
    void fired(std::size_t kind) { ids_[kind] = 0; }

private:
    fabric::Fabric& fabric_;
    fabric::TimerHandler& owner_;
    std::array<fabric::TimerId, Kinds> ids_{};
};

}  // namespace ibnbd::ibtrs
