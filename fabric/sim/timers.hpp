// One-shot timers of every node, in one table.
//
// A TimerId packs (generation << 32 | slot + 1): never 0, and a cancelled or fired timer's id
// stops matching its slot as soon as the slot's generation moves on, so cancel() of a stale id is
// a safe no-op. Each timer remembers its node's incarnation: timers of a node that crashed (or
// restarted) since they were started never fire.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::sim {

class TimerTable {
public:
    struct Armed {
        TimerHandler* handler;
        std::uint64_t cookie;
        std::uint32_t node;
        std::uint64_t incarnation;
    };
    struct Started {
        TimerId id;
        std::uint32_t slot;
        std::uint32_t generation;
    };

    Started start(const Armed& timer);
    // Disarms `id`; false if it already fired, was cancelled or never existed.
    bool cancel(TimerId id);
    // Disarms and returns the timer a queued event names, if it is still armed.
    std::optional<Armed> take(std::uint32_t slot, std::uint32_t generation);
    std::size_t armed() const { return slots_.size() - free_.size(); }
    // True if a queued event naming (slot, generation) would still fire.
    bool armed_as(std::uint32_t slot, std::uint32_t generation) const {
        return slot < slots_.size() && slots_[slot].armed && slots_[slot].generation == generation;
    }

private:
    struct Slot {
        Armed timer{};
        std::uint32_t generation = 1;
        bool armed = false;
    };
    void release(std::uint32_t slot);

    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
};

}  // namespace ibnbd::fabric::sim
