// The table of posted work of one endpoint queue (send or receive), allocated once when the
// endpoint is created. It exists because libfabric does not give verbs' guarantees:
//   - a slot's fi_context2 is the context handed to libfabric, so a completion (or an error
//     entry) names its slot exactly, and the caller's 64-bit context comes back unchanged;
//   - the queue is a ring in post order: completions are delivered from its front only, so they
//     reach the caller in post order even when the provider finishes work out of order (an RDMA
//     read waiting for its response while a later send is done);
//   - on disconnect the provider may discard posted work silently; the ring still knows every
//     unfinished slot and completes it as flushed, in post order;
//   - its capacity is the queue size, so a post beyond it fails with queue_full without asking
//     the provider.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <rdma/fabric.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::ofi {

struct WorkSlot {
    fi_context2 provider_context{};  // handed to libfabric as the operation's context
    Completion result;               // context and opcode set at post, the rest when done
    std::uint32_t posted_length = 0; // sum of the local entries' lengths
    bool done = false;               // the provider reported this work (result is final)
};

class WorkQueue {
public:
    explicit WorkQueue(std::uint32_t capacity);
    WorkQueue(const WorkQueue&) = delete;
    WorkQueue& operator=(const WorkQueue&) = delete;

    // Reserves the slot after the newest one; nullptr when the queue is full.
    WorkSlot* push(std::uint64_t context, Opcode opcode, std::uint32_t posted_length);
    // Releases the newest slot again (its post failed).
    void undo_push();
    // The slot whose provider_context is at `provider_context`, or nullptr if it is not a posted
    // slot of this queue.
    WorkSlot* find(void* provider_context);

    bool empty() const { return count_ == 0; }
    std::size_t size() const { return count_; }
    std::size_t capacity() const { return slots_.size(); }
    WorkSlot& front() { return slots_[head_]; }
    bool front_done() const { return count_ != 0 && slots_[head_].done; }
    void pop();

private:
    std::size_t index_of(std::size_t position) const { return (head_ + position) % slots_.size(); }
    bool is_posted(std::size_t index) const;

    std::vector<WorkSlot> slots_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

}  // namespace ibnbd::fabric::ofi
