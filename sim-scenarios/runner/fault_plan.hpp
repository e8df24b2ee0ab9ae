// The fault timeline of one run: every FaultSpec expanded, with the seed's draws (swizzle-clog
// subsets, orders and times; crash seeds), into primitive actions at virtual times relative to
// the start of the workload. Sorted by time (stable: file order for equal times).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fabric/sim/config.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

enum class ActionKind : std::uint8_t {
    link_down, link_up,
    clog, unclog,
    break_connections,
    heartbeat_filter_on, heartbeat_filter_off,
    crash, restart,
    storage_error, storage_clear,
    storage_latency, storage_latency_reset,
    cm_reject,
    cm_delay, cm_delay_off,
    rogue_start, rogue_stop,
};

struct Action {
    Nanos at = 0;
    ActionKind kind = ActionKind::link_down;
    std::uint32_t fault = 0;            // index of the FaultSpec
    std::uint32_t path = 0;             // link actions: global path index (all_paths order)
    fabric::sim::Direction direction = fabric::sim::Direction::both;
    std::uint32_t server = 0;           // node and storage actions
    std::uint32_t store = 0;            // storage actions: device index on the server
    Nanos delay = 0;                    // clog, cm_delay, storage_latency
    Nanos jitter = 0;                   // storage_latency
    std::uint64_t seed = 0;             // crash
};

struct FaultPlan {
    std::vector<Action> actions;
    Nanos end = 0;                      // when the last fault is over (the liveness phase begins)
    std::vector<std::string> draws;     // seed-derived choices, one line each
    // What the faults touch, for expectations: paths, crashed servers, failing devices.
    std::vector<bool> path_touched;
    std::vector<bool> server_crashed;
    std::vector<std::vector<bool>> store_failing;  // [server][store]
};

// Errors are impossible for a validated scenario (validate() checked every reference).
FaultPlan make_fault_plan(const Scenario& scenario, std::uint64_t seed);

std::string_view to_string(ActionKind kind);
std::string_view direction_name(fabric::sim::Direction direction);

}  // namespace ibnbd::scenario
