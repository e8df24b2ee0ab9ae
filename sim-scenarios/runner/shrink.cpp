#include "sim-scenarios/runner/shrink.hpp"

#include <algorithm>
#include <fmt/core.h>

#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/path_selector.hpp"
#include "sim-scenarios/runner/usable_path_oracle.hpp"

namespace ibnbd::scenario {

std::string failure_kind(const std::string& failure) {
    const auto has = [&](std::string_view part) { return failure.find(part) != std::string::npos; };
    const auto starts = [&](std::string_view prefix) { return failure.rfind(prefix, 0) == 0; };
    if (starts(kUsablePathViolation)) {
        const auto at = failure.find(" failed with ", kUsablePathViolation.size());
        const auto end = at == std::string::npos ? at : failure.find(' ', at + 13);
        return "usable path: " + (at == std::string::npos ? std::string("?") : failure.substr(at + 13, end - at - 13));
    }
    if (starts("oracle:")) {
        if (has("completed twice")) return "exactly once";
        if (has(": read of ")) return "data";
        if (has("rogue client")) return "rogue";
        return "oracle";
    }
    if (starts("expectation:")) {
        if (has("although path")) return "expectation: errors with an untouched path";
        if (has("IO errors")) return "expectation: IO errors";
        if (has("stalled")) return "expectation: IO stall";
        if (has("failovers")) return "expectation: failovers";
        if (has("reconnects")) return "expectation: reconnects";
        if (has("remaps")) return "expectation: remaps";
        return "expectation";
    }
    const auto colon = failure.find(':');
    return colon == std::string::npos ? failure : failure.substr(0, colon);
}

std::string scenario_size(const Scenario& s) {
    std::uint64_t ios = 0, paths = 0, sessions = 0;
    Nanos longest = 0;
    for (const auto& w : s.workloads) {
        ios += w.ios;
        longest = std::max(longest, w.duration);
    }
    for (const auto& client : s.topology.clients) {
        sessions += client.sessions.size();
        for (const auto& session : client.sessions) paths += session.paths.size();
    }
    std::string amount = ios ? fmt::format("{} IOs", ios) : "";
    if (longest) amount += fmt::format("{}{}", amount.empty() ? "" : " + ", format_duration(longest));
    return fmt::format("{} faults, {} workloads ({}), {} servers, {} clients, {} sessions, {} paths", s.faults.size(),
                       s.workloads.size(), amount, s.topology.servers.size(), s.topology.clients.size(), sessions, paths);
}

namespace {

bool device_exists(const Topology& topology, const std::string& target) {
    const auto slash = target.find('/');
    if (slash == std::string::npos) return false;
    for (const auto& server : topology.servers) {
        if (server.name != target.substr(0, slash)) continue;
        for (const auto& device : server.devices) {
            if (device.name == target.substr(slash + 1)) return true;
        }
    }
    return false;
}

bool server_exists(const Topology& topology, const std::string& name) {
    return std::any_of(topology.servers.begin(), topology.servers.end(), [&](const ServerSpec& s) { return s.name == name; });
}

bool fault_target_exists(const Topology& topology, const FaultSpec& fault) {
    switch (fault.type) {
        case FaultType::crash:
        case FaultType::cm_reject:
        case FaultType::rogue_client: return server_exists(topology, fault.target);
        case FaultType::storage_error:
        case FaultType::storage_latency: return device_exists(topology, fault.target);
        case FaultType::cm_delay: return true;
        default: return !select_paths(topology, fault.target).empty();
    }
}

bool workload_matches_any(const Topology& topology, const WorkloadSpec& workload) {
    for (const auto& client : topology.clients) {
        for (const auto& session : client.sessions) {
            for (const auto& device : session.devices) {
                if (workload_matches(workload, client.name, session.server, device)) return true;
            }
        }
    }
    return false;
}

// To the nearest multiple of `unit`; a positive value stays positive.
void round_to(Nanos& value, Nanos unit) {
    if (value == 0) return;
    value = std::max(unit, (value + unit / 2) / unit * unit);
}

// Fault and workload times to `unit`; latencies (microseconds) to at most 1us.
void round_all(Scenario& s, Nanos unit) {
    const Nanos fine = std::min(unit, kMicrosecond);
    for (auto& server : s.topology.servers) {
        for (auto& device : server.devices) {
            round_to(device.latency, fine);
            round_to(device.jitter, fine);
        }
    }
    for (auto& client : s.topology.clients) {
        for (auto& session : client.sessions) {
            for (auto& link : session.paths) {
                round_to(link.latency, fine);
                round_to(link.jitter, fine);
            }
        }
    }
    for (auto& w : s.workloads) {
        round_to(w.duration, unit);
        round_to(w.start, unit);
    }
    for (auto& f : s.faults) {
        for (Nanos* value : {&f.at, &f.duration, &f.delay, &f.jitter, &f.period}) round_to(*value, unit);
        if (f.type == FaultType::flap) f.period = std::min(f.period, f.duration);
    }
}

// After a topology edit: drop what refers to what is gone.
void prune(Scenario& s) {
    std::erase_if(s.faults, [&](const FaultSpec& f) { return !fault_target_exists(s.topology, f); });
    std::erase_if(s.workloads, [&](const WorkloadSpec& w) { return !workload_matches_any(s.topology, w); });
}

class Shrinker {
public:
    Shrinker(const Scenario& failing, const ShrinkOptions& options) : options_(options) { best_ = failing; }

