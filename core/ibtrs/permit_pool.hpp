// Permits (docs/protocol.md §1.7.1): one per server chunk, so at most queue_depth requests are in
// flight per session and chunk N is used by one request at a time. The kernel shares one pool
// among all CPUs; here each IO shard of a session has a pool of its own over a contiguous share
// of the chunks (no lock between reactors). A pool is sized once; getting and putting a permit
// never allocates.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

namespace ibnbd::ibtrs {

using Permit = std::uint32_t;  // the chunk index, 0..queue_depth-1

// Whoever queues for a permit (the "queue" form). Intrusive: the pool links entries through
// `next_queued`, so queueing allocates nothing. An entry is queued for one permit at a time.
class PermitQueueEntry {
public:
    virtual ~PermitQueueEntry() = default;
    // Called from put() with a permit that now belongs to the entry.
    virtual void on_permit(Permit permit) = 0;

private:
    friend class PermitPool;
    PermitQueueEntry* next_queued = nullptr;
    bool queued = false;
};

class PermitPool {
public:
    PermitPool() = default;
    explicit PermitPool(std::uint32_t count) { resize(count); }

    // Sizes the pool to permits base .. base + count - 1; only while no permit is in use (setup).
    void resize(std::uint32_t count, Permit base = 0);

    // The no-queue form: the lowest free permit, or nullopt when all are in use.
    std::optional<Permit> try_get();
    // The queue form: a permit now if one is free; otherwise `entry` is queued (FIFO) and gets
    // one through on_permit() when it is put back.
    std::optional<Permit> get_or_queue(PermitQueueEntry& entry);
    // Removes a queued entry; false if it was not queued.
    bool cancel_queued(PermitQueueEntry& entry);
    // Returns a permit; hands it straight to the first queued entry if there is one.
    void put(Permit permit);

    std::uint32_t capacity() const { return capacity_; }
    Permit base() const { return base_; }
    // Any thread may read it (the pool's own thread writes it).
    std::uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
    bool is_used(Permit permit) const;

private:
    std::vector<std::uint64_t> used_bits_;
    std::uint32_t capacity_ = 0;
    Permit base_ = 0;
    std::atomic<std::uint32_t> in_use_{0};
    PermitQueueEntry* queue_head_ = nullptr;
    PermitQueueEntry* queue_tail_ = nullptr;
};

}  // namespace ibnbd::ibtrs
