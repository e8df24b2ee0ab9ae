// ORACLE: an IO fails only when no usable path existed for it within its deadline.
//
// A path is usable at time t when, for the whole margin before t, the client saw it connected,
// no fault held its link (down, clogged, flapping, heartbeats lost, a connection error) and its
// server was up. An IO's wait window is the failure instant, or for ETIMEDOUT (the IO waited
// for a remap and none came) [failure - wait_while_reconnecting, failure], clamped to its start.
// An IO that failed with any error while a path of its session was usable somewhere in its
// window is a violation, unless a storage_error fault on its device overlapped the IO (then the
// error may be the storage's answer), or its device waits for a remap while IO of its session
// may still be in storage a storage_latency fault made slow (until that IO is out, the server
// may refuse to open the device again or to take a path back, and the client may hold back the
// permits of the requests it lost), or it timed out, or failed waiting for a remap, while its
// session held permits back because old copies of their requests may still land (they wait for a
// path that cannot come back yet; a usable path without a chunk to send on is not usable).
//
// The margins keep the races of detection out (UsablePathMargins): a path whose link fault just
// ended may look connected until the client notices what the fault did to it; a path that just
// reconnected may still be settling with the others; a remap may ride a path not yet found dead.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sim-scenarios/runner/fault_plan.hpp"
#include "sim-scenarios/runner/observer.hpp"

namespace ibnbd::scenario {

// [from, to], both included.
struct TimeWindow {
    Nanos from = 0;
    Nanos to = 0;
};

// What the oracle needs to know of a cluster's tables (cluster.hpp), by global index.
struct OracleTopology {
    struct Device {
        std::vector<std::uint32_t> paths;  // its session's paths
        std::uint32_t server = 0;
        std::uint32_t store = 0;
        std::vector<std::uint32_t> session_stores;  // stores of every device its session maps
    };
    std::vector<std::uint32_t> path_server;
    std::vector<Device> devices;
};

// Every violation message starts with this (shrinking keeps failures of the same kind).
inline constexpr std::string_view kUsablePathViolation = "oracle: IO failed with a usable path:";

// How long a path must have been good (connected, no fault on it or its server) to be usable.
struct UsablePathMargins {
    Nanos after_fault = 0;  // its connection lived through a fault: the client may not know yet
    Nanos fresh = 0;        // its connection was made after the path's last fault was over
    Nanos remap = 0;        // added while the IO's device waits for a remap
};
// The defaults for `settings`: after_fault = the client's heartbeat detection time + the transport
// timeout; fresh = reconnect delay + transport timeout; remap = after_fault.
UsablePathMargins default_usable_path_margins(const Settings& settings);

class UsablePathOracle final : public RunObserver {
public:
    // `report` hears about violations (the run stops at the first one). `plan` times are relative
    // to the start of the workload, which the "safety" phase event marks.
    UsablePathOracle(OracleTopology topology, const FaultPlan& plan, UsablePathMargins margins,
                     Nanos wait_while_reconnecting, RunObserver& report);

    // Whether the device's session holds permits back now (IoShard::permits_awaiting_paths).
    void watch_fenced_permits(std::function<bool(std::uint32_t device)> probe) { fenced_ = std::move(probe); }

    void start(const Layout& layout) override;
    void phase(Nanos t, std::string_view name) override;
    void path_state(Nanos t, std::uint32_t path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                    std::string_view reason) override;
    void device_state(Nanos t, std::uint32_t device, block::DeviceState from, block::DeviceState to) override;
    void io_done(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint32_t length, int status,
                 Nanos latency) override;

    const std::vector<std::string>& violations() const { return violations_; }
    std::uint64_t flagged() const { return flagged_; }

private:
    static constexpr Nanos kForever = std::numeric_limits<Nanos>::max();
    using Window = TimeWindow;

    struct Usable {
        Nanos at = kForever;  // kForever: never
        Nanos connected_since = 0;
        bool fresh = false;   // a connection made after the path's last fault
    };
    struct Failure {
        std::uint32_t device = 0;
        IoKind kind = IoKind::read;
        Nanos at = 0;
        int status = 0;
        Nanos window_from = 0;
    };

    void add_plan_windows(const FaultPlan& plan);
    bool storage_failing(const OracleTopology::Device& device, Nanos from, Nanos to) const;
    // IO of the device's session that entered storage while a storage_latency fault made it slow
    // may still be there at `at` (plus the remap margin): until it is out, the server refuses to
    // take the old connections' chunks back, and the client may hold every permit back.
    bool storage_draining(const OracleTopology::Device& device, Nanos at) const;
    // The first instant in [from, to] at which `path` is usable (margins plus `extra`).
    Usable usable_within(std::uint32_t path, Nanos from, Nanos to, Nanos extra) const;
    std::string describe(const Failure& io, std::uint32_t path, const Usable& usable) const;

    OracleTopology topology_;
    UsablePathMargins margins_;
    Nanos wait_while_reconnecting_;
    RunObserver& report_;
    const Layout* layout_ = nullptr;
    Nanos origin_ = 0;                               // the workload start, absolute
    // Per path: its link's faults and its server's crashes, merged, relative to origin_.
    std::vector<std::vector<Window>> plan_faults_;
    std::vector<std::vector<std::vector<Window>>> plan_storage_errors_;  // [server][store]
    // [(server, store)]: from a storage_latency fault's start to its end plus its latency and jitter.
    std::function<bool(std::uint32_t)> fenced_;
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<Window>> slow_storage_;
    std::vector<std::vector<Window>> connected_;     // per path, absolute
    std::vector<bool> mapped_;                       // per device: mapped now (not waiting for a remap)
    std::map<int, std::uint64_t> errors_by_status_;  // every IO error, for the message
    std::vector<std::string> violations_;
    std::uint64_t flagged_ = 0;
};

std::string errno_name(int status);

}  // namespace ibnbd::scenario
