// IBTRS core: configuration, states, statistics and events shared by client and server.
//
// Everything in core/ibtrs is sans-IO: it acts only through fabric::Fabric (posts, timers, the
// clock and the random stream) and reacts only to the callbacks that interface delivers. A server
// session and all its paths belong to one Fabric, i.e. one reactor thread; a client session's
// control part belongs to one, and each of its IO shards to its own (shard_control.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

using Uuid = std::array<std::uint8_t, 16>;

inline constexpr fabric::Nanos kMillisecond = 1'000'000;
inline constexpr fabric::Nanos kSecond = 1'000 * kMillisecond;

enum class Dir : std::uint8_t { read, write };

// Multipath policy (docs/protocol.md §1.13); numeric values are the kernel's.
enum class MpPolicy : std::uint8_t { round_robin = 0, min_inflight = 1, min_latency = 2 };

std::string_view to_string(MpPolicy policy);
// Accepts "round-robin", "min-inflight", "min-latency" and the kernel's short forms rr/mi/ml.
bool parse_mp_policy(std::string_view text, MpPolicy& out);

// Client path states and their kernel numbering (docs/protocol.md §1.10).
enum class ClientPathState : std::uint8_t {
    connecting = 0,
    connecting_err = 1,
    reconnecting = 2,
    connected = 3,
    closing = 4,
    closed = 5,
    dead = 6,
};

std::string_view to_string(ClientPathState state);
// The transition table of §1.10: only these transitions are ever taken.
bool transition_allowed(ClientPathState from, ClientPathState to);

enum class ServerPathState : std::uint8_t { connecting = 0, connected = 1, closing = 2, closed = 3 };

std::string_view to_string(ServerPathState state);
bool transition_allowed(ServerPathState from, ServerPathState to);

struct HeartbeatConfig {
    fabric::Nanos interval = 5 * kSecond;  // RTRS_HB_INTERVAL_MS
    std::uint32_t missed_max = 5;          // RTRS_HB_MISSED_MAX
};

struct ClientConfig {
    std::string session_name;            // ≤ 254 bytes, no '/' or '.'
    std::uint16_t port = 1234;           // default destination port when a path names none
    std::uint32_t io_connections = 1;    // IO connections per path and IO shard, besides cid 0
    MpPolicy policy = MpPolicy::min_inflight;
    HeartbeatConfig heartbeat;
    // Reconnect (docs/protocol.md §1.11): wait delay × 2^attempt (capped at max_delay) plus a jitter
    // drawn from the fabric's random stream; -1 attempts = forever, 0 = never reconnect.
    fabric::Nanos reconnect_delay = 1 * kSecond;
    fabric::Nanos reconnect_max_delay = 30 * kSecond;
    fabric::Nanos reconnect_jitter = 500 * kMillisecond;
    std::int32_t max_reconnect_attempts = -1;
    // Connection establishment and INFO exchange must finish within this (RTRS_CONNECT_TIMEOUT_MS).
    fabric::Nanos connect_timeout = 30 * kSecond;
    // A request that went out on a path which then broke before the server answered there may
    // still land later (its copy can outlive the client's view of the path in the network), so
    // its permit stays fenced, even once another path had it answered, until that path has
    // reconnected (the server accepts it only after closing the old connection) or, at the latest,
    // this long after the path broke: the longest a server keeps the connection of a client that
    // is gone (the kernel's rtrs-srv: 5 missed heartbeats of 5 s; ibnbd-server: its heartbeat).
    fabric::Nanos fence_timeout = 30 * kSecond;
    // The longest a copy of a request may stay in the network after it was posted (the fabric's
    // packet lifetime; 0 = the client assumes none outlives the path, as the kernel's rtrs-clt).
    // A write whose copy went out on a path that then broke, done on another path, completes only
    // once that copy can no longer land: the path reconnected, or this long after the copy went
    // out. Without it a copy that outlives the client's view of its path can land after a newer
    // write the caller sent once it saw the completion, and undo it. It delays only such writes,
    // and only by what is left of this bound when the path broke. A write that fails (no path took
    // it, or the server's error) is reported at once, as before, so that the block layer acts on
    // it in time (waits for a path, re-opens the device, or fails the IO while no path is usable);
    // while it waits for a path it keeps the permit until the copies cannot land, but a write that
    // failed for good can still have its copy land after a later write to the same sectors.
    fabric::Nanos copy_lifetime = 0;
};

