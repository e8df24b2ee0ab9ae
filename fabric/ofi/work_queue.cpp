#include "fabric/ofi/work_queue.hpp"

#include <cassert>
#include <cstddef>

namespace ibnbd::fabric::ofi {

// find() relies on a slot and its provider context sharing one address.
static_assert(offsetof(WorkSlot, provider_context) == 0);

WorkQueue::WorkQueue(std::uint32_t capacity) : slots_(capacity) {
    assert(capacity > 0);
}

WorkSlot* WorkQueue::push(std::uint64_t context, Opcode opcode, std::uint32_t posted_length) {
    if (count_ == slots_.size()) return nullptr;
    WorkSlot& slot = slots_[index_of(count_)];
    ++count_;
    slot.provider_context = fi_context2{};
    slot.result = Completion{};
    slot.result.context = context;
    slot.result.opcode = opcode;
    slot.posted_length = posted_length;
    slot.done = false;
    return &slot;
}

void WorkQueue::undo_push() {
    assert(count_ > 0);
    --count_;
}

bool WorkQueue::is_posted(std::size_t index) const {
    const std::size_t position = (index + slots_.size() - head_) % slots_.size();
    return position < count_;
}

WorkSlot* WorkQueue::find(void* provider_context) {
    if (provider_context == nullptr || slots_.empty()) return nullptr;
    const auto* base = reinterpret_cast<const std::byte*>(slots_.data());
    const auto* target = static_cast<const std::byte*>(provider_context);
    const auto offset = target - base;
    const auto span = static_cast<std::ptrdiff_t>(slots_.size() * sizeof(WorkSlot));
    if (target < base || offset >= span) return nullptr;
    if (offset % static_cast<std::ptrdiff_t>(sizeof(WorkSlot)) != 0) return nullptr;
    const auto index = static_cast<std::size_t>(offset) / sizeof(WorkSlot);
    return is_posted(index) ? &slots_[index] : nullptr;
}

void WorkQueue::pop() {
    assert(count_ > 0);
    head_ = (head_ + 1) % slots_.size();
    --count_;
}

}  // namespace ibnbd::fabric::ofi
