// Configuration of a simulated world and of its links.
#pragma once

#include <cstdint>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::sim {

// The end of virtual time; run_until(kForever) runs until no event is left.
inline constexpr Nanos kForever = ~Nanos{0};
// now + delay without wrapping: past the end of time is kForever.
inline Nanos later_by(Nanos now, Nanos delay) { return delay > kForever - now ? kForever : now + delay; }

// How write-with-immediate meets receives at the target (see fabric.hpp, IMMEDIATE DATA).
enum class ImmMode : std::uint8_t {
    verbs,  // every write-with-imm consumes a posted receive (RNR when none is posted)
    tcp,    // libfabric tcp: no receive consumed; the completion has context 0
};

// A side of a link, as seen from the two addresses of the call that names it: a_to_b carries
// messages from the first address of that call to the second.
enum class Direction : std::uint8_t { a_to_b, b_to_a, both };

struct WorldConfig {
    ImmMode imm_mode = ImmMode::verbs;
    // A message (or its acknowledgement) that cannot get through is retransmitted every
    // retransmit_interval; once the first failed attempt is transport_timeout old, the work
    // request completes with transport_retry_exceeded (think IB retry_count 7 x local ACK timeout).
    Nanos transport_timeout = 50'000'000;
    Nanos retransmit_interval = 5'000'000;
    // Receiver-not-ready: an incoming send (or verbs write-with-imm) without a posted receive is
    // retried after rnr_delay, at most rnr_retry times, then fails with rnr_retry_exceeded.
    Nanos rnr_delay = 1'000'000;
    std::uint32_t rnr_retry = 7;
    // A connect request (or reply) lost on the way: the active side gets unreachable, and an
    // accepted passive side that never hears back gets disconnected, after cm_timeout.
    Nanos cm_timeout = 1'000'000'000;
};

struct LinkConfig {
    Nanos latency = 1'000;                        // one-way propagation delay
    Nanos jitter = 0;                             // extra delay, uniform in [0, jitter] per message
    std::uint64_t bandwidth_bytes_per_sec = 0;    // serialisation rate of each direction; 0 = infinite
};

}  // namespace ibnbd::fabric::sim