    ShrinkResult run() {
        ShrinkResult out;
        best_result_ = execute(best_);
        out.failed = !best_result_.failures.empty();
        if (out.failed) {
            kind_ = failure_kind(best_result_.failures.front());
            say(fmt::format("shrink: seed {} fails with {} ({}); {}", options_.seed, kind_, best_result_.failures.front(),
                            scenario_size(best_)));
            passes();
        }
        out.kind = kind_;
        out.scenario = best_;
        out.result = best_result_;
        out.runs = runs_;
        out.budget_exhausted = exhausted();
        return out;
    }

private:
    bool exhausted() const { return runs_ >= options_.max_runs; }
    void say(const std::string& line) const {
        if (options_.progress) options_.progress(line);
    }

    RunResult execute(const Scenario& scenario) {
        ++runs_;
        RunOptions run;
        run.seed = options_.seed;
        return run_scenario(scenario, run);
    }

    // Runs `candidate` and keeps it if it fails the same way.
    bool attempt(Scenario candidate, const std::string& what) {
        if (exhausted() || candidate == best_ || !validate(candidate).empty()) return false;
        RunResult result = execute(candidate);
        const bool same = std::any_of(result.failures.begin(), result.failures.end(),
                                      [&](const std::string& f) { return failure_kind(f) == kind_; });
        if (!same) return false;
        best_ = std::move(candidate);
        best_result_ = std::move(result);
        say(fmt::format("shrink: run {}: {}: still fails ({})", runs_, what, scenario_size(best_)));
        return true;
    }

    void passes() {
        for (bool changed = true; changed && !exhausted();) {
            const Scenario before = best_;
            remove_faults();
            remove_workloads();
            remove_topology();
            shorten_workloads();
            shorten_faults();
            simplify();
            changed = !(best_ == before);
        }
        round_times();
    }

    // Readable numbers: fault and workload times rounded to 1ms, else 100us, else 1us.
    void round_times() {
        for (const Nanos unit : {kMs, 100 * kMicrosecond, kMicrosecond}) {
            Scenario candidate = best_;
            round_all(candidate, unit);
            if (attempt(std::move(candidate), fmt::format("times rounded to {}", format_duration(unit)))) return;
        }
    }

    void remove_faults() {
        for (std::size_t f = best_.faults.size(); f-- > 0;) {
            if (f >= best_.faults.size()) continue;
            Scenario candidate = best_;
            candidate.faults.erase(candidate.faults.begin() + static_cast<std::ptrdiff_t>(f));
            attempt(std::move(candidate), fmt::format("without fault {} ({})", f, to_string(best_.faults[f].type)));
        }
    }

