// Every random choice of a run comes from the run's seed through derive_seed(seed, purpose, id),
// so a run is a pure function of (scenario, seed) and one purpose's draws never shift another's.
#pragma once

#include <cstdint>

#include "fabric/sim/rng.hpp"

namespace ibnbd::scenario {

enum class SeedPurpose : std::uint64_t {
    world = 1,     // the simulator (link jitter, node random streams)
    workload = 2,  // id: workload index
    faults = 3,    // swizzle choices and other fault-plan draws
    crash = 4,     // id: fault index; which unflushed sectors a crash keeps
    swarm = 5,     // swarm mode's draw of the scenario
};

inline std::uint64_t derive_seed(std::uint64_t seed, SeedPurpose purpose, std::uint64_t id = 0) {
    std::uint64_t state = seed ^ (static_cast<std::uint64_t>(purpose) * 0xA0761D6478BD642Full);
    std::uint64_t mixed = fabric::sim::splitmix64(state);
    state = mixed ^ (id * 0xE7037ED1A0B428DBull);
    return fabric::sim::splitmix64(state);
}

inline fabric::sim::Rng rng_for(std::uint64_t seed, SeedPurpose purpose, std::uint64_t id = 0) {
    return fabric::sim::Rng(derive_seed(seed, purpose, id));
}

}  // namespace ibnbd::scenario
