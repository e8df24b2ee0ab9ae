#include "sim-scenarios/runner/fault_injector.hpp"

#include <fmt/core.h>

#include "core/wire/rtrs_imm.hpp"

namespace ibnbd::scenario {

namespace {

using fabric::sim::Direction;

bool is_heartbeat(std::uint32_t imm) { return imm == wire::kHbMsgImm || imm == wire::kHbAckImm; }

std::vector<int> directions(Direction direction) {
    switch (direction) {
        case Direction::a_to_b: return {0};
        case Direction::b_to_a: return {1};
        case Direction::both: return {0, 1};
    }
    return {};
}

std::optional<storage::Op> op_of(const std::string& name) {
    if (name == "read") return storage::Op::read;
    if (name == "write") return storage::Op::write;
    if (name == "flush") return storage::Op::flush;
    return std::nullopt;
}

}  // namespace

FaultInjector::FaultInjector(const Scenario& scenario, Cluster& cluster, RunObserver& observer,
                             std::function<void(std::uint32_t)> on_crash)
    : scenario_(scenario), cluster_(cluster), observer_(observer), on_crash_(std::move(on_crash)) {}

FaultInjector::~FaultInjector() = default;

std::string FaultInjector::describe(const Action& action) const {
    const Layout& layout = cluster_.layout();
    switch (action.kind) {
        case ActionKind::link_down:
        case ActionKind::link_up:
        case ActionKind::heartbeat_filter_on:
        case ActionKind::heartbeat_filter_off:
            return fmt::format("{}: path {} ({})", to_string(action.kind), layout.paths[action.path].name,
                               direction_name(action.direction));
        case ActionKind::clog:
            return fmt::format("clog +{}: path {} ({})", format_duration(action.delay), layout.paths[action.path].name,
                               direction_name(action.direction));
        case ActionKind::unclog:
        case ActionKind::break_connections:
            return fmt::format("{}: path {}", to_string(action.kind), layout.paths[action.path].name);
        case ActionKind::crash:
        case ActionKind::restart:
        case ActionKind::cm_reject:
        case ActionKind::rogue_start:
        case ActionKind::rogue_stop:
            return fmt::format("{}: server {}", to_string(action.kind), layout.servers[action.server]);
        case ActionKind::storage_error:
        case ActionKind::storage_clear:
        case ActionKind::storage_latency:
        case ActionKind::storage_latency_reset:
            return fmt::format("{}: {}/{}", to_string(action.kind), layout.servers[action.server],
                               scenario_.topology.servers[action.server].devices[action.store].name);
        case ActionKind::cm_delay:
            return fmt::format("CM messages delayed by {}", format_duration(action.delay));
        case ActionKind::cm_delay_off: return "CM delay removed";
    }
    return "?";
}

void FaultInjector::apply(const Action& action) {
    const FaultSpec& spec = scenario_.faults[action.fault];
    std::vector<std::uint32_t> touched;
    switch (action.kind) {
        case ActionKind::link_down:
        case ActionKind::clog:
        case ActionKind::heartbeat_filter_on: link_change(action, true); touched.push_back(action.path); break;
        case ActionKind::link_up:
        case ActionKind::unclog:
        case ActionKind::heartbeat_filter_off: link_change(action, false); touched.push_back(action.path); break;
        case ActionKind::break_connections: {
            const Cluster::Path& path = cluster_.paths()[action.path];
            cluster_.world().break_connections(path.client_address, path.server_address);
            touched.push_back(action.path);
            break;
        }
        case ActionKind::crash:
            if (cluster_.servers()[action.server].up) {
                cluster_.crash_server(action.server, action.seed);
                on_crash_(action.server);
            }
            break;
        case ActionKind::restart: cluster_.restart_server(action.server); break;
        case ActionKind::cm_reject: cluster_.servers()[action.server].node->inject_cm_reject(spec.count); break;
        case ActionKind::cm_delay: cluster_.world().set_cm_delay(action.delay); break;
        case ActionKind::cm_delay_off: cluster_.world().set_cm_delay(0); break;
        case ActionKind::storage_error:
        case ActionKind::storage_clear:
        case ActionKind::storage_latency:
        case ActionKind::storage_latency_reset: storage(action); break;
        case ActionKind::rogue_start: {
            auto& rogue = rogues_[action.fault];
            if (!rogue) {
                std::vector<std::string> victims;
                for (const auto& device : cluster_.devices()) {
                    if (device.server == action.server) victims.push_back(device.name);
                }
                rogue = std::make_unique<RogueClient>(*cluster_.rogue_node(), cluster_.rogue_address(action.server),
                                                      cluster_.servers()[action.server].addresses[0], spec.rogue,
                                                      spec.period, std::move(victims));
            }
            rogue->start();
            break;
        }
        case ActionKind::rogue_stop:
            if (auto found = rogues_.find(action.fault); found != rogues_.end()) found->second->stop();
            break;
    }
    observer_.fault(cluster_.world().now(), describe(action), touched);
}

void FaultInjector::link_change(const Action& action, bool on) {
    LinkState& link = links_[action.path];
    const auto count = [on](std::uint32_t& holders) {
        if (on) ++holders;
        else if (holders > 0) --holders;
    };
    for (int d : directions(action.direction)) {
        const auto i = static_cast<std::size_t>(d);
        switch (action.kind) {
            case ActionKind::link_down:
            case ActionKind::link_up: count(link.down[i]); break;
            case ActionKind::clog: link.clogs[i].insert(action.delay); break;
            case ActionKind::unclog:
                if (auto found = link.clogs[i].find(action.delay); found != link.clogs[i].end()) link.clogs[i].erase(found);
                break;
            default: count(link.filters[i]); break;
        }
    }
    refresh_link(action.path);
}

void FaultInjector::refresh_link(std::uint32_t path) {
    LinkState& link = links_[path];
    const Cluster::Path& p = cluster_.paths()[path];
    auto& world = cluster_.world();
    for (std::size_t i = 0; i < 2; ++i) {
        const Direction direction = i == 0 ? Direction::a_to_b : Direction::b_to_a;
        const bool up = link.down[i] == 0;
        if (up != link.applied_up[i]) world.set_link_state(p.client_address, p.server_address, up, direction);
        const Nanos clog = link.clogs[i].empty() ? 0 : *link.clogs[i].rbegin();
        if (clog != link.applied_clog[i]) {
            if (clog == 0) world.unclog_link(p.client_address, p.server_address, direction);
            else world.clog_link(p.client_address, p.server_address, clog, direction);
        }
        const bool filter = link.filters[i] != 0;
        if (filter != link.applied_filter[i]) {
            world.set_imm_filter(p.client_address, p.server_address, direction,
                                 filter ? std::function<bool(std::uint32_t)>(is_heartbeat) : nullptr);
        }
        link.applied_up[i] = up;
        link.applied_clog[i] = clog;
        link.applied_filter[i] = filter;
    }
}

void FaultInjector::storage(const Action& action) {
    const FaultSpec& spec = scenario_.faults[action.fault];
    storage::memory::MemoryStore& store = *cluster_.servers()[action.server].stores[action.store];
    const DeviceSpec& device = scenario_.topology.servers[action.server].devices[action.store];
    switch (action.kind) {
        case ActionKind::storage_error:
            store.inject_error(-spec.error, spec.count ? spec.count : storage::memory::kAlways, op_of(spec.op));
            break;
        case ActionKind::storage_clear: store.clear_errors(); break;
        case ActionKind::storage_latency: store.set_latency(action.delay, action.jitter); break;
        default: store.set_latency(device.latency, device.jitter); break;
    }
}

void FaultInjector::heal_all() {
    for (auto& [path, link] : links_) {
        link.down = {};
        link.clogs = {};
        link.filters = {};
        refresh_link(path);
    }
    for (std::uint32_t j = 0; j < cluster_.servers().size(); ++j) {
        Cluster::Server& server = cluster_.servers()[j];
        if (!server.up) cluster_.restart_server(j);
        for (std::uint32_t s = 0; s < server.stores.size(); ++s) {
            server.stores[s]->clear_errors();
            server.stores[s]->set_latency(server.spec->devices[s].latency, server.spec->devices[s].jitter);
        }
    }
    cluster_.world().set_cm_delay(0);
    for (auto& [fault, rogue] : rogues_) rogue->stop();
    observer_.fault(cluster_.world().now(), "liveness phase: every fault healed", {});
}

RogueStats FaultInjector::rogue_stats() const {
    RogueStats total;
    for (const auto& [fault, rogue] : rogues_) {
        const RogueStats& s = rogue->stats();
        total.attacks += s.attacks;
        total.rejected += s.rejected;
        total.sessions += s.sessions;
        total.closed_by_server += s.closed_by_server;
        total.responses += s.responses;
        total.opens_granted += s.opens_granted;
        total.stale_writes += s.stale_writes;
        total.stale_writes_refused += s.stale_writes_refused;
        total.stale_writes_landed += s.stale_writes_landed;
    }
    return total;
}

}  // namespace ibnbd::scenario
