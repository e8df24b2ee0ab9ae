#include "sim-scenarios/runner/runner.hpp"

#include <fmt/core.h>

#include <memory>

#include "core/ibtrs/client_path.hpp"
#include "sim-scenarios/runner/cluster.hpp"
#include "sim-scenarios/runner/event_log.hpp"
#include "sim-scenarios/runner/fault_injector.hpp"
#include "sim-scenarios/runner/perfetto_trace.hpp"
#include "sim-scenarios/runner/seeds.hpp"
#include "sim-scenarios/runner/timeline.hpp"
#include "sim-scenarios/runner/usable_path_oracle.hpp"

namespace ibnbd::scenario {

namespace {

// Remembers that an oracle fired (so that the run can stop at once) and counts failovers.
class RunWatch final : public RunObserver {
public:
    void violation(Nanos, std::string_view) override { raised = true; }
    void failover(Nanos, std::uint32_t, std::uint32_t, std::uint32_t) override { ++failovers; }
    bool raised = false;
    std::uint64_t failovers = 0;
};

class Run {
public:
    Run(const Scenario& scenario, const RunOptions& options) : s_(scenario), options_(options) {
        result_.scenario = scenario.name;
        result_.seed = options.seed;
    }

    // The cluster's teardown completes IO still queued (a run stopped by an oracle leaves some):
    // the workloads and observers must still be there to hear it, but the workloads must no
    // longer use the cluster's timers, and the rogue clients must be gone first.
    ~Run() {
        injector_.reset();
        for (auto& workload : workloads_) workload->shutdown();
        cluster_.reset();
    }
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    RunResult execute() {
        open_outputs();
        if (setup()) {
            safety_phase();
            liveness_phase();
            if (completed_ && result_.failures.empty()) check_leaks();
            collect();
            check_expectations();
        }
        observers_.finish(cluster_ ? cluster_->world().now() : 0);
        result_.passed = result_.failures.empty();
        return std::move(result_);
    }

private:
    void fail(std::string message) { result_.failures.push_back(std::move(message)); }

    void open_outputs() {
        observers_.add(flag_);
        if (options_.event_log) {
            log_ = std::make_unique<EventLog>(options_.event_log);
            observers_.add(*log_);
        }
        if (!options_.trace_path.empty()) {
            trace_ = std::make_unique<PerfettoTrace>(options_.trace_path);
            if (!trace_->ok()) fail(fmt::format("cannot write the trace to {}", options_.trace_path));
            observers_.add(*trace_);
        }
        if (!options_.timeline_path.empty()) {
            timeline_ = std::make_unique<Timeline>(options_.timeline_path, options_.timeline_interval);
            if (!timeline_->ok()) fail(fmt::format("cannot write the timeline to {}", options_.timeline_path));
            observers_.add(*timeline_);
        }
    }

    bool setup() {
        const std::uint64_t world_seed = derive_seed(options_.seed, SeedPurpose::world);
        result_.draws.push_back(fmt::format("world seed {:#018x}", world_seed));
        cluster_ = std::make_unique<Cluster>(s_, world_seed, observers_);
        plan_ = make_fault_plan(s_, options_.seed);
        add_usable_path_oracle();  // before the start: it must see every path connect
        if (auto started = cluster_->start(options_.setup_timeout); !started) {
            fail("setup: " + started.error());
            return false;
        }
        for (auto& line : plan_.draws) result_.draws.push_back(line);
        injector_ = std::make_unique<FaultInjector>(s_, *cluster_, observers_, [this](std::uint32_t server) {
            for (std::size_t w = 0; w < workloads_.size(); ++w) {
                if (cluster_->devices()[device_of_[w]].server == server) models_[w]->crash();
            }
        });
        if (!make_workloads()) return false;
        if (options_.on_draws) options_.on_draws(result_.draws);
        return true;
    }

