// One run of a scenario with one seed: build the cluster, start the workloads, play the fault
// plan (the safety phase), heal everything (the liveness phase), wait for all IO and a full
// read-back of every region, check for leaks, then the expectations.
//
// ORACLES (always on; any failure fails the run)
//   - every IO completes exactly once (no double completion, none left when the deadline passes)
//   - every read returns what a linearizable block store could (data_model.hpp), including the
//     final read-back of every region; flushed and FUA data survive server crashes
//   - no permit, chunk or in-flight IO is left once everything is done (Cluster::leaks)
//   - all IO, the read-back included, finishes within expect.liveness_deadline after the last
//     fault ended, and every path is connected again by then (unless max_reconnect_attempts
//     bounds reconnecting)
// EXPECTATIONS (the scenario's `expect`): maximum IO errors, maximum IO stall, minimum failovers,
//   reconnects and remaps, no errors on devices whose session kept a path no fault touched.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/ibtrs/types.hpp"
#include "fabric/sim/trace.hpp"
#include "sim-scenarios/runner/histogram.hpp"
#include "sim-scenarios/runner/rogue.hpp"
#include "sim-scenarios/runner/spec.hpp"
#include "sim-scenarios/runner/workload.hpp"

namespace ibnbd::scenario {

struct RunOptions {
    std::uint64_t seed = 1;
    std::string trace_path;            // Chrome/Perfetto JSON; empty: none
    std::string timeline_path;         // CSV; empty: none
    Nanos timeline_interval = 10 * kMs;
    std::FILE* event_log = nullptr;    // every path, device, server and fault event, as it happens
    Nanos setup_timeout = 10 * kSec;
    // Called once the run's seed-derived choices are known, before the workload starts.
    std::function<void(const std::vector<std::string>&)> on_draws;
};

struct PathReport {
    std::string name;
    std::string state;
    ibtrs::PathStats stats;
};

struct DeviceReport {
    std::string name;
    bool has_workload = false;
    std::uint64_t remaps = 0;
    WorkloadStats stats;
};

struct RunResult {
    std::string scenario;
    std::uint64_t seed = 0;
    bool passed = false;
    std::vector<std::string> draws;     // every seed-derived choice
    std::vector<std::string> failures;  // oracle violations and unmet expectations
    std::uint64_t digest = 0;           // the simulator's trace digest
    Nanos faults_end = 0;               // virtual time from the workload start
    Nanos io_done = 0;                  // when the last IO (read-back included) completed
    Nanos virtual_time = 0;             // at the end of the run
    std::uint64_t ios = 0, reads = 0, writes = 0, flushes = 0, errors = 0;
    std::uint64_t read_bytes = 0, write_bytes = 0, readback_sectors = 0;
    std::uint64_t failovers = 0;        // failover events (a path's requests moved to another)
    std::uint64_t failovered_ios = 0, reconnects = 0, remaps = 0, server_crashes = 0;
    Nanos max_stall = 0;
    Histogram latency;
    std::vector<PathReport> paths;
    std::vector<DeviceReport> devices;
    RogueStats rogue;
    fabric::sim::WorldStats world;
};

RunResult run_scenario(const Scenario& scenario, const RunOptions& options);

}  // namespace ibnbd::scenario