struct ServerConfig {
    std::uint16_t queue_depth = 512;    // chunks per session, 1..65535
    std::uint32_t chunk_size = 131072;  // power of two ≥ 8192; bits(qd-1)+bits(chunk-1) ≤ 28
    HeartbeatConfig heartbeat;
    // Per-request chunk keys (docs/protocol.md §1.7.3, chunk_keys.hpp), as the kernel's server
    // with always_invalidate=Y: a request's arrival revokes its chunk's key, and its response
    // (a send-with-immediate carrying RKEY_RSP, announced by NEW_RKEY_F in the accept) gives the
    // chunk's next key. Needs Fabric::supports_fabric_windows(): Server::create() fails with
    // -EOPNOTSUPP without. Off: one fixed key reaches every chunk of a path for its lifetime.
    bool always_invalidate = true;
    // Connections that have not completed the RTRS handshake (accepted for a path whose INFO
    // exchange has not happened): at most max_pending_handshakes at once on this Server (one
    // reactor's), beyond which connect requests are refused with -EBUSY; a path still not
    // connected handshake_timeout after it was created is closed. Both bound what clients that
    // connect and go silent can hold. 0 turns a bound off.
    std::uint32_t max_pending_handshakes = 128;
    fabric::Nanos handshake_timeout = 10 * kSecond;
};

// Per-path statistics (the kernel's stats/rdma, stats/reconnects and cur_latency).
struct PathStats {
    std::uint64_t read_count = 0;
    std::uint64_t read_bytes = 0;   // data + user message bytes, as the kernel counts
    std::uint64_t write_count = 0;
    std::uint64_t write_bytes = 0;
    std::uint32_t inflight = 0;
    std::uint64_t failovered = 0;   // requests moved off this path when it failed
    std::uint64_t rkey_updates = 0;  // chunk keys the server sent with its responses (NEW_RKEY_F)
    std::uint64_t reconnects_ok = 0;
    std::uint64_t reconnects_failed = 0;
    fabric::Nanos cur_latency = 0;  // last heartbeat round trip; 0 until the first ack
    std::uint64_t state_transitions = 0;
};

struct SessionStats {
    std::uint64_t requests_submitted = 0;
    std::uint64_t requests_completed_ok = 0;
    std::uint64_t requests_failed = 0;
    std::uint64_t failovers = 0;
    std::uint64_t permits_in_use = 0;
    std::uint64_t permits_fenced = 0;   // held back: the server may still use their chunks
    std::uint64_t completions_held = 0;  // writes whose completion waited for a late copy (copy_lifetime)
    std::uint64_t server_session_lost = 0;  // times a path found the server without our session
};

// Structured events for operators and tests (delivered synchronously from the reactor).
class ClientEventListener {
public:
    virtual ~ClientEventListener() = default;
    virtual void on_path_state(std::string_view path, ClientPathState from, ClientPathState to,
                               std::string_view reason) {
        (void)path, (void)from, (void)to, (void)reason;
    }
    virtual void on_failover(std::string_view from_path, std::string_view to_path, std::uint32_t ios) {
        (void)from_path, (void)to_path, (void)ios;
    }
    virtual void on_reconnect_attempt(std::string_view path, std::uint32_t attempt, bool succeeded) {
        (void)path, (void)attempt, (void)succeeded;
    }
    // Session-level events: all paths down, and a path up again after that.
    virtual void on_session_disconnected() {}
    virtual void on_session_reconnected() {}
};

}  // namespace ibnbd::ibtrs
