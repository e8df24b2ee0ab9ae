// The simulator's event trace: a running 64-bit digest, an optional observer and counters.
//
// Every callback the world delivers (completion, CM event, connect request, timer) and every
// fault injected is one TraceEvent. The digest folds each event's fields in order, so two runs
// agree on it exactly when they delivered the same events at the same virtual times; a
// determinism check runs a seed twice and compares trace_digest().
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string_view>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::sim {

enum class TraceKind : std::uint8_t {
    completion,       // code: Opcode; status, byte_len valid; imm: the immediate, or the key a
                      // send with invalidate invalidated
    cm_event,         // code: CmEventType; byte_len: private data length
    connect_request,  // a listener's on_connect_request(); byte_len: private data length
    timer,            // context: the timer's cookie
    fault,            // code: FaultKind; context: the fault's argument (count, delay, 0/1 for up)
};

enum class FaultKind : std::uint8_t {
    link_state,         // node: none; context: 1 = up, 0 = down; endpoint: link index
    link_clog,          // context: extra delay; endpoint: link index
    imm_filter,         // context: 1 = set, 0 = removed; endpoint: link index
    break_connection,   // endpoint: connection id
    node_crash,
    node_restart,
    cm_reject,          // context: count
    cm_drop,            // context: count
    cm_delay,           // context: extra delay
    registration_fail,  // context: count
};

std::string_view to_string(TraceKind kind);
std::string_view to_string(FaultKind kind);

// One delivered event. `node` is the node whose handler ran (or the faulted node; kNoNode when
// the fault concerns a link); `endpoint` is the world-unique connection id (0 when none).
struct TraceEvent {
    static constexpr std::uint32_t kNoNode = 0xFFFFFFFFu;
    Nanos time = 0;
    std::uint32_t node = kNoNode;
    TraceKind kind = TraceKind::completion;
    std::uint8_t code = 0;
    WcStatus status = WcStatus::success;
    std::uint64_t endpoint = 0;
    std::uint64_t context = 0;
    std::uint32_t byte_len = 0;
    std::uint32_t imm = 0;
};

// Kinds of send-queue work a post starts, for the per-kind counters. The last two are local
// operations: they never cross a link.
enum class OpKind : std::uint8_t { send, send_imm, write, write_imm, read, send_inv, bind_window, local_invalidate };
inline constexpr std::size_t kOpKinds = 8;

constexpr bool is_local(OpKind kind) { return kind == OpKind::bind_window || kind == OpKind::local_invalidate; }

struct WorldStats {
    std::array<std::uint64_t, kOpKinds> posted{};  // send-queue work posted, by OpKind
    std::uint64_t receives_posted = 0;
    std::uint64_t messages_delivered = 0;  // operations that took effect at their target
    std::uint64_t bytes_moved = 0;         // payload bytes copied between nodes
    std::uint64_t retransmissions = 0;     // attempts that found a link down or a silent peer
    std::uint64_t rnr_retries = 0;
    std::uint64_t completions = 0;         // delivered on_completion() callbacks
    std::uint64_t cm_events = 0;           // delivered on_cm_event() and on_connect_request()
    std::uint64_t timers_fired = 0;
    std::uint64_t events_delivered = 0;    // every traced callback (the three above)
    std::uint64_t events_processed = 0;    // queue entries popped, stale ones included

    std::uint64_t posted_of(OpKind kind) const { return posted[static_cast<std::size_t>(kind)]; }
    // Posted work that crosses a link (every kind but the local ones).
    std::uint64_t network_operations() const;
};

class Tracer {
public:
    // Folds `event` into the digest, counts it and shows it to the observer.
    void record(const TraceEvent& event);
    std::uint64_t digest() const { return digest_; }
    // The observer must not call back into the world.
    void set_observer(std::function<void(const TraceEvent&)> observer) {
        observer_ = std::move(observer);
    }
    WorldStats& stats() { return stats_; }
    const WorldStats& stats() const { return stats_; }

private:
    std::uint64_t digest_ = 0xCBF29CE484222325ull;
    std::function<void(const TraceEvent&)> observer_;
    WorldStats stats_;
};

}  // namespace ibnbd::fabric::sim