    void add_usable_path_oracle() {
        if (!s_.expect.no_errors_with_usable_path) return;
        OracleTopology topology;
        for (const Cluster::Path& path : cluster_->paths()) topology.path_server.push_back(cluster_->session(path.session).server);
        for (const Cluster::Device& device : cluster_->devices()) {
            const Cluster::Session& session = cluster_->session(device.session);
            std::vector<std::uint32_t> stores;
            for (std::uint32_t d : session.devices) stores.push_back(cluster_->devices()[d].store);
            topology.devices.push_back({session.paths, device.server, device.store, std::move(stores)});
        }
        UsablePathMargins margins = default_usable_path_margins(s_.settings);
        if (s_.expect.usable_path_margin) margins.after_fault = margins.remap = s_.expect.usable_path_margin;
        usable_path_ = std::make_unique<UsablePathOracle>(std::move(topology), plan_, margins,
                                                          s_.settings.wait_while_reconnecting, observers_);
        usable_path_->watch_fenced_permits([this](std::uint32_t device) {
            ibtrs::ClientSession& transport = cluster_->session(cluster_->devices()[device].session).block->transport();
            for (std::size_t shard = 0; shard < transport.shard_count(); ++shard) {
                if (transport.shard(shard).permits_awaiting_paths() != 0) return true;
            }
            return false;
        });
        observers_.add(*usable_path_);
    }

    bool make_workloads() {
        for (const WorkloadSpec& spec : s_.workloads) {
            for (std::uint32_t d = 0; d < cluster_->devices().size(); ++d) {
                const Cluster::Device& device = cluster_->devices()[d];
                const Cluster::Session& session = cluster_->session(device.session);
                const std::string& client = s_.topology.clients[session.client].name;
                const std::string& server = s_.topology.servers[device.server].name;
                if (!workload_matches(spec, client, server, device.name)) continue;
                if (!add_workload(spec, d)) return false;
            }
        }
        return true;
    }

    bool add_workload(const WorkloadSpec& spec, std::uint32_t d) {
        const Cluster::Device& device = cluster_->devices()[d];
        const DeviceSpec& storage = cluster_->servers()[device.server].spec->devices[device.store];
        const std::string& name = cluster_->layout().devices[d].name;
        for (const auto& size : spec.block_sizes) {
            if (size.bytes > device.device->info().max_io_bytes) {
                fail(fmt::format("setup: {}: block size {} exceeds the device's maximum IO of {}", name,
                                 format_size(size.bytes), format_size(device.device->info().max_io_bytes)));
                return false;
            }
        }
        Workload::Options options;
        options.spec = spec;
        options.region = spec.region ? spec.region : std::min<std::uint64_t>(storage.size, 16u << 20);
        options.device = d;
        options.name = name;
        const auto index = static_cast<std::uint32_t>(workloads_.size());
        options.seed = derive_seed(options_.seed, SeedPurpose::workload, index);
        result_.draws.push_back(fmt::format("workload {} on {}: seed {:#018x}", index, name, options.seed));
        models_.push_back(std::make_unique<DataModel>(options.region / kSector, d + 1));
        workloads_.push_back(std::make_unique<Workload>(cluster_->client_fabric(device.session), *device.device,
                                                        *models_.back(), std::move(options), observers_));
        device_of_.push_back(d);
        return true;
    }

    // Runs the world to `deadline`, or until an oracle fires; false in the latter case.
    bool run_to(Nanos deadline) {
        cluster_->world().run_until([&] { return flag_.raised; }, deadline);
        return !flag_.raised;
    }

    bool run_while(const std::function<bool()>& busy, Nanos deadline) {
        return cluster_->world().run_until([&] { return flag_.raised || !busy(); }, deadline) && !flag_.raised;
    }

    void safety_phase() {
        auto& world = cluster_->world();
        t0_ = world.now();
        observers_.phase(t0_, "safety");
        for (auto& workload : workloads_) workload->start();
        for (const Action& action : plan_.actions) {
            if (!run_to(t0_ + action.at)) return;
            injector_->apply(action);
        }
        run_to(t0_ + plan_.end);
        result_.faults_end = plan_.end;
    }

    bool all(bool (Workload::*done)() const) const {
        for (const auto& workload : workloads_) {
            if (!((*workload).*done)()) return false;
        }
        return true;
    }

