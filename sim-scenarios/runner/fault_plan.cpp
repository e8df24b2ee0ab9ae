#include "sim-scenarios/runner/fault_plan.hpp"

#include <algorithm>
#include <fmt/core.h>

#include "sim-scenarios/runner/path_selector.hpp"
#include "sim-scenarios/runner/seeds.hpp"

namespace ibnbd::scenario {

std::string_view direction_name(fabric::sim::Direction direction) {
    switch (direction) {
        case fabric::sim::Direction::a_to_b: return "to_server";
        case fabric::sim::Direction::b_to_a: return "to_client";
        case fabric::sim::Direction::both: return "both";
    }
    return "?";
}

std::string_view to_string(ActionKind kind) {
    switch (kind) {
        case ActionKind::link_down: return "link down";
        case ActionKind::link_up: return "link up";
        case ActionKind::clog: return "clog";
        case ActionKind::unclog: return "unclog";
        case ActionKind::break_connections: return "connection error";
        case ActionKind::heartbeat_filter_on: return "heartbeats lost";
        case ActionKind::heartbeat_filter_off: return "heartbeats pass";
        case ActionKind::crash: return "crash";
        case ActionKind::restart: return "restart";
        case ActionKind::storage_error: return "storage errors";
        case ActionKind::storage_clear: return "storage errors cleared";
        case ActionKind::storage_latency: return "storage slow";
        case ActionKind::storage_latency_reset: return "storage latency restored";
        case ActionKind::cm_reject: return "connect requests rejected";
        case ActionKind::cm_delay: return "CM delayed";
        case ActionKind::cm_delay_off: return "CM delay removed";
        case ActionKind::rogue_start: return "rogue client starts";
        case ActionKind::rogue_stop: return "rogue client stops";
    }
    return "?";
}

namespace {

class Planner {
public:
    Planner(const Scenario& scenario, std::uint64_t seed)
        : s_(scenario), rng_(rng_for(seed, SeedPurpose::faults)), seed_(seed), paths_(all_paths(scenario.topology)) {
        plan_.path_touched.assign(paths_.size(), false);
        plan_.server_crashed.assign(s_.topology.servers.size(), false);
        for (const auto& server : s_.topology.servers) plan_.store_failing.emplace_back(server.devices.size(), false);
    }

    FaultPlan run() {
        for (std::uint32_t f = 0; f < s_.faults.size(); ++f) expand(f, s_.faults[f]);
        std::stable_sort(plan_.actions.begin(), plan_.actions.end(),
                         [](const Action& a, const Action& b) { return a.at < b.at; });
        for (const auto& action : plan_.actions) plan_.end = std::max(plan_.end, action.at);
        return std::move(plan_);
    }

private:
    std::uint32_t global(const PathRef& ref) const {
        return static_cast<std::uint32_t>(std::find(paths_.begin(), paths_.end(), ref) - paths_.begin());
    }
    std::uint32_t server(std::string_view name) const {
        for (std::uint32_t j = 0; j < s_.topology.servers.size(); ++j) {
            if (s_.topology.servers[j].name == name) return j;
        }
        return 0;
    }
    Action base(std::uint32_t fault, Nanos at, ActionKind kind) const {
        Action action;
        action.fault = fault;
        action.at = at;
        action.kind = kind;
        return action;
    }
    void add(Action action) { plan_.actions.push_back(action); }

    void link_pair(std::uint32_t f, const FaultSpec& spec, ActionKind on, ActionKind off) {
        for (const PathRef& ref : select_paths(s_.topology, spec.target)) {
            Action action = base(f, spec.at, on);
            action.path = global(ref);
            action.direction = spec.direction;
            action.delay = spec.delay;
            plan_.path_touched[action.path] = true;
            add(action);
            if (off == on) continue;
            action.kind = off;
            action.at = spec.at + spec.duration;
            add(action);
        }
    }

    void swizzle(std::uint32_t f, const FaultSpec& spec) {
        std::vector<PathRef> chosen;
        for (const PathRef& ref : select_paths(s_.topology, spec.target)) {
            if (rng_.below(2) == 0) chosen.push_back(ref);
        }
        if (chosen.empty()) {
            const auto all = select_paths(s_.topology, spec.target);
            chosen.push_back(all[rng_.below(all.size())]);
        }
        shuffle(chosen);
        const Nanos half = spec.duration / 2;
        std::vector<Nanos> clog_times = sorted_times(chosen.size(), spec.at, half);
        std::string clogs, unclogs;
        std::vector<Action> clogged;
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            Action action = base(f, clog_times[i], ActionKind::clog);
            action.path = global(chosen[i]);
            static constexpr fabric::sim::Direction kDirections[] = {
                fabric::sim::Direction::both, fabric::sim::Direction::a_to_b, fabric::sim::Direction::b_to_a};
            action.direction = spec.direction == fabric::sim::Direction::both ? kDirections[rng_.below(3)] : spec.direction;
            action.delay = spec.delay;
            plan_.path_touched[action.path] = true;
            add(action);
            clogged.push_back(action);
            clogs += fmt::format("{}{} ({}) at {}", i ? ", " : "", path_name(s_.topology, chosen[i]),
                                 direction_name(action.direction), format_duration(action.at));
        }
        shuffle(clogged);
        std::vector<Nanos> unclog_times = sorted_times(clogged.size(), spec.at + half, spec.duration - half);
        for (std::size_t i = 0; i < clogged.size(); ++i) {
            Action action = clogged[i];
            action.kind = ActionKind::unclog;
            action.at = unclog_times[i];
            add(action);
            unclogs += fmt::format("{}{} at {}", i ? ", " : "", path_name(s_.topology, paths_[action.path]),
                                   format_duration(action.at));
        }
        plan_.draws.push_back(fmt::format("fault {} swizzle_clog: clog {}; unclog {}", f, clogs, unclogs));
    }

