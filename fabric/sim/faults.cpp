// World's link and connection faults.
#include <algorithm>
#include <cassert>
#include <vector>

#include "fabric/sim/endpoint.hpp"
#include "fabric/sim/engine.hpp"
#include "fabric/sim/lifecycle.hpp"
#include "fabric/sim/world.hpp"

namespace ibnbd::fabric::sim {
namespace {

std::uint64_t direction_code(const Link& link, std::uint8_t direction) {
    return std::uint64_t{link.index()} * 2 + direction;
}

void break_one(Engine& engine, Connection& connection) {
    if (connection.state != ConnState::connected && connection.state != ConnState::accepted) return;
    engine.trace_fault(FaultKind::break_connection, connection.node->id(), connection.id, 0);
    fail_connection(engine, connection, WcStatus::flushed, true);
}

}  // namespace

void World::set_link_state(const std::string& a, const std::string& b, bool up, Direction which) {
    Engine& engine = *engine_;
    const bool found = engine.links.for_each_direction(a, b, which, [&](Link& link, std::uint8_t d) {
        link.direction(d).up = up;
        engine.trace_fault(FaultKind::link_state, TraceEvent::kNoNode, direction_code(link, d), up);
    });
    assert(found && "no link between these addresses");
    (void)found;
}

void World::clog_link(const std::string& a, const std::string& b, Nanos extra_delay, Direction which) {
    Engine& engine = *engine_;
    const bool found = engine.links.for_each_direction(a, b, which, [&](Link& link, std::uint8_t d) {
        link.direction(d).clog = extra_delay;
        engine.trace_fault(FaultKind::link_clog, TraceEvent::kNoNode, direction_code(link, d),
                           extra_delay);
    });
    assert(found && "no link between these addresses");
    (void)found;
}

void World::unclog_link(const std::string& a, const std::string& b, Direction which) {
    clog_link(a, b, 0, which);
}

void World::break_connection(Endpoint& endpoint) {
    auto* sim_endpoint = dynamic_cast<SimEndpoint*>(&endpoint);
    assert(sim_endpoint != nullptr && "not an endpoint of the simulator");
    Connection* connection = engine_->connections.get(sim_endpoint->handle());
    if (connection != nullptr) break_one(*engine_, *connection);
}

std::size_t World::break_connections(const std::string& local, const std::string& peer) {
    std::vector<Connection*> chosen;
    engine_->connections.for_each([&](Connection& connection) {
        const bool live = connection.state == ConnState::connected ||
                          connection.state == ConnState::accepted;
        if (live && connection.local_address.host == local && connection.peer_address.host == peer) {
            chosen.push_back(&connection);
        }
    });
    // Connection ids, not table slots, give the order: it is the order they were made in.
    std::sort(chosen.begin(), chosen.end(),
              [](const Connection* x, const Connection* y) { return x->id < y->id; });
    for (Connection* connection : chosen) break_one(*engine_, *connection);
    return chosen.size();
}

void World::set_cm_delay(Nanos extra_delay) {
    engine_->cm_delay = extra_delay;
    engine_->trace_fault(FaultKind::cm_delay, TraceEvent::kNoNode, 0, extra_delay);
}

void World::set_imm_filter(const std::string& a, const std::string& b, Direction which,
                           std::function<bool(std::uint32_t)> filter) {
    Engine& engine = *engine_;
    const bool set = static_cast<bool>(filter);
    const bool found = engine.links.for_each_direction(a, b, which, [&](Link& link, std::uint8_t d) {
        link.direction(d).imm_filter = filter;
        engine.trace_fault(FaultKind::imm_filter, TraceEvent::kNoNode, direction_code(link, d), set);
    });
    assert(found && "no link between these addresses");
    (void)found;
}

}  // namespace ibnbd::fabric::sim