    void liveness_phase() {
        if (flag_.raised) return;
        auto& world = cluster_->world();
        injector_->heal_all();
        observers_.phase(world.now(), "liveness");
        const Nanos deadline = t0_ + plan_.end + s_.expect.liveness_deadline;
        if (!run_while([&] { return !all(&Workload::main_done); }, deadline)) {
            if (!flag_.raised) fail(stuck("the workload"));
            return;
        }
        observers_.phase(world.now(), "read-back");
        for (auto& workload : workloads_) workload->readback();
        if (!run_while([&] { return !all(&Workload::readback_done); }, deadline)) {
            if (!flag_.raised) fail(stuck("the read-back"));
            return;
        }
        result_.io_done = world.now() - t0_;
        // Paths healed: every path reconnects (unless reconnecting is bounded and gave up).
        if (s_.settings.max_reconnect_attempts < 0 && !run_while([&] { return !all_paths_connected(); }, deadline)) {
            if (!flag_.raised) fail(stuck("reconnecting every path"));
            return;
        }
        completed_ = true;
        observers_.phase(world.now(), "done");
    }

    bool all_paths_connected() const {
        for (std::uint32_t i = 0; i < cluster_->session_count(); ++i) {
            const Cluster::Session& session = cluster_->session(i);
            if (session.block->transport().connected_paths() != session.paths.size()) return false;
        }
        return true;
    }

    std::string stuck(std::string_view what) {
        std::string message = fmt::format("liveness: {} did not finish within {} after the last fault ({} in flight:",
                                          what, format_duration(s_.expect.liveness_deadline), in_flight());
        for (std::size_t w = 0; w < workloads_.size(); ++w) {
            const Cluster::Device& device = cluster_->devices()[device_of_[w]];
            message += fmt::format(" {} {} {};", cluster_->layout().devices[device_of_[w]].name,
                                   block::to_string(device.device->state()), workloads_[w]->outstanding());
        }
        for (std::uint32_t p = 0; p < cluster_->paths().size(); ++p) {
            const Cluster::Path& path = cluster_->paths()[p];
            const auto* client_path = cluster_->session(path.session).block->transport().path(path.index);
            message += fmt::format(" path {} {};", cluster_->layout().paths[p].name,
                                   client_path ? ibtrs::to_string(client_path->state()) : "removed");
        }
        message.back() = ')';
        return message;
    }

    std::uint64_t in_flight() const {
        std::uint64_t total = 0;
        for (const auto& workload : workloads_) total += workload->outstanding();
        return total;
    }

    void check_leaks() {
        cluster_->world().run_until([&] { return cluster_->leaks().empty(); }, cluster_->world().now() + kSec);
        for (auto& leak : cluster_->leaks()) fail("leak: " + leak);
    }

    void collect();
    void check_expectations();