    void flap(std::uint32_t f, const FaultSpec& spec) {
        for (Nanos t = spec.at; t + spec.period / 2 <= spec.at + spec.duration; t += spec.period) {
            FaultSpec cycle = spec;
            cycle.at = t;
            cycle.duration = spec.period / 2;
            link_pair(f, cycle, ActionKind::link_down, ActionKind::link_up);
        }
    }

    void node(std::uint32_t f, const FaultSpec& spec, ActionKind on, ActionKind off) {
        Action action = base(f, spec.at, on);
        action.server = server(spec.target);
        if (on == ActionKind::crash) {
            action.seed = derive_seed(seed_, SeedPurpose::crash, f);
            plan_.server_crashed[action.server] = true;
            plan_.draws.push_back(fmt::format("fault {} crash {}: storage crash seed {:#018x}", f, spec.target, action.seed));
        }
        add(action);
        if (off == on) return;
        action.kind = off;
        action.at = spec.at + spec.duration;
        add(action);
    }

    void storage(std::uint32_t f, const FaultSpec& spec, ActionKind on, ActionKind off) {
        const auto slash = spec.target.find('/');
        Action action = base(f, spec.at, on);
        action.server = server(spec.target.substr(0, slash));
        const auto& devices = s_.topology.servers[action.server].devices;
        const std::string name = spec.target.substr(slash + 1);
        action.store = static_cast<std::uint32_t>(
            std::find_if(devices.begin(), devices.end(), [&](const DeviceSpec& d) { return d.name == name; }) - devices.begin());
        action.delay = spec.delay;
        action.jitter = spec.jitter;
        if (on == ActionKind::storage_error) plan_.store_failing[action.server][action.store] = true;
        add(action);
        action.kind = off;
        action.at = spec.at + spec.duration;
        add(action);
    }

    void expand(std::uint32_t f, const FaultSpec& spec) {
        switch (spec.type) {
            case FaultType::link_down: return link_pair(f, spec, ActionKind::link_down, ActionKind::link_up);
            case FaultType::clog: return link_pair(f, spec, ActionKind::clog, ActionKind::unclog);
            case FaultType::swizzle_clog: return swizzle(f, spec);
            case FaultType::flap: return flap(f, spec);
            case FaultType::connection_error:
                return link_pair(f, spec, ActionKind::break_connections, ActionKind::break_connections);
            case FaultType::heartbeat_loss:
                return link_pair(f, spec, ActionKind::heartbeat_filter_on, ActionKind::heartbeat_filter_off);
            case FaultType::crash: return node(f, spec, ActionKind::crash, ActionKind::restart);
            case FaultType::cm_reject: return node(f, spec, ActionKind::cm_reject, ActionKind::cm_reject);
            case FaultType::rogue_client: return node(f, spec, ActionKind::rogue_start, ActionKind::rogue_stop);
            case FaultType::storage_error: return storage(f, spec, ActionKind::storage_error, ActionKind::storage_clear);
            case FaultType::storage_latency:
                return storage(f, spec, ActionKind::storage_latency, ActionKind::storage_latency_reset);
            case FaultType::cm_delay: {
                Action action = base(f, spec.at, ActionKind::cm_delay);
                action.delay = spec.delay;
                add(action);
                action.kind = ActionKind::cm_delay_off;
                action.at = spec.at + spec.duration;
                add(action);
                return;
            }
        }
    }

    template <class T>
    void shuffle(std::vector<T>& items) {
        for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng_.below(i)]);
    }
    std::vector<Nanos> sorted_times(std::size_t count, Nanos from, Nanos span) {
        std::vector<Nanos> times;
        for (std::size_t i = 0; i < count; ++i) times.push_back(from + rng_.below(span + 1));
        std::sort(times.begin(), times.end());
        return times;
    }

    const Scenario& s_;
    fabric::sim::Rng rng_;
    std::uint64_t seed_;
    std::vector<PathRef> paths_;
    FaultPlan plan_;
};

}  // namespace

FaultPlan make_fault_plan(const Scenario& scenario, std::uint64_t seed) { return Planner(scenario, seed).run(); }

}  // namespace ibnbd::scenario
