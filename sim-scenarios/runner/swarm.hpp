// Swarm mode (TigerBeetle's VOPR, FoundationDB's BUGGIFY): per seed, a whole scenario is drawn
// within the bounds of the file's `swarm` section: topology size (servers, devices, clients,
// paths), link models, storage latency, policy, queue depth, queueing, workloads, and the fault
// kinds, counts, times and targets. Settings and expectations not drawn come from the file.
// Every draw is returned as text, to be printed under the seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

// `base` must have a swarm section. The result passes validate().
Scenario draw_swarm(const Scenario& base, std::uint64_t seed, std::vector<std::string>& draws);

// One line each, for printing.
std::string describe(const FaultSpec& fault);
std::string describe(const WorkloadSpec& workload);

}  // namespace ibnbd::scenario
