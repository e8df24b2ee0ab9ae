// The per-interval timeline of a run as CSV (ibtrs-sim --timeline): one row per interval of
// virtual time from the workload start, summed over every device.
//
// COLUMNS
//   t_ms         interval start (ms of virtual time since the workload started)
//   reads, writes, flushes, errors   IOs completed in the interval
//   iops         completions per second of virtual time
//   read_mib_s, write_mib_s          throughput
//   p50_us, p99_us, max_us           latency of the reads and writes completed in the interval
//   failovers, faults, path_changes  events in the interval
//   phase        safety, liveness, read-back or done
#pragma once

#include <cstdio>
#include <string>

#include "sim-scenarios/runner/histogram.hpp"
#include "sim-scenarios/runner/observer.hpp"

namespace ibnbd::scenario {

class Timeline final : public RunObserver {
public:
    Timeline(const std::string& path, Nanos interval);
    ~Timeline() override;
    Timeline(const Timeline&) = delete;
    Timeline& operator=(const Timeline&) = delete;

    bool ok() const { return out_ != nullptr; }

    void path_state(Nanos t, std::uint32_t, ibtrs::ClientPathState, ibtrs::ClientPathState, std::string_view) override;
    void failover(Nanos t, std::uint32_t, std::uint32_t, std::uint32_t) override;
    void fault(Nanos t, std::string_view, const std::vector<std::uint32_t>&) override;
    void phase(Nanos t, std::string_view name) override;
    void io_done(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint32_t length, int status,
                 Nanos latency) override;
    void finish(Nanos t) override;

private:
    struct Row {
        std::uint64_t reads = 0, writes = 0, flushes = 0, errors = 0;
        std::uint64_t read_bytes = 0, write_bytes = 0;
        std::uint64_t failovers = 0, faults = 0, path_changes = 0;
        Histogram latency;
    };

    // Moves to the interval holding `t`, writing every interval before it.
    bool advance(Nanos t);
    void write_row();

    std::FILE* out_ = nullptr;
    Nanos interval_;
    Nanos t0_ = 0;
    bool started_ = false;
    std::uint64_t index_ = 0;
    std::string phase_ = "safety";
    Row row_;
};

}  // namespace ibnbd::scenario
