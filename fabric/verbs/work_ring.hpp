// The posted work of one queue (send or receive) of one connection, allocated once when the
// connection is created. The verbs device already completes RC work in post order per queue; the
// ring adds what the fabric interface needs on top:
//   - exact capacity: a post beyond QueueSizes fails with queue_full even where the device
//     rounded its queue up;
//   - the posted opcode and length, because on an error completion verbs leaves ibv_wc.opcode and
//     byte_len undefined, and byte_len is undefined for sends and writes anyway;
//   - the backend's own flush: work the device never reports (a removed device, a drain that
//     timed out) is completed as flushed from the ring, in post order.
// A slot's wr_id is its index with the queue's tag in the top bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::verbs {

struct WorkSlot {
    Completion result;                // context and opcode set at post, the rest when done
    std::uint32_t posted_length = 0;  // sum of the local entries' lengths
    bool done = false;                // the device reported this work (result is final)
};

class WorkRing {
public:
    static constexpr std::uint64_t kRecvTag = std::uint64_t{1} << 63;

    WorkRing(std::uint32_t capacity, bool receive_queue);
    WorkRing(const WorkRing&) = delete;
    WorkRing& operator=(const WorkRing&) = delete;

    // Reserves the slot after the newest one; nullptr when the ring is full.
    WorkSlot* push(std::uint64_t context, Opcode opcode, std::uint32_t posted_length);
    // Releases the newest slot again (its post failed).
    void undo_push();
    // The wr_id to post the newest slot with.
    std::uint64_t newest_wr_id() const;
    // The posted slot named by `wr_id`, or nullptr if it is not one of this ring's posted slots.
    WorkSlot* find(std::uint64_t wr_id);
    // Marks every slot not yet done as flushed.
    void flush_all();

    bool empty() const { return count_ == 0; }
    std::size_t size() const { return count_; }
    WorkSlot& front() { return slots_[head_]; }
    bool front_done() const { return count_ != 0 && slots_[head_].done; }
    void pop();

private:
    std::size_t index_of(std::size_t position) const { return (head_ + position) % slots_.size(); }

    std::vector<WorkSlot> slots_;
    std::uint64_t tag_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

}  // namespace ibnbd::fabric::verbs
