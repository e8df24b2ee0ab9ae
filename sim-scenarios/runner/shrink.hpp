// Shrinking a failing run (`ibtrs-sim run ... --seed N --shrink`): the smallest scenario found
// that, run with the same seed, still fails with the same kind of failure.
//
// HOW
//     Greedy passes, each candidate a full re-run of the deterministic simulation: remove faults
//     one by one, then workloads, clients, sessions, devices, paths and servers; then halve IO
//     counts, queue depths, fault durations and start times; then simplify settings (one IO
//     shard, connection and server reactor) and workloads (one block size, no flushes or FUA).
//     A candidate is kept when its failures include the original's kind (failure_kind()); the
//     passes repeat until one changes nothing or the run budget is spent.
// LIMITS
//     At most `max_runs` runs (each bounded by the scenario's liveness deadline). The result is a
//     local minimum: removing any single element, or halving any single number, no longer fails
//     the same way (unless the budget ran out first).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "sim-scenarios/runner/runner.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

// The class of a failure message: the oracle or expectation that fired (with the errno for IO
// failed with a usable path), without the numbers and names of this run, e.g. "data",
// "usable path: ETIMEDOUT", "leak", "liveness", "expectation: IO errors".
std::string failure_kind(const std::string& failure);

struct ShrinkOptions {
    std::uint64_t seed = 1;
    std::uint32_t max_runs = 200;
    std::function<void(const std::string&)> progress;  // one line per kept step (may be empty)
};

struct ShrinkResult {
    bool failed = false;          // the original run failed (otherwise there is nothing to shrink)
    std::string kind;             // the original's kind of failure
    Scenario scenario;            // the smallest scenario found that fails the same way
    RunResult result;             // its run
    std::uint32_t runs = 0;       // simulations run, the original's included
    bool budget_exhausted = false;
};

ShrinkResult shrink(const Scenario& failing, const ShrinkOptions& options);

// A summary of what a scenario holds ("3 faults, 2 workloads (4100 IOs), 2 clients, 5 paths").
std::string scenario_size(const Scenario& scenario);

}  // namespace ibnbd::scenario
