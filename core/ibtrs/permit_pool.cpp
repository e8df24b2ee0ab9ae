#include "core/ibtrs/permit_pool.hpp"

#include <bit>
#include <cassert>

namespace ibnbd::ibtrs {

void PermitPool::resize(std::uint32_t count, Permit base) {
    assert(in_use() == 0);
    capacity_ = count;
    base_ = base;
    used_bits_.assign((count + 63) / 64, 0);
}

std::optional<Permit> PermitPool::try_get() {
    for (std::size_t word = 0; word < used_bits_.size(); ++word) {
        const std::uint64_t free_bits = ~used_bits_[word];
        if (free_bits == 0) continue;
        const auto bit = static_cast<std::uint32_t>(std::countr_zero(free_bits));
        const auto permit = static_cast<Permit>(word * 64 + bit);
        if (permit >= capacity_) return std::nullopt;
        used_bits_[word] |= std::uint64_t{1} << bit;
        in_use_.store(in_use() + 1, std::memory_order_relaxed);
        return base_ + permit;
    }
    return std::nullopt;
}

std::optional<Permit> PermitPool::get_or_queue(PermitQueueEntry& entry) {
    assert(!entry.queued);
    if (queue_head_ == nullptr) {
        if (auto permit = try_get()) return permit;
    }
    entry.queued = true;
    entry.next_queued = nullptr;
    if (queue_tail_) {
        queue_tail_->next_queued = &entry;
    } else {
        queue_head_ = &entry;
    }
    queue_tail_ = &entry;
    return std::nullopt;
}

bool PermitPool::cancel_queued(PermitQueueEntry& entry) {
    if (!entry.queued) return false;
    PermitQueueEntry* previous = nullptr;
    for (PermitQueueEntry* w = queue_head_; w; previous = w, w = w->next_queued) {
        if (w != &entry) continue;
        (previous ? previous->next_queued : queue_head_) = w->next_queued;
        if (queue_tail_ == w) queue_tail_ = previous;
        w->queued = false;
        return true;
    }
    return false;
}

bool PermitPool::is_used(Permit permit) const {
    const Permit index = permit - base_;
    return index < capacity_ && (used_bits_[index / 64] >> (index % 64)) & 1;
}

void PermitPool::put(Permit permit) {
    assert(is_used(permit));
    if (PermitQueueEntry* first = queue_head_) {
        queue_head_ = first->next_queued;
        if (!queue_head_) queue_tail_ = nullptr;
        first->queued = false;
        first->on_permit(permit);  // ownership moves; the bit stays set
        return;
    }
    const Permit index = permit - base_;
    used_bits_[index / 64] &= ~(std::uint64_t{1} << (index % 64));
    in_use_.store(in_use() - 1, std::memory_order_relaxed);
}

}  // namespace ibnbd::ibtrs