    const Scenario& s_;
    const RunOptions& options_;
    RunResult result_;
    RunWatch flag_;
    std::unique_ptr<EventLog> log_;
    std::unique_ptr<PerfettoTrace> trace_;
    std::unique_ptr<Timeline> timeline_;
    ObserverList observers_;
    std::unique_ptr<Cluster> cluster_;
    FaultPlan plan_;
    std::unique_ptr<FaultInjector> injector_;
    std::unique_ptr<UsablePathOracle> usable_path_;
    std::vector<std::unique_ptr<DataModel>> models_;
    std::vector<std::unique_ptr<Workload>> workloads_;
    std::vector<std::uint32_t> device_of_;
    Nanos t0_ = 0;
    bool completed_ = false;
};

void Run::collect() {
    auto& world = cluster_->world();
    result_.virtual_time = world.now();
    result_.digest = world.trace_digest();
    result_.world = world.stats();
    for (std::size_t w = 0; w < workloads_.size(); ++w) {
        workloads_[w]->close_stall(world.now());
        for (const auto& violation : workloads_[w]->violations()) fail("oracle: " + violation);
    }
    if (usable_path_) {
        for (const auto& violation : usable_path_->violations()) fail(violation);
    }
    for (std::uint32_t d = 0; d < cluster_->devices().size(); ++d) {
        DeviceReport report;
        report.name = cluster_->layout().devices[d].name;
        report.remaps = cluster_->devices()[d].device->remaps();
        for (std::size_t w = 0; w < workloads_.size(); ++w) {
            if (device_of_[w] != d) continue;
            report.has_workload = true;
            report.stats = workloads_[w]->stats();
        }
        const WorkloadStats& s = report.stats;
        result_.ios += s.completed;
        result_.reads += s.reads;
        result_.writes += s.writes;
        result_.flushes += s.flushes;
        result_.errors += s.errors;
        result_.read_bytes += s.read_bytes;
        result_.write_bytes += s.write_bytes;
        result_.readback_sectors += s.readback_sectors;
        result_.max_stall = std::max(result_.max_stall, s.max_stall);
        result_.latency.merge(s.latency);
        result_.remaps += report.remaps;
        result_.devices.push_back(std::move(report));
    }
    result_.failovers = flag_.failovers;
    for (std::uint32_t p = 0; p < cluster_->paths().size(); ++p) {
        const Cluster::Path& path = cluster_->paths()[p];
        const auto* client_path = cluster_->session(path.session).block->transport().path(path.index);
        PathReport report{cluster_->layout().paths[p].name, "removed", {}};
        if (client_path) {
            report.state = std::string(ibtrs::to_string(client_path->state()));
            report.stats = client_path->stats();
        }
        result_.failovered_ios += report.stats.failovered;
        result_.reconnects += report.stats.reconnects_ok;
        result_.paths.push_back(std::move(report));
    }
    for (const auto& server : cluster_->servers()) result_.server_crashes += server.crashes;
    result_.rogue = injector_->rogue_stats();
}

void Run::check_expectations() {
    const Expectations& expect = s_.expect;
    if (!workloads_.empty() && result_.ios == 0) fail("expectation: the workload did no IO at all");
    if (expect.max_io_errors && result_.errors > *expect.max_io_errors) {
        fail(fmt::format("expectation: {} IO errors, at most {} expected", result_.errors, *expect.max_io_errors));
    }
    if (expect.max_io_stall != 0 && result_.max_stall > expect.max_io_stall) {
        fail(fmt::format("expectation: IO stalled for {}, at most {} expected", format_duration(result_.max_stall),
                         format_duration(expect.max_io_stall)));
    }
    if (result_.failovers < expect.min_failovers) {
        fail(fmt::format("expectation: {} failovers, at least {} expected", result_.failovers, expect.min_failovers));
    }
    if (result_.reconnects < expect.min_reconnects) {
        fail(fmt::format("expectation: {} reconnects, at least {} expected", result_.reconnects, expect.min_reconnects));
    }
    if (result_.remaps < expect.min_remaps) {
        fail(fmt::format("expectation: {} remaps, at least {} expected", result_.remaps, expect.min_remaps));
    }
    if (result_.rogue.stale_writes_refused < expect.min_stale_keys_refused) {
        fail(fmt::format("expectation: {} rogue writes through stale keys refused, at least {} expected",
                         result_.rogue.stale_writes_refused, expect.min_stale_keys_refused));
    }
    if (result_.rogue.opens_granted != 0) {
        fail(fmt::format("oracle: the rogue client opened a victim's device read-write {} times", result_.rogue.opens_granted));
    }
    if (result_.rogue.stale_writes_landed != 0) {
        fail(fmt::format("oracle: the rogue client wrote into a chunk through a revoked or stale key {} times "
                         "({} refused)", result_.rogue.stale_writes_landed, result_.rogue.stale_writes_refused));
    }
    if (!expect.no_errors_with_healthy_path) return;
    for (std::size_t w = 0; w < workloads_.size(); ++w) {
        const Cluster::Device& device = cluster_->devices()[device_of_[w]];
        const WorkloadStats& stats = workloads_[w]->stats();
        if (stats.errors == 0 || plan_.server_crashed[device.server] || plan_.store_failing[device.server][device.store]) continue;
        for (std::uint32_t p : cluster_->session(device.session).paths) {
            if (plan_.path_touched[p]) continue;
            fail(fmt::format("expectation: {} had {} IO errors (first {}) although path {} was never faulted",
                             cluster_->layout().devices[device_of_[w]].name, stats.errors, stats.first_error,
                             cluster_->layout().paths[p].name));
            break;
        }
    }
}

}  // namespace

RunResult run_scenario(const Scenario& scenario, const RunOptions& options) { return Run(scenario, options).execute(); }

}  // namespace ibnbd::scenario
