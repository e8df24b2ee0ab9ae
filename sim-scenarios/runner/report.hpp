// What ibtrs-sim prints about runs: the readable report of one run, one line per seed in batch
// mode, and JSON (one object per run).
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "sim-scenarios/runner/runner.hpp"

namespace ibnbd::scenario {

// Paths, IO counts, latency percentiles, failovers, whether the data verified, failures.
void print_report(std::FILE* out, const Scenario& scenario, const RunResult& result);
// "seed 17  PASS  12345 IOs ...".
std::string summary_line(const RunResult& result);
nlohmann::json to_json(const RunResult& result);

}  // namespace ibnbd::scenario
