#include "fabric/sim/trace.hpp"

#include <numeric>

namespace ibnbd::fabric::sim {
namespace {

// One multiply-xorshift round per word: order-sensitive, cheap, and every bit of every field
// reaches the digest.
std::uint64_t fold(std::uint64_t digest, std::uint64_t word) {
    digest = (digest ^ word) * 0xFF51AFD7ED558CCDull;
    return digest ^ (digest >> 33);
}

}  // namespace

std::string_view to_string(TraceKind kind) {
    switch (kind) {
        case TraceKind::completion: return "completion";
        case TraceKind::cm_event: return "cm_event";
        case TraceKind::connect_request: return "connect_request";
        case TraceKind::timer: return "timer";
        case TraceKind::fault: return "fault";
    }
    return "unknown";
}

std::string_view to_string(FaultKind kind) {
    switch (kind) {
        case FaultKind::link_state: return "link_state";
        case FaultKind::link_clog: return "link_clog";
        case FaultKind::imm_filter: return "imm_filter";
        case FaultKind::break_connection: return "break_connection";
        case FaultKind::node_crash: return "node_crash";
        case FaultKind::node_restart: return "node_restart";
        case FaultKind::cm_reject: return "cm_reject";
        case FaultKind::cm_drop: return "cm_drop";
        case FaultKind::cm_delay: return "cm_delay";
        case FaultKind::registration_fail: return "registration_fail";
    }
    return "unknown";
}

std::uint64_t WorldStats::network_operations() const {
    const std::uint64_t all = std::accumulate(posted.begin(), posted.end(), std::uint64_t{0});
    return all - posted_of(OpKind::bind_window) - posted_of(OpKind::local_invalidate);
}

void Tracer::record(const TraceEvent& event) {
    std::uint64_t digest = digest_;
    digest = fold(digest, event.time);
    digest = fold(digest, (std::uint64_t{event.node} << 32) |
                              (std::uint64_t{static_cast<std::uint8_t>(event.kind)} << 16) |
                              (std::uint64_t{event.code} << 8) |
                              static_cast<std::uint8_t>(event.status));
    digest = fold(digest, event.endpoint);
    digest = fold(digest, event.context);
    digest = fold(digest, (std::uint64_t{event.byte_len} << 32) | event.imm);
    digest_ = digest;

    switch (event.kind) {
        case TraceKind::completion: ++stats_.completions; break;
        case TraceKind::cm_event:
        case TraceKind::connect_request: ++stats_.cm_events; break;
        case TraceKind::timer: ++stats_.timers_fired; break;
        case TraceKind::fault: break;
    }
    if (event.kind != TraceKind::fault) ++stats_.events_delivered;
    if (observer_) observer_(event);
}

}  // namespace ibnbd::fabric::sim
