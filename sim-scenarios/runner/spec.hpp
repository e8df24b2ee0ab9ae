// The scenario data model: what a scenario file (YAML, see parse.hpp) describes, after parsing and
// validation. A run is a pure function of (Scenario, seed).
//
// Names: servers, clients and devices have names; a client with `count: N` expands into clients
// NAME0..NAME{N-1}. A session is identified by (client, label) where label defaults to the server's
// name; its wire session name is "<client>-<label>". Paths are addressed by selectors
// "CLIENT/LABEL/INDEX" (see path_selector.hpp) where any part may be "*".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ibtrs/types.hpp"
#include "fabric/sim/config.hpp"
#include "sim-scenarios/runner/units.hpp"

namespace ibnbd::scenario {

struct LinkSpec {
    Nanos latency = 5 * kMicrosecond;  // one way
    Nanos jitter = 0;
    std::uint64_t bandwidth = 0;       // bytes per second, 0 = infinite
    bool operator==(const LinkSpec&) const = default;
};

struct DeviceSpec {
    std::string name;                  // relative to the server's search path ("/srv")
    std::uint64_t size = 64ull << 20;
    Nanos latency = 20 * kMicrosecond; // storage latency per operation
    Nanos jitter = 0;
    int line = 0;
    bool operator==(const DeviceSpec&) const = default;
};

struct ServerSpec {
    std::string name;
    std::vector<DeviceSpec> devices;
    int line = 0;
    bool operator==(const ServerSpec&) const = default;
};

struct SessionSpec {
    std::string server;
    std::string label;                 // defaults to the server's name
    std::vector<LinkSpec> paths;       // one link per path
    std::vector<std::string> devices;  // device names to map (read-write)
    int line = 0;
    bool operator==(const SessionSpec&) const = default;
};

struct ClientSpec {
    std::string name;
    std::vector<SessionSpec> sessions;
    int line = 0;
    bool operator==(const ClientSpec&) const = default;
};

struct Topology {
    std::vector<ServerSpec> servers;
    std::vector<ClientSpec> clients;
    bool operator==(const Topology&) const = default;
};

struct Settings {
    std::uint16_t queue_depth = 128;       // server chunks per session (permits)
    std::uint32_t chunk_size = 64 << 10;   // also bounds the IO size (chunk minus headers)
    ibtrs::MpPolicy policy = ibtrs::MpPolicy::min_inflight;
    std::uint32_t io_connections = 1;
    std::uint32_t io_shards = 1;  // IO shards per client session (reactors on real backends)
    std::uint32_t server_reactors = 1;  // reactors of every server (ibnbd-server --reactors)
    // Servers rotate chunk keys per request (ibnbd-server --always-invalidate, on by default).
    bool always_invalidate = true;
    Nanos heartbeat_interval = 20 * kMs;
    std::uint32_t heartbeat_missed_max = 3;
    // The servers' own heartbeat; 0: the same as the clients'.
    Nanos server_heartbeat_interval = 0;
    std::uint32_t server_heartbeat_missed_max = 0;
    Nanos reconnect_delay = 20 * kMs;
    Nanos reconnect_max_delay = 200 * kMs;
    Nanos reconnect_jitter = 5 * kMs;
    std::int32_t max_reconnect_attempts = -1;
    Nanos connect_timeout = 2 * kSec;
    Nanos wait_while_reconnecting = 0;    // block layer: IO waits this long for a remap
    Nanos copy_lifetime = 0;  // clients: ibtrs::ClientConfig::copy_lifetime (0: off, as the kernel)
    // The simulated network (fabric/sim/config.hpp).
    Nanos transport_timeout = 20 * kMs;
    Nanos retransmit_interval = 2 * kMs;
    Nanos cm_timeout = 200 * kMs;
    fabric::sim::ImmMode imm_mode = fabric::sim::ImmMode::verbs;
    // Client side: a local disconnect takes effect this much later; work already posted keeps
    // landing meanwhile (lagging_fabric.hpp). 0: at once, as the simulator does.
    Nanos teardown_delay = 0;
    // Hidden (testing only): failover without the drain step, the bug the oracles must catch.
    bool unsafe_failover_without_drain = false;
    bool operator==(const Settings&) const = default;
};

struct SizeWeight {
    std::uint32_t bytes = 4096;
    std::uint32_t weight = 1;
    bool operator==(const SizeWeight&) const = default;
};

struct WorkloadSpec {
    std::string client = "*";          // client name, or "*" for every client mapping the device
    std::string device = "*";          // DEVICE or SERVER/DEVICE, or "*"
    double read_percent = 50;
    std::vector<SizeWeight> block_sizes{{4096, 1}};
    std::uint32_t queue_depth = 8;
    std::uint64_t ios = 0;             // stop after this many IOs ...
    Nanos duration = 0;                // ... or after this long (one of the two is set)
    std::uint64_t rate = 0;            // IOs started per second at most; 0: as fast as the queue allows
    double flush_percent = 0;          // of all operations
    double fua_percent = 0;            // of writes
    std::uint64_t region = 0;          // bytes at the start of the device; 0 = min(size, 16MiB)
    Nanos start = 0;                   // delay before the first IO
    int line = 0;
    bool operator==(const WorkloadSpec&) const = default;
};

enum class FaultType : std::uint8_t {
    link_down,         // paths' links down (for duration, else until the liveness phase)
    clog,              // extra delay on paths' links
    swizzle_clog,      // clog a random subset of the paths one by one, unclog in another order
    flap,              // paths go down and up every period/2
    connection_error,  // a fatal error on every connection of the paths
    heartbeat_loss,    // heartbeat immediates lost on the paths (half-open path)
    crash,             // a server crashes (storage loses what is not durable) and restarts
    storage_error,     // a device fails operations with an errno
    storage_latency,   // a device becomes slow
    cm_reject,         // a node rejects its next connect requests
    cm_delay,          // every CM message is delayed
    rogue_client,      // a rogue client attacks a server
};

enum class RogueMode : std::uint8_t { handshake, requests, mixed, keys };

struct FaultSpec {
    FaultType type = FaultType::link_down;
    Nanos at = 0;
    Nanos duration = 0;                // 0: until the liveness phase heals everything
    std::string target;                // path selector, server name, or "server/device"
    fabric::sim::Direction direction = fabric::sim::Direction::both;  // a_to_b: client to server
    Nanos delay = 0;                   // clog, swizzle_clog, cm_delay; storage_latency: latency
    Nanos jitter = 0;                  // storage_latency
    Nanos period = 0;                  // flap: one down+up cycle; rogue_client: between attacks
    std::uint32_t count = 0;           // cm_reject; storage_error: operations that fail (0 = all)
    int error = 5;                     // storage_error: errno (positive)
    std::string op;                    // storage_error: read, write, flush or "" (any)
    RogueMode rogue = RogueMode::mixed;
    int line = 0;                      // in the scenario file, for messages
    bool operator==(const FaultSpec&) const = default;
};

struct Expectations {
    std::optional<std::uint64_t> max_io_errors = 0;  // nullopt: any number
    Nanos max_io_stall = 0;                          // 0: not checked
    std::uint64_t min_failovers = 0;
    std::uint64_t min_reconnects = 0;
    std::uint64_t min_remaps = 0;
    // Rogue writes through a revoked or stale chunk key that the server refused (mode keys).
    std::uint64_t min_stale_keys_refused = 0;
    Nanos liveness_deadline = 10 * kSec;             // after the last fault ends
    // Devices of a session that kept one path no fault ever touched see no IO error.
    bool no_errors_with_healthy_path = true;
    // An IO fails only when no path of its session was usable within its wait window
    // (usable_path_oracle.hpp). usable_path_margin: the margin after a fault and for a remap
    // (0: the defaults, from the heartbeat and the transport timeout).
    bool no_errors_with_usable_path = true;
    Nanos usable_path_margin = 0;
    bool operator==(const Expectations&) const = default;
};

// Bounds for swarm mode: per seed, everything below is drawn within them.
template <class T>
struct Range {
    T low{};
    T high{};
    bool operator==(const Range&) const = default;
};

struct SwarmSpec {
    Range<std::uint32_t> servers{1, 2};
    Range<std::uint32_t> devices{1, 3};        // per server
    Range<std::uint32_t> clients{1, 3};
    Range<std::uint32_t> paths{1, 3};          // per session
    std::vector<ibtrs::MpPolicy> policies{ibtrs::MpPolicy::round_robin, ibtrs::MpPolicy::min_inflight,
                                          ibtrs::MpPolicy::min_latency};
    Range<Nanos> latency{2 * kMicrosecond, 50 * kMicrosecond};
    Range<Nanos> jitter{0, 10 * kMicrosecond};
    std::vector<std::uint64_t> bandwidths{0};  // chosen per link
    Range<Nanos> storage_latency{0, 50 * kMicrosecond};
    std::vector<std::uint16_t> queue_depths{32, 64, 128};
    Range<std::uint32_t> io_shards{1, 1};      // per client session
    Range<std::uint32_t> io_connections{1, 1};  // per path and shard
    Range<std::uint32_t> server_reactors{1, 1};  // per run
    std::vector<Nanos> wait_while_reconnecting{0, 500 * kMs};
    // Heartbeats of the clients and of the servers, drawn independently (asymmetric detection).
    // Empty lists and unset ranges: the file's settings.
    std::vector<Nanos> heartbeat_intervals;
    std::optional<Range<std::uint32_t>> heartbeat_missed_max;
    std::vector<Nanos> server_heartbeat_intervals;
    std::optional<Range<std::uint32_t>> server_heartbeat_missed_max;
    std::vector<FaultType> fault_types;        // empty: every type; a type listed N times weighs N
    Range<std::uint32_t> faults{0, 4};
    Nanos window = 300 * kMs;                  // faults start within [0, window)
    Range<Nanos> fault_duration{5 * kMs, 150 * kMs};
    // Fault parameters. Durations marked (log) are drawn log-uniformly, so that short ones are common.
    std::optional<Range<Nanos>> crash_duration;  // (log) unset: fault_duration
    Range<Nanos> clog_delay{kMs, 31 * kMs};    // (log) clog and swizzle_clog
    Range<Nanos> storage_fault_latency{500 * kMicrosecond, 5500 * kMicrosecond};  // (log) storage_latency
    // Link faults (link_down, clog, flap, heartbeat_loss) pick a direction from these.
    std::vector<fabric::sim::Direction> directions{fabric::sim::Direction::both, fabric::sim::Direction::a_to_b,
                                                   fabric::sim::Direction::b_to_a};
    double session_wide_percent = 0;           // path faults that hit every path of a session at once
    // Correlated faults: a follow-up hits the session of the fault before it (another of its paths,
    // its server or one of its devices) and starts `follow_up_offset` after that fault's start
    // (negative: before it).
    double follow_up_percent = 0;
    Range<std::int64_t> follow_up_offset{0, 10 * static_cast<std::int64_t>(kMs)};
    Range<std::uint32_t> workload_queue_depth{1, 16};
    Range<std::uint64_t> ios{1000, 8000};      // per device
    // Set: each workload's IOs are paced (WorkloadSpec::rate) to spread over a span drawn here,
    // so that the faults meet IO in flight; unset: as fast as the queue allows.
    std::optional<Range<Nanos>> workload_span;
    Range<double> read_percent{0, 100};
    Range<double> flush_percent{0, 5};
    Range<double> fua_percent{0, 10};
    std::vector<std::uint32_t> block_sizes{4096, 8192, 16384, 32768};  // those > chunk/2 are skipped
    bool operator==(const SwarmSpec&) const = default;
};

struct Scenario {
    std::string name;
    std::string description;
    std::string file;                  // where it was read from
    Topology topology;
    Settings settings;
    std::vector<WorkloadSpec> workloads;
    std::vector<FaultSpec> faults;
    Expectations expect;
    std::optional<SwarmSpec> swarm;
    bool operator==(const Scenario&) const = default;
};

// Whether a workload drives the device `device` of server `server` mapped by client `client`.
bool workload_matches(const WorkloadSpec& workload, std::string_view client, std::string_view server,
                      std::string_view device);

std::string_view to_string(FaultType type);
std::optional<FaultType> parse_fault_type(std::string_view text);
std::string_view to_string(RogueMode mode);

}  // namespace ibnbd::scenario
