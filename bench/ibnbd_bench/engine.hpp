// What the runner needs from a target kind: open it, submit one IO of one job's slot, make
// progress. Completions are appended to a list the runner owns and drains after poll(), so no
// engine ever calls back into the runner from inside a library callback (libnbd forbids calls on
// a handle from its callbacks; the IBNBD client would re-enter itself).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/ibnbd_bench/workload.hpp"
#include "fabric/expected.hpp"

namespace ibnbd::bench {

inline std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

struct Geometry {
    std::uint64_t size = 0;                // bytes
    std::uint32_t block_size = 512;        // offsets and lengths must be multiples of it
    std::uint32_t max_io = 0;              // bytes per IO; 0: no limit the engine knows of
    std::uint32_t max_inflight = 0;        // IOs in flight over all jobs; 0: no limit
    std::string description;               // e.g. "ofi:tcp, 2 paths, queue depth 128"
};

struct EngineSetup {
    std::uint32_t jobs = 1;
    std::uint32_t slots_per_job = 1;
    bool writable = false;
};

struct Completed {
    std::uint32_t job = 0;
    std::uint32_t slot = 0;
    int status = 0;                        // 0 or -errno
    std::uint64_t end_ns = 0;
};

// Fixed capacity (every slot of every job at most once), so pushing never allocates.
class CompletionList {
public:
    void reserve(std::size_t capacity) { items_.reserve(capacity); }
    void push(std::uint32_t job, std::uint32_t slot, int status) { items_.push_back({job, slot, status, now_ns()}); }
    const std::vector<Completed>& items() const { return items_; }
    void clear() { items_.clear(); }

private:
    std::vector<Completed> items_;
};

class Engine {
public:
    virtual ~Engine() = default;
    // Connects and opens the device; blocks up to the connect timeout. Errors: a sentence.
    virtual Expected<Geometry, std::string> open(const EngineSetup& setup) = 0;
    // Starts one IO into or from `buffer` (io.length bytes). 0, or -errno when it could not start.
    virtual int submit(std::uint32_t job, std::uint32_t slot, const IoSpec& io, std::byte* buffer) = 0;
    // Makes progress; finished IOs go to the CompletionList the engine was made with (possibly
    // also during submit()). With may_block it may wait briefly (a few milliseconds) for work.
    virtual void poll(bool may_block) = 0;
    // Closes the device and the connections (after every IO has completed).
    virtual void close() = 0;
};

}  // namespace ibnbd::bench
