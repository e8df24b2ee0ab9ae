#include "fabric/sim/timers.hpp"

namespace ibnbd::fabric::sim {

TimerTable::Started TimerTable::start(const Armed& timer) {
    std::uint32_t slot = 0;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    Slot& entry = slots_[slot];
    entry.timer = timer;
    entry.armed = true;
    const TimerId id = (TimerId{entry.generation} << 32) | (TimerId{slot} + 1);
    return Started{id, slot, entry.generation};
}

bool TimerTable::cancel(TimerId id) {
    const auto low = static_cast<std::uint32_t>(id);
    if (low == 0) return false;
    const std::uint32_t slot = low - 1;
    const auto generation = static_cast<std::uint32_t>(id >> 32);
    if (slot >= slots_.size()) return false;
    const Slot& entry = slots_[slot];
    if (!entry.armed || entry.generation != generation) return false;
    release(slot);
    return true;
}

std::optional<TimerTable::Armed> TimerTable::take(std::uint32_t slot, std::uint32_t generation) {
    if (slot >= slots_.size()) return std::nullopt;
    const Slot& entry = slots_[slot];
    if (!entry.armed || entry.generation != generation) return std::nullopt;
    const Armed timer = entry.timer;
    release(slot);
    return timer;
}

void TimerTable::release(std::uint32_t slot) {
    Slot& entry = slots_[slot];
    entry.armed = false;
    ++entry.generation;
    free_.push_back(slot);
}

}  // namespace ibnbd::fabric::sim
