// The parser's sections, one function per part of a scenario file (internal to parse*.cpp).
#pragma once

#include "sim-scenarios/runner/spec.hpp"
#include "sim-scenarios/runner/yaml_reader.hpp"

namespace ibnbd::scenario::detail {

void parse_topology(const YAML::Node& node, ParseErrors& errors, Topology& out);
void parse_settings(const YAML::Node& node, ParseErrors& errors, Settings& out);
void parse_workloads(const YAML::Node& node, ParseErrors& errors, std::vector<WorkloadSpec>& out);
void parse_faults(const YAML::Node& node, ParseErrors& errors, std::vector<FaultSpec>& out);
void parse_expectations(const YAML::Node& node, ParseErrors& errors, Expectations& out);
void parse_swarm(const YAML::Node& node, ParseErrors& errors, SwarmSpec& out);
void parse_link(MapReader& map, LinkSpec& out);
bool parse_policy(MapReader& map, std::string_view key, ibtrs::MpPolicy& out);
// "{4KiB: 3, 64KiB: 1}", "[4KiB, 8KiB]" or "4KiB".
void parse_block_sizes(MapReader& map, std::string_view key, std::vector<SizeWeight>& out);
// "EIO", "ENOSPC", ... or a positive number.
bool parse_errno(const std::string& text, int& out);

}  // namespace ibnbd::scenario::detail
