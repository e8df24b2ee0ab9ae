// The simulator's hub (internal): clock, event queue, tables and the dispatch of events.
//
// World is the public face of an Engine; Nodes, endpoints, listeners and the data path hold a
// reference to it. Everything runs on the thread that drives the World.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fabric/sim/cm.hpp"
#include "fabric/sim/config.hpp"
#include "fabric/sim/connection.hpp"
#include "fabric/sim/event_queue.hpp"
#include "fabric/sim/link.hpp"
#include "fabric/sim/timers.hpp"
#include "fabric/sim/trace.hpp"

namespace ibnbd::fabric::sim {

class Node;

class Engine {
public:
    Engine(std::uint64_t seed, WorldConfig config);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Pops and dispatches one event; false when the queue is empty.
    bool step();

    Node* owner_of(std::string_view address) const;
    WorldStats& stats() { return tracer.stats(); }
    bool imm_consumes_recv() const { return config.imm_mode == ImmMode::verbs; }

    // Schedules an event about `connection` at `at`.
    void schedule(EventKind kind, const Connection& connection, Nanos at, std::uint64_t value,
                  std::uint8_t code = 0);
    TimerId start_timer(Node& node, Nanos delay, TimerHandler& handler, std::uint64_t cookie);
    bool cancel_timer(TimerId id);

    // Trace, then call the connection's handler. The handler may destroy the endpoint: callers
    // must not touch `connection` afterwards without looking it up again.
    void deliver_completion(Connection& connection, const Completion& completion);
    void deliver_cm_event(Connection& connection, CmEventType type,
                          std::span<const std::byte> private_data);
    void trace_fault(FaultKind kind, std::uint32_t node, std::uint64_t endpoint, std::uint64_t argument);

    const std::uint64_t seed;
    const WorldConfig config;
    Nanos now = 0;
    Nanos cm_delay = 0;
    EventQueue queue;
    LinkTable links;
    ConnectionTable connections;
    TimerTable timers;
    CmPool cm_messages;
    Tracer tracer;
    std::vector<std::unique_ptr<Node>> nodes;
    std::map<std::string, Node*, std::less<>> address_owner;

private:
    void dispatch(const Event& event);
    void fire_timer(const Event& event);
    void shed_cancelled_timers();

    std::size_t cancelled_timer_events_ = 0;
};

}  // namespace ibnbd::fabric::sim
