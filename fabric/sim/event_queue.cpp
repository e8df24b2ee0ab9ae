#include "fabric/sim/event_queue.hpp"

#include <algorithm>
#include <cassert>

namespace ibnbd::fabric::sim {
namespace {

inline bool earlier(const Event& a, const Event& b) {
    return a.time < b.time || (a.time == b.time && a.order < b.order);
}

}  // namespace

// A hand-written binary heap: moving a hole instead of swapping, with the comparison inlined,
// halves the cost of std::push_heap/pop_heap with a function-pointer comparator (the queue is the
// simulator's hottest code).
void EventQueue::push(Event event) {
    event.order = (next_sequence_++ << 16) | (event.order & 0xFFFF);
    std::size_t hole = heap_.size();
    heap_.emplace_back();
    while (hole > 0) {
        const std::size_t parent = (hole - 1) / 2;
        if (!earlier(event, heap_[parent])) break;
        heap_[hole] = heap_[parent];
        hole = parent;
    }
    heap_[hole] = event;
}

Nanos EventQueue::next_time() const {
    assert(!heap_.empty());
    return heap_.front().time;
}

Event EventQueue::pop() {
    assert(!heap_.empty());
    const Event top = heap_.front();
    const Event last = heap_.back();
    heap_.pop_back();
    const std::size_t size = heap_.size();
    if (size == 0) return top;
    std::size_t hole = 0;
    for (;;) {
        std::size_t child = 2 * hole + 1;
        if (child >= size) break;
        if (child + 1 < size && earlier(heap_[child + 1], heap_[child])) ++child;
        if (!earlier(heap_[child], last)) break;
        heap_[hole] = heap_[child];
        hole = child;
    }
    heap_[hole] = last;
    return top;
}

void EventQueue::rebuild() {
    std::make_heap(heap_.begin(), heap_.end(), [](const Event& a, const Event& b) { return earlier(b, a); });
}

}  // namespace ibnbd::fabric::sim
