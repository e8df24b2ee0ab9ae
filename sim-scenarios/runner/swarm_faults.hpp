// Swarm mode's fault draws (swarm.hpp): per seed, a number of faults of the allowed kinds at
// random times, each aimed at one session (a path, every path, its server or one of its devices).
// A follow-up fault hits the session of the fault before it, shortly after (or before) it: on
// another path while the first one's failover drains or reconnects, on the server while its
// storage is slow, and so on. Fault parameters that decide the interesting races (crash length,
// clog delay, storage latency) are drawn log-uniformly, so that their short values are common.
#pragma once

#include <string>
#include <vector>

#include "fabric/sim/rng.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

// Every draw is appended to `draws` (one line per fault).
std::vector<FaultSpec> draw_swarm_faults(const SwarmSpec& swarm, const Topology& topology, fabric::sim::Rng& rng,
                                         std::vector<std::string>& draws);

// Within [low, high], log-uniformly (uniformly when low is 0).
Nanos draw_log_uniform(fabric::sim::Rng& rng, const Range<Nanos>& range);

}  // namespace ibnbd::scenario
