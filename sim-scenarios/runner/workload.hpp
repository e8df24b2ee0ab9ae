// A verified block workload on one mapped device: reads, writes (some with FUA) and flushes of
// sizes drawn from a weighted distribution, at a fixed queue depth (and at most `rate` IOs
// started per second, when set), for a number of IOs or a virtual duration, over a region at the
// start of the device. Every IO goes through the data oracle (data_model.hpp) and the
// exactly-once check; after the main phase, readback() reads the whole region once more and
// checks every sector.
//
// ERRORS AND RETRIES
//     An IO refused at submission counts as an IO completed with that error, except -EAGAIN (the
//     session's request pool is full), which is back-pressure: nothing is counted. Either way
//     the workload retries after a delay on a timer of the client node (100us, doubling while
//     refusals go on, at most 10ms).
// LIMITS
//     Writes never overlap a write in flight (the oracle needs one writer per sector); reads may
//     overlap anything. Buffers (queue depth x the largest block size) are allocated once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fabric/fabric.hpp"
#include "fabric/sim/rng.hpp"
#include "ibnbd/client/block_device.hpp"
#include "sim-scenarios/runner/data_model.hpp"
#include "sim-scenarios/runner/histogram.hpp"
#include "sim-scenarios/runner/observer.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

struct WorkloadStats {
    std::uint64_t issued = 0;
    std::uint64_t completed = 0;      // including errors
    std::uint64_t reads = 0, writes = 0, fua_writes = 0, flushes = 0;  // successful
    std::uint64_t read_bytes = 0, write_bytes = 0;
    std::uint64_t errors = 0;         // completions with an error and refused submissions
    std::uint64_t busy_retries = 0;   // -EAGAIN refusals
    std::uint64_t readback_sectors = 0;
    int first_error = 0;
    Nanos max_stall = 0;              // longest time with IO in flight and none completing
    Histogram latency;                // reads and writes
};

class Workload final : public block::BlockIoHandler, private fabric::TimerHandler {
public:
    struct Options {
        WorkloadSpec spec;
        std::uint64_t region = 0;     // bytes
        std::uint32_t device = 0;     // index for observers
        std::string name;             // for messages
        std::uint64_t seed = 0;
    };

    Workload(fabric::Fabric& node, block::BlockDevice& device, DataModel& model, Options options,
             RunObserver& observer);
    ~Workload() override;
    Workload(const Workload&) = delete;
    Workload& operator=(const Workload&) = delete;

    // Starts issuing after spec.start (from now).
    void start();
    // The main phase is over (its IO count or duration reached) and nothing is in flight.
    bool main_done() const;
    // Starts reading the whole region back (after main_done()).
    void readback();
    bool readback_done() const { return readback_started_ && readback_next_ >= options_.region && outstanding_ == 0; }
    std::uint32_t outstanding() const { return outstanding_; }

    const WorkloadStats& stats() const { return stats_; }
    // Oracle violations: IOs completed twice or never, data a linearizable store cannot return.
    const std::vector<std::string>& violations() const { return violations_; }
    const Options& options() const { return options_; }
    // Ends the stall measurement at `now` for IO still in flight (at the end of a run).
    void close_stall(Nanos now);
    // The run is over: no more timers or IO; completions still arriving are ignored.
    void shutdown();

private:
    struct Slot {
        bool busy = false;
        std::uint32_t generation = 0;
        IoKind kind = IoKind::read;
        std::uint64_t first = 0;       // sector
        std::uint32_t sectors = 0;
        std::uint32_t version = 0;
        std::uint64_t crashes = 0;     // model crashes at issue
        std::uint64_t flush_mark = 0;
        Nanos started = 0;
        std::vector<std::byte> buffer;
        DataModel::ReadTicket ticket;
    };

    void on_block_io_complete(std::uint64_t cookie, int status) override;
    void on_timer(std::uint64_t cookie) override;

    void pump();
    bool may_issue() const;
    std::uint32_t free_slot() const;
    void issue_random(Slot& slot);
    void issue_readback(Slot& slot);
    void submit(std::uint32_t index, IoKind kind, std::uint64_t offset, std::uint32_t length);
    void refused(std::uint32_t index, int error);
    void finish(Slot& slot, int status);
    void account(const Slot& slot, int status, Nanos latency);
    void schedule_retry();
    bool paced();
    std::uint32_t draw_size();
    void violation(std::string what);

    block::DeviceIo& face(std::uint64_t issued);

    fabric::Fabric& node_;
    block::BlockDevice& device_;
    std::vector<std::shared_ptr<block::ShardDevice>> copies_;  // IO goes round the device and these
    DataModel& model_;
    Options options_;
    RunObserver& observer_;
    fabric::sim::Rng rng_;
    std::vector<Slot> slots_;
    std::uint32_t total_weight_ = 0;
    std::uint32_t outstanding_ = 0;
    Nanos stop_at_ = 0;
    Nanos started_at_ = 0;
    Nanos stall_since_ = 0;
    Nanos retry_delay_ = 0;
    fabric::TimerId timer_ = 0;
    bool started_ = false;
    bool readback_started_ = false;
    bool shut_down_ = false;
    std::uint64_t readback_next_ = 0;  // bytes
    std::uint32_t readback_size_ = 0;
    WorkloadStats stats_;
    std::vector<std::string> violations_;
};

}  // namespace ibnbd::scenario