    void remove_workloads() {
        for (std::size_t w = best_.workloads.size(); w-- > 0 && best_.workloads.size() > 1;) {
            if (w >= best_.workloads.size()) continue;
            Scenario candidate = best_;
            candidate.workloads.erase(candidate.workloads.begin() + static_cast<std::ptrdiff_t>(w));
            attempt(std::move(candidate), fmt::format("without workload {}", w));
        }
    }

    // Clients, sessions, device mappings, paths, then servers and devices nothing uses.
    void remove_topology() {
        for (std::size_t c = best_.topology.clients.size(); c-- > 0 && best_.topology.clients.size() > 1;) {
            if (c >= best_.topology.clients.size()) continue;
            edit(fmt::format("without client {}", best_.topology.clients[c].name),
                 [&](Scenario& s) { s.topology.clients.erase(s.topology.clients.begin() + static_cast<std::ptrdiff_t>(c)); });
        }
        for (std::size_t c = 0; c < best_.topology.clients.size(); ++c) {
            for (std::size_t k = best_.topology.clients[c].sessions.size(); k-- > 0;) {
                if (k >= best_.topology.clients[c].sessions.size() || best_.topology.clients[c].sessions.size() < 2) continue;
                edit(fmt::format("without session {} of {}", k, best_.topology.clients[c].name), [&](Scenario& s) {
                    auto& sessions = s.topology.clients[c].sessions;
                    sessions.erase(sessions.begin() + static_cast<std::ptrdiff_t>(k));
                });
            }
            for (std::size_t k = 0; k < best_.topology.clients[c].sessions.size(); ++k) shrink_session(c, k);
        }
        remove_unused_servers();
    }

    void shrink_session(std::size_t c, std::size_t k) {
        const auto session = [&]() -> SessionSpec& { return best_.topology.clients[c].sessions[k]; };
        for (std::size_t d = session().devices.size(); d-- > 0 && session().devices.size() > 1;) {
            if (d >= session().devices.size()) continue;
            edit(fmt::format("without device {} of {}", session().devices[d], best_.topology.clients[c].name),
                 [&](Scenario& s) {
                     auto& devices = s.topology.clients[c].sessions[k].devices;
                     devices.erase(devices.begin() + static_cast<std::ptrdiff_t>(d));
                 });
        }
        while (session().paths.size() > 1 &&
               edit(fmt::format("with {} paths in {}'s session {}", session().paths.size() - 1,
                                best_.topology.clients[c].name, k),
                    [&](Scenario& s) { s.topology.clients[c].sessions[k].paths.pop_back(); })) {
        }
    }

    void remove_unused_servers() {
        const auto used = [&](const std::string& server, const std::string& device) {
            for (const auto& client : best_.topology.clients) {
                for (const auto& session : client.sessions) {
                    if (session.server != server) continue;
                    if (device.empty()) return true;
                    if (std::find(session.devices.begin(), session.devices.end(), device) != session.devices.end()) return true;
                }
            }
            return false;
        };
        std::string dropped;
        Scenario candidate = best_;
        std::erase_if(candidate.topology.servers, [&](const ServerSpec& server) {
            if (used(server.name, "")) return false;
            dropped += " " + server.name;
            return true;
        });
        for (auto& server : candidate.topology.servers) {
            std::erase_if(server.devices, [&](const DeviceSpec& device) {
                if (used(server.name, device.name)) return false;
                dropped += " " + server.name + "/" + device.name;
                return true;
            });
        }
        if (dropped.empty()) return;
        prune(candidate);
        attempt(std::move(candidate), "without unused" + dropped);
    }

    // Applies `change` to a copy of the best scenario, prunes what no longer exists, tries it.
    template <class Change>
    bool edit(const std::string& what, Change change) {
        Scenario candidate = best_;
        change(candidate);
        prune(candidate);
        return attempt(std::move(candidate), what);
    }

