#include "sim-scenarios/runner/usable_path_oracle.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/core.h>

namespace ibnbd::scenario {

namespace {

bool starts_path_fault(ActionKind kind) {
    return kind == ActionKind::link_down || kind == ActionKind::clog || kind == ActionKind::heartbeat_filter_on;
}

bool ends_path_fault(ActionKind kind) {
    return kind == ActionKind::link_up || kind == ActionKind::unclog || kind == ActionKind::heartbeat_filter_off;
}

// Turns on/off events of overlapping faults, and instants, into the sorted, disjoint windows
// where at least one fault is active.
class WindowBuilder {
public:
    void on(Nanos at) {
        if (active_++ == 0) open_ = at;
    }
    void off(Nanos at) {
        if (active_ == 0) return;
        if (--active_ == 0) add(open_, at);
    }
    void add(Nanos from, Nanos to) { windows_.push_back({from, to}); }
    // A fault still active at the end lasts until the liveness phase heals it.
    std::vector<TimeWindow> finish(Nanos end) {
        if (active_ != 0) add(open_, end);
        active_ = 0;
        std::sort(windows_.begin(), windows_.end(), [](const TimeWindow& a, const TimeWindow& b) { return a.from < b.from; });
        std::vector<TimeWindow> merged;
        for (const TimeWindow& w : windows_) {
            if (!merged.empty() && w.from <= merged.back().to) {
                merged.back().to = std::max(merged.back().to, w.to);
            } else {
                merged.push_back(w);
            }
        }
        windows_.clear();
        return merged;
    }

private:
    std::uint32_t active_ = 0;
    Nanos open_ = 0;
    std::vector<TimeWindow> windows_;
};

}  // namespace

std::string errno_name(int status) {
    switch (-status) {
        case EIO: return "EIO";
        case ETIMEDOUT: return "ETIMEDOUT";
        case ENOTCONN: return "ENOTCONN";
        case ECONNABORTED: return "ECONNABORTED";
        case ENODEV: return "ENODEV";
        case EINVAL: return "EINVAL";
        case ENOENT: return "ENOENT";
        case ENOSPC: return "ENOSPC";
        case EROFS: return "EROFS";
        case EAGAIN: return "EAGAIN";
        case EBUSY: return "EBUSY";
        default: return fmt::format("errno {}", -status);
    }
}

UsablePathMargins default_usable_path_margins(const Settings& settings) {
    UsablePathMargins margins;
    // Silence is detected at the (missed_max + 2)th heartbeat tick; work posted on a broken
    // connection fails after the transport timeout.
    margins.after_fault = settings.heartbeat_interval * (settings.heartbeat_missed_max + 2) + settings.transport_timeout;
    // A new connection: the other paths may take a reconnect attempt or a failed post to settle.
    margins.fresh = settings.reconnect_delay + settings.transport_timeout;
    // A remap may ride a path that has yet to be found dead.
    margins.remap = margins.after_fault;
    return margins;
}

UsablePathOracle::UsablePathOracle(OracleTopology topology, const FaultPlan& plan, UsablePathMargins margins,
                                   Nanos wait_while_reconnecting, RunObserver& report)
    : topology_(std::move(topology)), margins_(margins), wait_while_reconnecting_(wait_while_reconnecting),
      report_(report), connected_(topology_.path_server.size()), mapped_(topology_.devices.size(), true) {
    add_plan_windows(plan);
}

void UsablePathOracle::add_plan_windows(const FaultPlan& plan) {
    const std::size_t paths = topology_.path_server.size();
    std::vector<WindowBuilder> path_faults(paths), crashes(plan.server_crashed.size());
    std::vector<std::vector<WindowBuilder>> storage;
    // Overlapping slow-storage faults on one store count as one stretch, as slow as the slowest:
    // IO that entered storage under any of them may still be there when the last one ends.
    struct SlowStretch {
        std::uint32_t active = 0;
        Nanos since = 0;
        Nanos latency = 0;
    };
    std::map<std::pair<std::uint32_t, std::uint32_t>, SlowStretch> slow;
    for (const auto& stores : plan.store_failing) storage.emplace_back(stores.size());
    for (const Action& action : plan.actions) {
        if (starts_path_fault(action.kind)) path_faults[action.path].on(action.at);
        if (ends_path_fault(action.kind)) path_faults[action.path].off(action.at);
        if (action.kind == ActionKind::break_connections) path_faults[action.path].add(action.at, action.at);
        if (action.kind == ActionKind::crash) crashes[action.server].on(action.at);
        if (action.kind == ActionKind::restart) crashes[action.server].off(action.at);
        if (action.kind == ActionKind::storage_error) storage[action.server][action.store].on(action.at);
        if (action.kind == ActionKind::storage_clear) storage[action.server][action.store].off(action.at);
        if (action.kind == ActionKind::storage_latency) {
            SlowStretch& stretch = slow[{action.server, action.store}];
            if (stretch.active++ == 0) stretch = {1, action.at, 0};
            stretch.latency = std::max(stretch.latency, action.delay + action.jitter);
        }
        if (action.kind == ActionKind::storage_latency_reset) {
            SlowStretch& stretch = slow[{action.server, action.store}];
            if (stretch.active == 0 || --stretch.active != 0) continue;
            slow_storage_[{action.server, action.store}].push_back({stretch.since, action.at + stretch.latency});
        }
    }
    const auto to_windows = [&](WindowBuilder& builder) { return builder.finish(plan.end); };
    std::vector<std::vector<Window>> server_down;
    for (auto& builder : crashes) server_down.push_back(to_windows(builder));
    for (std::uint32_t p = 0; p < paths; ++p) {
        // The path's own faults and its server's crashes, as one sorted union.
        WindowBuilder merged;
        for (const Window& w : to_windows(path_faults[p])) merged.add(w.from, w.to);
        for (const Window& w : server_down[topology_.path_server[p]]) merged.add(w.from, w.to);
        plan_faults_.push_back(to_windows(merged));
    }
    for (auto& stores : storage) {
        plan_storage_errors_.emplace_back();
        for (auto& builder : stores) plan_storage_errors_.back().push_back(to_windows(builder));
    }
}

void UsablePathOracle::start(const Layout& layout) { layout_ = &layout; }

void UsablePathOracle::phase(Nanos t, std::string_view name) {
    if (name == "safety") origin_ = t;
}

void UsablePathOracle::path_state(Nanos t, std::uint32_t path, ibtrs::ClientPathState, ibtrs::ClientPathState to,
                                  std::string_view) {
    if (path >= connected_.size()) return;
    auto& windows = connected_[path];
    const bool open = !windows.empty() && windows.back().to == kForever;
    if (to == ibtrs::ClientPathState::connected && !open) windows.push_back({t, kForever});
    if (to != ibtrs::ClientPathState::connected && open) windows.back().to = t;
}

bool UsablePathOracle::storage_failing(const OracleTopology::Device& device, Nanos from, Nanos to) const {
    for (const Window& w : plan_storage_errors_[device.server][device.store]) {
        if (origin_ + w.from <= to && origin_ + w.to >= from) return true;
    }
    return false;
}

bool UsablePathOracle::storage_draining(const OracleTopology::Device& device, Nanos at) const {
    for (std::uint32_t store : device.session_stores) {
        const auto found = slow_storage_.find({device.server, store});
        if (found == slow_storage_.end()) continue;
        for (const Window& w : found->second) {
            if (origin_ + w.from <= at && origin_ + w.to + margins_.remap >= at) return true;
        }
    }
    return false;
}

UsablePathOracle::Usable UsablePathOracle::usable_within(std::uint32_t path, Nanos from, Nanos to, Nanos extra) const {
    // A good stretch [a, b] makes the path usable from a + margin to b; the margin is short when
    // the stretch begins with a connection made after every fault on the path was over.
    // b (a fault's start or a disconnection) is excluded: a path is not usable at the instant
    // it breaks.
    const auto usable_in = [&](Nanos a, Nanos b, bool fresh, Nanos connected_since) -> Usable {
        const Nanos usable_from = std::max(a + (fresh ? margins_.fresh : margins_.after_fault) + extra, from);
        if (usable_from < b && usable_from <= to) return {usable_from, connected_since, fresh};
        return {};
    };
    for (const Window& connected : connected_[path]) {
        if (connected.from > to) break;
        if (connected.to < from) continue;
        // Split the connected window at the faults of the path and its server.
        Nanos good_from = connected.from;
        bool fresh = true;
        for (const Window& fault : plan_faults_[path]) {
            const Nanos fault_from = origin_ + fault.from, fault_to = origin_ + fault.to;
            if (fault_to < good_from) continue;
            if (fault_from > connected.to) break;
            if (const Usable usable = usable_in(good_from, fault_from, fresh, connected.from); usable.at != kForever) {
                return usable;
            }
            good_from = std::max(good_from, fault_to);
            fresh = false;
        }
        if (good_from <= connected.to) {
            if (const Usable usable = usable_in(good_from, connected.to, fresh, connected.from); usable.at != kForever) {
                return usable;
            }
        }
    }
    return {};
}

void UsablePathOracle::device_state(Nanos, std::uint32_t device, block::DeviceState, block::DeviceState to) {
    if (device < mapped_.size()) mapped_[device] = to == block::DeviceState::mapped;
}

void UsablePathOracle::io_done(Nanos t, std::uint32_t device, std::uint64_t, IoKind kind, std::uint32_t, int status,
                               Nanos latency) {
    if (status == 0 || device >= topology_.devices.size()) return;
    ++errors_by_status_[status];
    const OracleTopology::Device& d = topology_.devices[device];
    const Nanos started = t - latency;
    if (storage_failing(d, started, t)) return;
    // ETIMEDOUT: the IO waited wait_while_reconnecting for a path. Any other error is decided at
    // the failure instant: the IO may have been on a path that broke at once after it started.
    const Nanos waited = status == -ETIMEDOUT ? wait_while_reconnecting_ : 0;
    const Nanos window_from = std::max(started, t > waited ? t - waited : 0);
    // A device waiting for its remap may fail IO for as long as the remap may take, and the
    // server may refuse to open it again while IO of the old session is still in slow storage.
    if (!mapped_[device] && storage_draining(d, t)) return;
    // Permits held back while old copies may still land: the IO, or the remap it waits for, has
    // no chunk to go out on until their paths are back.
    if ((status == -ETIMEDOUT || !mapped_[device]) && fenced_ && fenced_(device)) return;
    const Nanos extra = mapped_[device] ? 0 : margins_.remap;
    for (std::uint32_t path : d.paths) {
        const Usable usable = usable_within(path, window_from, t, extra);
        if (usable.at == kForever) continue;
        ++flagged_;
        if (!violations_.empty()) return;
        violations_.push_back(describe({device, kind, t, status, window_from}, path, usable));
        report_.violation(t, violations_.back());
        return;
    }
}

std::string UsablePathOracle::describe(const Failure& io, std::uint32_t path, const Usable& usable) const {
    const auto rel = [&](Nanos t) { return format_duration(t - origin_); };
    std::string errors;
    for (const auto& [code, count] : errors_by_status_) {
        errors += fmt::format("{}{} x{}", errors.empty() ? "" : ", ", errno_name(code), count);
    }
    const std::string since = usable.connected_since < origin_ ? "the start" : rel(usable.connected_since);
    return fmt::format("{} {} {} failed with {} at {} (waiting since {}) although path {} was usable from {} "
                       "(connected since {}{}); IO errors so far: {}",
                       kUsablePathViolation, layout_->devices[io.device].name, to_string(io.kind),
                       errno_name(io.status), rel(io.at), rel(io.window_from), layout_->paths[path].name,
                       rel(usable.at), since, usable.fresh ? ", after its last fault" : ", faults over", errors);
}

}  // namespace ibnbd::scenario
