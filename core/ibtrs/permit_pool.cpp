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

std::optional<Permit> PermitPool::get_or_wait(PermitWaiter& waiter) {
    assert(!waiter.waiting);
    if (first_waiter_ == nullptr) {
        if (auto permit = try_get()) return permit;
    }
    waiter.waiting = true;
    waiter.next_waiter = nullptr;
    if (last_waiter_) {
        last_waiter_->next_waiter = &waiter;
    } else {
        first_waiter_ = &waiter;
    }
    last_waiter_ = &waiter;
    return std::nullopt;
}

bool PermitPool::cancel_wait(PermitWaiter& waiter) {
    if (!waiter.waiting) return false;
    PermitWaiter* previous = nullptr;
    for (PermitWaiter* w = first_waiter_; w; previous = w, w = w->next_waiter) {
        if (w != &waiter) continue;
        (previous ? previous->next_waiter : first_waiter_) = w->next_waiter;
        if (last_waiter_ == w) last_waiter_ = previous;
        w->waiting = false;
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
    if (PermitWaiter* waiter = first_waiter_) {
        first_waiter_ = waiter->next_waiter;
        if (!first_waiter_) last_waiter_ = nullptr;
        waiter->waiting = false;
        waiter->on_permit(permit);  // ownership moves; the bit stays set
        return;
    }
    const Permit index = permit - base_;
    used_bits_[index / 64] &= ~(std::uint64_t{1} << (index % 64));
    in_use_.store(in_use() - 1, std::memory_order_relaxed);
}

}  // namespace ibnbd::ibtrs