    // Halves a number while the scenario keeps failing; `get` gives the number in a scenario,
    // `fixup` keeps a candidate consistent.
    template <class Get, class Fixup = void (*)(Scenario&)>
    void halve(const std::string& what, std::uint64_t floor, Get get, Fixup fixup = [](Scenario&) {}) {
        using Value = std::remove_reference_t<decltype(get(best_))>;
        // Nanos fields are halved down to a millisecond floor: print them as durations.
        const auto show = [floor](std::uint64_t v) { return floor >= kMs ? format_duration(v) : std::to_string(v); };
        while (!exhausted()) {
            const auto value = static_cast<std::uint64_t>(get(best_));
            if (value / 2 < floor) return;
            Scenario candidate = best_;
            get(candidate) = static_cast<Value>(value / 2);
            fixup(candidate);
            if (!attempt(std::move(candidate), fmt::format("{} {} -> {}", what, show(value), show(value / 2)))) return;
        }
    }

    void shorten_workloads() {
        for (std::size_t w = 0; w < best_.workloads.size(); ++w) {
            const std::string name = fmt::format("workload {}", w);
            if (best_.workloads[w].ios != 0) {
                halve(name + " ios", 1, [w](Scenario& s) -> std::uint64_t& { return s.workloads[w].ios; });
            } else {
                halve(name + " duration", kMs, [w](Scenario& s) -> Nanos& { return s.workloads[w].duration; });
            }
            halve(name + " queue depth", 1, [w](Scenario& s) -> std::uint32_t& { return s.workloads[w].queue_depth; });
        }
    }

    void shorten_faults() {
        for (std::size_t f = 0; f < best_.faults.size(); ++f) {
            const std::string name = fmt::format("fault {} ({})", f, to_string(best_.faults[f].type));
            if (best_.faults[f].duration != 0) {
                halve(name + " duration", kMs, [f](Scenario& s) -> Nanos& { return s.faults[f].duration; },
                      [f](Scenario& s) {
                          FaultSpec& fault = s.faults[f];
                          if (fault.type == FaultType::flap) fault.period = std::max<Nanos>(2, std::min(fault.period, fault.duration / 2));
                      });
            }
            halve(name + " start", kMs, [f](Scenario& s) -> Nanos& { return s.faults[f].at; });
            if (best_.faults[f].delay != 0) {
                halve(name + " delay", kMs, [f](Scenario& s) -> Nanos& { return s.faults[f].delay; },
                      [f](Scenario& s) { s.faults[f].jitter = std::min(s.faults[f].jitter, s.faults[f].delay); });
            }
        }
    }

    void simplify() {
        const auto setting = [&](const std::string& what, auto change) {
            Scenario candidate = best_;
            change(candidate.settings);
            attempt(std::move(candidate), what);
        };
        setting("one IO shard", [](Settings& s) { s.io_shards = 1; });
        setting("one IO connection", [](Settings& s) { s.io_connections = 1; });
        setting("one server reactor", [](Settings& s) { s.server_reactors = 1; });
        for (std::size_t w = 0; w < best_.workloads.size(); ++w) {
            edit(fmt::format("workload {}: one block size", w), [w](Scenario& s) {
                auto& sizes = s.workloads[w].block_sizes;
                sizes = {SizeWeight{std::min_element(sizes.begin(), sizes.end(), [](auto& a, auto& b) { return a.bytes < b.bytes; })->bytes, 1}};
            });
            edit(fmt::format("workload {}: no flushes or FUA", w), [w](Scenario& s) {
                s.workloads[w].flush_percent = 0;
                s.workloads[w].fua_percent = 0;
            });
        }
    }

    ShrinkOptions options_;
    Scenario best_;
    RunResult best_result_;
    std::string kind_;
    std::uint32_t runs_ = 0;
};

}  // namespace

ShrinkResult shrink(const Scenario& failing, const ShrinkOptions& options) { return Shrinker(failing, options).run(); }

}  // namespace ibnbd::scenario
