#include "fabric/sim/engine.hpp"

#include <algorithm>

#include "fabric/sim/lifecycle.hpp"
#include "fabric/sim/node.hpp"
#include "fabric/sim/transport.hpp"

namespace ibnbd::fabric::sim {

Engine::Engine(std::uint64_t world_seed, WorldConfig world_config)
    : seed(world_seed), config(world_config) {}

// Nodes go first: their destructors may still use the tables.
Engine::~Engine() { nodes.clear(); }

bool Engine::step() {
    if (queue.empty()) return false;
    const Event event = queue.pop();
    now = std::max(now, event.time);
    ++stats().events_processed;
    dispatch(event);
    return true;
}

void Engine::dispatch(const Event& event) {
    switch (event.kind()) {
        case EventKind::timer: fire_timer(event); break;
        case EventKind::arrive: on_arrive(*this, event); break;
        case EventKind::ack: on_ack(*this, event); break;
        case EventKind::retransmit: on_retransmit(*this, event); break;
        case EventKind::flush: on_flush(*this, event); break;
        case EventKind::cm_message: on_cm_message(*this, event); break;
        case EventKind::cm_timeout: on_cm_timeout(*this, event); break;
    }
}

Node* Engine::owner_of(std::string_view address) const {
    const auto found = address_owner.find(address);
    return found == address_owner.end() ? nullptr : found->second;
}

void Engine::schedule(EventKind kind, const Connection& connection, Nanos at, std::uint64_t value,
                      std::uint8_t code) {
    queue.push(Event::make(at, kind, connection.self.slot, connection.self.generation, value, code));
}

TimerId Engine::start_timer(Node& node, Nanos delay, TimerHandler& handler, std::uint64_t cookie) {
    const auto started = timers.start({&handler, cookie, node.id(), node.incarnation()});
    queue.push(Event::make(later_by(now, delay), EventKind::timer, started.slot, started.generation, 0));
    return started.id;
}

bool Engine::cancel_timer(TimerId id) {
    if (!timers.cancel(id)) return false;
    ++cancelled_timer_events_;
    shed_cancelled_timers();
    return true;
}

// A cancelled timer's event stays queued until its deadline. A core that arms and cancels a long
// timer per IO would grow the heap without bound, so stale timer events are dropped in bulk once
// they make up half of the queue (amortised O(1) per cancel).
void Engine::shed_cancelled_timers() {
    if (cancelled_timer_events_ < 1024 || cancelled_timer_events_ * 2 < queue.size()) return;
    queue.remove_if([this](const Event& event) {
        return event.kind() == EventKind::timer && !timers.armed_as(event.slot, event.generation);
    });
    cancelled_timer_events_ = 0;
}

void Engine::fire_timer(const Event& event) {
    const auto timer = timers.take(event.slot, event.generation);
    if (!timer) return;
    Node& node = *nodes[timer->node];
    if (node.incarnation() != timer->incarnation) return;  // crashed or restarted since
    TraceEvent trace;
    trace.time = now;
    trace.node = timer->node;
    trace.kind = TraceKind::timer;
    trace.context = timer->cookie;
    tracer.record(trace);
    timer->handler->on_timer(timer->cookie);
}

void Engine::deliver_completion(Connection& connection, const Completion& completion) {
    TraceEvent trace;
    trace.time = now;
    trace.node = connection.node->id();
    trace.kind = TraceKind::completion;
    trace.code = static_cast<std::uint8_t>(completion.opcode);
    trace.status = completion.status;
    trace.endpoint = connection.id;
    trace.context = completion.context;
    trace.byte_len = completion.byte_len;
    trace.imm = completion.has_invalidated_rkey ? completion.invalidated_rkey : completion.imm;
    tracer.record(trace);
    connection.handler->on_completion(completion);
}

void Engine::deliver_cm_event(Connection& connection, CmEventType type,
                              std::span<const std::byte> private_data) {
    TraceEvent trace;
    trace.time = now;
    trace.node = connection.node->id();
    trace.kind = TraceKind::cm_event;
    trace.code = static_cast<std::uint8_t>(type);
    trace.endpoint = connection.id;
    trace.byte_len = static_cast<std::uint32_t>(private_data.size());
    tracer.record(trace);
    connection.handler->on_cm_event(CmEvent{type, private_data});
}

void Engine::trace_fault(FaultKind kind, std::uint32_t node, std::uint64_t endpoint,
                         std::uint64_t argument) {
    TraceEvent trace;
    trace.time = now;
    trace.node = node;
    trace.kind = TraceKind::fault;
    trace.code = static_cast<std::uint8_t>(kind);
    trace.endpoint = endpoint;
    trace.context = argument;
    tracer.record(trace);
}

}  // namespace ibnbd::fabric::sim
