// Seeded pseudo-random streams of the simulator.
//
// One world seed gives every component its own stream, derived from (seed, purpose, stable id) with
// splitmix64 and run through xoshiro256**. Ids are creation indices (node 0, link 3, ...), never
// object addresses, so a run is a pure function of the seed and of the order in which the test
// builds its world. Streams are independent: drawing jitter on one link does not shift another
// link's draws or a node's random_u64().
#pragma once

#include <array>
#include <cstdint>

namespace ibnbd::fabric::sim {

// splitmix64: the recommended seeder for xoshiro; also a good 64-bit mixer on its own.
inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// What a stream is for; part of the derivation so that "node 1" and "link 1" differ.
enum class StreamPurpose : std::uint64_t {
    node_random = 1,   // Node::random_u64()
    link_jitter = 2,   // per link direction: id = link index * 2 + direction
    memory_keys = 3,   // per node: the rkey permutation
};

// xoshiro256** (Blackman & Vigna): fast, 256-bit state, passes BigCrush.
class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) {
        for (auto& word : state_) word = splitmix64(seed);
    }

    std::uint64_t next() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform in [0, bound); 0 when bound is 0. Lemire's multiply-shift (bias < 2^-64 * bound).
    std::uint64_t below(std::uint64_t bound) {
        if (bound == 0) return 0;
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::array<std::uint64_t, 4> state_{};
};

// The stream of one component: a pure function of (seed, purpose, id).
inline Rng derive_stream(std::uint64_t seed, StreamPurpose purpose, std::uint64_t id) {
    std::uint64_t state = seed;
    std::uint64_t mixed = splitmix64(state);
    state = mixed ^ static_cast<std::uint64_t>(purpose);
    mixed = splitmix64(state);
    state = mixed ^ (id * 0xD1B54A32D192ED03ull);
    return Rng(splitmix64(state));
}

}  // namespace ibnbd::fabric::sim
