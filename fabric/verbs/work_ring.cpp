#include "fabric/verbs/work_ring.hpp"

#include <cassert>

namespace ibnbd::fabric::verbs {

WorkRing::WorkRing(std::uint32_t capacity, bool receive_queue)
    : slots_(capacity), tag_(receive_queue ? kRecvTag : 0) {
    assert(capacity > 0);
}

WorkSlot* WorkRing::push(std::uint64_t context, Opcode opcode, std::uint32_t posted_length) {
    if (count_ == slots_.size()) return nullptr;
    WorkSlot& slot = slots_[index_of(count_)];
    ++count_;
    slot.result = Completion{};
    slot.result.context = context;
    slot.result.opcode = opcode;
    slot.posted_length = posted_length;
    slot.done = false;
    return &slot;
}

void WorkRing::undo_push() {
    assert(count_ > 0);
    --count_;
}

std::uint64_t WorkRing::newest_wr_id() const {
    assert(count_ > 0);
    return tag_ | index_of(count_ - 1);
}

WorkSlot* WorkRing::find(std::uint64_t wr_id) {
    if ((wr_id & kRecvTag) != tag_) return nullptr;
    const std::uint64_t index = wr_id & ~kRecvTag;
    if (index >= slots_.size()) return nullptr;
    const std::size_t position = (index + slots_.size() - head_) % slots_.size();
    return position < count_ ? &slots_[index] : nullptr;
}

void WorkRing::flush_all() {
    for (std::size_t position = 0; position < count_; ++position) {
        WorkSlot& slot = slots_[index_of(position)];
        if (slot.done) continue;
        const Completion posted = slot.result;
        slot.result = Completion{};
        slot.result.context = posted.context;
        slot.result.opcode = posted.opcode;
        slot.result.status = WcStatus::flushed;
        slot.done = true;
    }
}

void WorkRing::pop() {
    assert(count_ > 0);
    head_ = (head_ + 1) % slots_.size();
    --count_;
}

}  // namespace ibnbd::fabric::verbs
