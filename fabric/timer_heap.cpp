#include "fabric/timer_heap.hpp"

#include <algorithm>

namespace ibnbd::fabric {

bool TimerHeap::later(const HeapEntry& a, const HeapEntry& b) {
    return a.deadline != b.deadline ? a.deadline > b.deadline : a.id > b.id;
}

TimerId TimerHeap::start(Nanos deadline, TimerHandler& handler, std::uint64_t cookie) {
    const TimerId id = next_id_++;
    live_.emplace(id, LiveTimer{&handler, cookie});
    heap_.push_back(HeapEntry{deadline, id});
    std::push_heap(heap_.begin(), heap_.end(), later);
    return id;
}

bool TimerHeap::cancel(TimerId id) {
    return live_.erase(id) == 1;
}

void TimerHeap::drop_cancelled_top() {
    while (!heap_.empty() && !live_.contains(heap_.front().id)) {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        heap_.pop_back();
    }
}

std::size_t TimerHeap::fire_expired(Nanos now, std::size_t budget) {
    std::size_t fired = 0;
    while (fired < budget) {
        drop_cancelled_top();
        if (heap_.empty() || heap_.front().deadline > now) break;
        const TimerId id = heap_.front().id;
        std::pop_heap(heap_.begin(), heap_.end(), later);
        heap_.pop_back();
        const auto found = live_.find(id);
        const LiveTimer timer = found->second;
        live_.erase(found);
        ++fired;
        timer.handler->on_timer(timer.cookie);
    }
    return fired;
}

Nanos TimerHeap::next_deadline() {
    drop_cancelled_top();
    return heap_.empty() ? 0 : heap_.front().deadline;
}

}  // namespace ibnbd::fabric
