// A device of the memory backend: operations on a MemoryStore, completed by fabric timers.
//
// NAME
//     ibnbd::storage::memory::MemoryDevice - storage::Device over a MemoryStore.
//
// DESCRIPTION
//     submit() validates (storage::validate, plus the store's current read-only state), takes a
//     slot of the pending pool (allocated when the device is opened; no allocation per operation),
//     decides an injected error if a rule matches, and starts a timer on the node for
//     latency = the store's fixed latency + a uniform draw in [0, jitter] from node.random_u64()
//     (no draw when jitter is 0). Nothing happens before that timer fires: then reads copy out,
//     writes copy in, flushes make durable what they cover (MemoryStore), and the handler runs.
//     With jitter, operations may complete in any order, like a real disk queue.
//
// ERRORS
//     submit(): those of storage::validate; -EROFS also when the store was made read-only after
//     the open; -EAGAIN when `queue_depth` operations are in flight.
//     completion: an injected errno; -EIO for an operation submitted before the store crashed.
//
// DESTRUCTION WITH OPERATIONS IN FLIGHT
//     storage::Device forbids it, with one exception here: when the node crashed, its timers never
//     fire, so the operations can never complete and whoever owns the device throws it away with
//     them. The destructor then abandons them: their timers are cancelled, they never complete and
//     never take effect (counted by MemoryStore::abandoned()). fabric::Fabric cannot tell a crashed
//     node from a live one, so this is not asserted; on a live node it loses the completions.
#pragma once

#include <cstdint>
#include <vector>

#include "fabric/fabric.hpp"
#include "ibnbd/storage/device.hpp"
#include "ibnbd/storage/memory/memory_store.hpp"

namespace ibnbd::storage::memory {

class MemoryDevice final : public Device, private fabric::TimerHandler {
public:
    // `node` and `store` must outlive the device.
    MemoryDevice(fabric::Fabric& node, MemoryStore& store, bool writable, std::uint32_t queue_depth);
    ~MemoryDevice() override;
    MemoryDevice(const MemoryDevice&) = delete;
    MemoryDevice& operator=(const MemoryDevice&) = delete;

    const Geometry& geometry() const override { return geometry_; }
    Identity identity() const override { return store_.identity(); }
    Status<int> submit(const Request& request, CompletionHandler& handler, std::uint64_t cookie) override;
    std::uint32_t inflight() const override { return static_cast<std::uint32_t>(slots_.size() - free_.size()); }

    MemoryStore& store() const { return store_; }

private:
    struct Pending {
        Request request;
        CompletionHandler* handler = nullptr;
        std::uint64_t cookie = 0;
        fabric::TimerId timer = 0;
        std::uint64_t epoch = 0;        // the store's power cycle at submission
        std::uint64_t flush_mark = 0;   // for flush and preflush
        int injected = 0;
        bool flushes = false;
        bool in_use = false;
    };

    void on_timer(std::uint64_t slot) override;
    // Applies a completed operation to the store; returns its status.
    int complete(const Pending& op);
    void apply(const Request& request);
    fabric::Nanos draw_latency();

    fabric::Fabric& node_;
    MemoryStore& store_;
    Geometry geometry_;
    std::vector<Pending> slots_;
    std::vector<std::uint32_t> free_;
};

}  // namespace ibnbd::storage::memory
