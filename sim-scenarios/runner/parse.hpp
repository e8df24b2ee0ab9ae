// Reading scenario files (YAML, yaml-cpp). The format is documented in sim-scenarios/README.md
// (and the project README): topology, settings, workload, faults, expect, hidden, swarm.
//
// ERRORS
//     Every problem is one line "FILE:LINE: KEY: message": unknown keys, values of the wrong type
//     or unit, out-of-range numbers, references to servers, clients, devices or paths that do not
//     exist, and YAML syntax errors (from yaml-cpp, turned into the same form). Parsing never
//     throws.
#pragma once

#include <string>
#include <vector>

#include "fabric/expected.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

using ParseResult = Expected<Scenario, std::vector<std::string>>;

// Reads and validates one file. `name` defaults to the file's stem.
ParseResult parse_scenario_file(const std::string& path);
// The same from text (for tests); `file` is used in messages.
ParseResult parse_scenario_text(const std::string& text, const std::string& file);
// Cross-reference and range checks of a scenario built in code (the parser calls it too).
std::vector<std::string> validate(const Scenario& scenario);

}  // namespace ibnbd::scenario
