// Paths of a topology and the selectors that name them in fault specifications.
//
// A selector is "CLIENT/LABEL/INDEX", "CLIENT/INDEX" (any session), "CLIENT" (every path of the
// client) or "*"; each part is a name, an index or "*". Matching follows the topology's order,
// so the result is deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

struct PathRef {
    std::uint32_t client = 0;   // index into Topology::clients
    std::uint32_t session = 0;  // index into ClientSpec::sessions
    std::uint32_t path = 0;     // index into SessionSpec::paths
    bool operator==(const PathRef&) const = default;
};

// Every path of the topology, clients first, then sessions, then paths.
std::vector<PathRef> all_paths(const Topology& topology);
// The paths a selector names (possibly none); a malformed selector names none.
std::vector<PathRef> select_paths(const Topology& topology, std::string_view selector);
// "client/label/index".
std::string path_name(const Topology& topology, const PathRef& ref);
const SessionSpec& session_of(const Topology& topology, const PathRef& ref);

}  // namespace ibnbd::scenario
