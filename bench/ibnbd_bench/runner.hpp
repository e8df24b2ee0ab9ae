// Runs the workload against an engine: every job keeps iodepth IOs in flight from its own
// Workload; IOs are timed from submit to completion; verify reads check the pattern. Phases:
// prefill (verify only), ramp (IO not counted), measurement (runtime), drain (in-flight IO
// finishes; IO completing after the measurement window is not counted).
// Everything (slots, buffers, histograms, the completion list) is allocated before the first IO.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "bench/ibnbd_bench/engine.hpp"
#include "bench/ibnbd_bench/histogram.hpp"
#include "bench/ibnbd_bench/options.hpp"

namespace ibnbd::bench {

struct DirectionStats {
    std::uint64_t ios = 0;
    std::uint64_t bytes = 0;
    Histogram latency_ns;
};

// One progress interval (no histogram: the line shows the mean only).
struct IntervalStats {
    std::uint64_t ios = 0;
    std::uint64_t bytes = 0;
    std::uint64_t latency_sum_ns = 0;
};

struct RunResult {
    DirectionStats read, write;
    double measured_s = 0;              // the measurement window actually covered
    Region region;
    std::uint64_t prefill_bytes = 0;
    std::uint64_t io_errors = 0;
    std::string first_error;
    std::uint64_t verified_ios = 0;     // reads whose data was checked
    std::uint64_t verify_mismatches = 0;  // reads with at least one wrong byte
    std::string first_mismatch;
    bool interrupted = false;           // stopped early by `interrupt` (SIGINT)
};

// Errors: a sentence (open, limits or a stuck drain); IO errors and mismatches are in the result.
// `interrupt`, when set (from a signal handler), ends the run early: issuing stops, in-flight IO
// drains, and the result covers the time until then.
Expected<RunResult, std::string> run_benchmark(const Options& options, Engine& engine, CompletionList& done,
                                               const Geometry& geometry, const std::atomic<bool>* interrupt = nullptr);

// The region the jobs use, checked against the device. Errors: a sentence.
Expected<Region, std::string> plan_region(const Options& options, const Geometry& geometry);

}  // namespace ibnbd::bench
