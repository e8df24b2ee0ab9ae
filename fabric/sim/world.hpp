// The deterministic RDMA simulator: the public header of the sim backend.
//
// NAME
//     ibnbd::fabric::sim::World - a set of nodes joined by links, run on one thread in virtual time.
//
// SYNOPSIS
//     World world(seed, WorldConfig{.imm_mode = ImmMode::verbs});
//     Node& server = world.add_node("server", {"10.0.0.1"});
//     Node& client = world.add_node("client", {"10.0.0.2"});
//     world.add_link("10.0.0.2", "10.0.0.1", LinkConfig{.latency = 2'000});
//     ... server.listen(...), client.connect(...) ...   (Node is a fabric::Fabric)
//     world.run_until([&] { return done; }, world.now() + 1'000'000'000);
//
// DESCRIPTION
//     One virtual clock (nanoseconds, starting at 0) and one event queue ordered by (time,
//     sequence number). Every callback - completions, CM events, connect requests, timers - is an
//     event delivered from run_until(), run_for() or step(), never from inside a call on a node or
//     endpoint. A run is a pure function of the seed and of the calls the test makes: every random
//     draw comes from a stream derived from (seed, purpose, creation index); nothing depends on
//     wall time, object addresses or hash-map iteration order.
//
//     Links join two addresses (of different nodes, normally) and carry both directions, each with
//     its own state; see LinkConfig for timing and endpoint.hpp / transport.hpp for how work
//     requests travel, complete and fail.
//
// FAULTS
//     All may be called at any virtual time, from tests or from handlers. Addresses name a link in
//     either order; `which` is relative to the order given in the call. Node faults (crash,
//     restart, CM reject/drop, registration failures) are methods of Node.
//
// LIMITS
//     At most 2^32 nodes, links, live connections and armed timers. Queue sizes up to 65536.
//     The World must outlive every Node, Listener, Endpoint and MemoryRegion it made.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fabric/fabric.hpp"
#include "fabric/sim/config.hpp"
#include "fabric/sim/node.hpp"
#include "fabric/sim/trace.hpp"

namespace ibnbd::fabric::sim {

class Engine;

class World {
public:
    explicit World(std::uint64_t seed, WorldConfig config = {});
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    std::uint64_t seed() const;
    const WorldConfig& config() const;

    // ---- topology ----
    // A new node owning `addresses` (each address belongs to one node of the world; asserted).
    Node& add_node(std::string name, std::vector<std::string> addresses);
    // The node called `name`, or nullptr.
    Node* find_node(std::string_view name) const;
    // A bidirectional link between two existing addresses; one per pair (asserted).
    void add_link(const std::string& a, const std::string& b, LinkConfig config = {});

    // ---- running ----
    Nanos now() const;
    // Events queued, including stale ones (of destroyed endpoints, cancelled timers) that will be
    // dropped when their time comes.
    std::size_t pending() const;
    // Delivers the next event; false if none is queued. The clock moves to that event's time.
    bool step();
    // Delivers every event due at or before `deadline`, then sets the clock to `deadline` (if later;
    // kForever leaves the clock at the last event).
    void run_until(Nanos deadline);
    // run_until(now() + duration), saturating at kForever.
    void run_for(Nanos duration);
    // Delivers events until done() holds (checked before each event) or the next event lies past
    // `deadline`; in the latter case the clock moves to `deadline` (as above). Returns done().
    bool run_until(const std::function<bool()>& done, Nanos deadline);

    // ---- faults ----
    // Link direction(s) up or down. Messages arriving over a direction that is down are lost and
    // retransmitted (data) or lost for good (CM).
    void set_link_state(const std::string& a, const std::string& b, bool up,
                        Direction which = Direction::both);
    // Extra one-way delay for messages sent from now on (replaces any earlier clog).
    void clog_link(const std::string& a, const std::string& b, Nanos extra_delay,
                   Direction which = Direction::both);
    void unclog_link(const std::string& a, const std::string& b, Direction which = Direction::both);
    // A fatal error on one connection: it flushes and reports disconnected; a disconnect request
    // goes to the peer (over the link, so it is lost while the link is down or the peer crashed).
    // No-op for an endpoint that is not connected or accepted. `endpoint` must come from this world.
    void break_connection(Endpoint& endpoint);
    // break_connection() on every live connection whose local address host is `local` and whose
    // peer address host is `peer`; returns how many broke.
    std::size_t break_connections(const std::string& local, const std::string& peer);
    // Extra delay for every CM message sent from now on (0 removes it).
    void set_cm_delay(Nanos extra_delay);
    // Write-with-immediate messages over the chosen direction(s) whose imm matches are
    // acknowledged to the sender but have no effect at the target: no bytes written, no
    // completion, no receive consumed. An empty function removes the filter.
    void set_imm_filter(const std::string& a, const std::string& b, Direction which,
                        std::function<bool(std::uint32_t imm)> filter);

    // ---- trace and statistics ----
    std::uint64_t trace_digest() const;
    // Sees every delivered event and fault; it must not call back into the world.
    void set_trace_observer(std::function<void(const TraceEvent&)> observer);
    const WorldStats& stats() const;

    // For the simulator's own components.
    Engine& engine() { return *engine_; }

private:
    std::unique_ptr<Engine> engine_;
};

}  // namespace ibnbd::fabric::sim
