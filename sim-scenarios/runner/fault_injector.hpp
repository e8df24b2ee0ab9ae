// Applies a fault plan's actions to a cluster, and heals everything for the liveness phase.
//
// Overlapping faults on one link compose: a link direction is down while any fault holds it
// down; its clog is the largest active one; heartbeats are filtered while any filter is on.
// A crash crashes a running server (its devices' data models are told, see on_crash), a restart
// restarts a crashed one.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sim-scenarios/runner/cluster.hpp"
#include "sim-scenarios/runner/fault_plan.hpp"
#include "sim-scenarios/runner/rogue.hpp"

namespace ibnbd::scenario {

class FaultInjector {
public:
    // `on_crash(server)` runs right after a server crashed.
    FaultInjector(const Scenario& scenario, Cluster& cluster, RunObserver& observer,
                  std::function<void(std::uint32_t)> on_crash);
    ~FaultInjector();

    void apply(const Action& action);
    // The liveness phase: every link up and unclogged, filters off, crashed servers restarted,
    // storage errors and latency back to normal, CM delay off, rogue clients stopped.
    void heal_all();
    // What the rogue clients did (summed).
    RogueStats rogue_stats() const;

private:
    struct LinkState {
        std::array<std::uint32_t, 2> down{};      // per direction: faults holding it down
        std::array<std::multiset<Nanos>, 2> clogs;
        std::array<std::uint32_t, 2> filters{};
        // What the world has now, so that only changes are applied.
        std::array<bool, 2> applied_up{true, true};
        std::array<Nanos, 2> applied_clog{};
        std::array<bool, 2> applied_filter{};
    };

    void link_change(const Action& action, bool on);
    void refresh_link(std::uint32_t path);
    void storage(const Action& action);
    std::string describe(const Action& action) const;

    const Scenario& scenario_;
    Cluster& cluster_;
    RunObserver& observer_;
    std::function<void(std::uint32_t)> on_crash_;
    std::map<std::uint32_t, LinkState> links_;
    std::map<std::uint32_t, std::unique_ptr<RogueClient>> rogues_;  // by fault index
};

}  // namespace ibnbd::scenario
