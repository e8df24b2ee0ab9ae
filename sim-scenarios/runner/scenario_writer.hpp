// Writing a scenario back as a scenario file (the format of sim-scenarios/README.md), so that a
// drawn or shrunk scenario can be kept, read and replayed.
//
// GUARANTEE
//     parse_scenario_text(write_scenario(s)) gives back s, up to line numbers and the file name:
//     every value is written exactly (durations in the largest unit that divides them, sizes,
//     bandwidths, percentages in their shortest exact form, block size weights as parsed).
//     Clients and devices are written expanded (no `count`); the swarm section is not written.
// LIMITS
//     A workload's block sizes may not repeat a size with different weights (a YAML mapping has
//     unique keys); such a scenario is written with the weights of the last one.
#pragma once

#include <string>
#include <vector>

#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

// The file's text; `comments` become "# ..." lines at the top.
std::string write_scenario(const Scenario& scenario, const std::vector<std::string>& comments = {});

// `scenario` without what only says where it was read from (file name, line numbers), so that a
// scenario and its written-and-parsed copy compare equal.
Scenario without_source(Scenario scenario);

// Exact text forms that the parser reads back to the same value.
std::string exact_duration(Nanos nanos);
std::string exact_bandwidth(std::uint64_t bytes_per_second);
std::string exact_percent(double percent);

}  // namespace ibnbd::scenario
