#include "fabric/sim/world.hpp"

#include <algorithm>
#include <cassert>

#include "fabric/sim/engine.hpp"

namespace ibnbd::fabric::sim {

World::World(std::uint64_t seed, WorldConfig config)
    : engine_(std::make_unique<Engine>(seed, config)) {}

World::~World() = default;

std::uint64_t World::seed() const { return engine_->seed; }

const WorldConfig& World::config() const { return engine_->config; }

Node& World::add_node(std::string name, std::vector<std::string> addresses) {
    assert(find_node(name) == nullptr && "node names are unique");
    const auto id = static_cast<std::uint32_t>(engine_->nodes.size());
    auto node = std::make_unique<Node>(*engine_, id, std::move(name), std::move(addresses));
    for (const std::string& address : node->addresses()) {
        const bool fresh = engine_->address_owner.emplace(address, node.get()).second;
        assert(fresh && "an address belongs to one node");
        (void)fresh;
    }
    engine_->nodes.push_back(std::move(node));
    return *engine_->nodes.back();
}

Node* World::find_node(std::string_view name) const {
    for (const auto& node : engine_->nodes) {
        if (node->node_name() == name) return node.get();
    }
    return nullptr;
}

void World::add_link(const std::string& a, const std::string& b, LinkConfig config) {
    assert(engine_->owner_of(a) != nullptr && engine_->owner_of(b) != nullptr);
    engine_->links.add(a, b, config, engine_->seed);
}

Nanos World::now() const { return engine_->now; }

std::size_t World::pending() const { return engine_->queue.size(); }

bool World::step() { return engine_->step(); }

namespace {

// The clock moves to a deadline that passes without events, except to "forever".
void advance_to(Engine& engine, Nanos deadline) {
    if (deadline != kForever) engine.now = std::max(engine.now, deadline);
}

}  // namespace

void World::run_until(Nanos deadline) {
    Engine& engine = *engine_;
    while (!engine.queue.empty() && engine.queue.next_time() <= deadline) engine.step();
    advance_to(engine, deadline);
}

void World::run_for(Nanos duration) { run_until(later_by(engine_->now, duration)); }

bool World::run_until(const std::function<bool()>& done, Nanos deadline) {
    Engine& engine = *engine_;
    while (!done()) {
        if (engine.queue.empty() || engine.queue.next_time() > deadline) {
            advance_to(engine, deadline);
            return done();
        }
        engine.step();
    }
    return true;
}

std::uint64_t World::trace_digest() const { return engine_->tracer.digest(); }

void World::set_trace_observer(std::function<void(const TraceEvent&)> observer) {
    engine_->tracer.set_observer(std::move(observer));
}

const WorldStats& World::stats() const { return engine_->tracer.stats(); }

}  // namespace ibnbd::fabric::sim
