// The data path of the simulator (internal): posting work, executing it at the target,
// acknowledgements, retransmission, RNR and the errors that break a connection.
//
// Life of a send-queue work request:
//   post      -> arrive event at: transmit start (after the direction's earlier bytes) +
//                size / bandwidth + latency + clog + jitter, never before the connection's
//                previous message (no reordering)
//   arrive    -> executed at the target if the direction is up and the peer alive; otherwise
//                retried every retransmit_interval until transport_timeout (then it fails with
//                transport_retry_exceeded). Later requests wait behind it (head of line), as RC.
//   execute   -> bytes copied, target completion delivered, ack scheduled back (with the read
//                response's bytes on the reverse direction). Errors at the target answer with a
//                NAK: remote_access_error (key, range, access), remote_operation_error (send
//                longer than the receive: the receive fails with local_error), and
//                rnr_retry_exceeded after rnr_retry retries rnr_delay apart.
//   ack       -> completes every request up to it (acks are cumulative, as RC's); a NAK breaks
//                the connection. A lost ack is retransmitted like a lost message.
// Local operations (window binds, local invalidations) take a send-queue slot too: they execute
// in order once everything before them executed at the target, need no link, and complete right
// after the request before them; one that fails completes with local_error and breaks the
// connection (telling the peer). A send with invalidate invalidates its key at the target before
// the receive completes; a key the target cannot invalidate fails the receive there with
// remote_operation_error and breaks the target (which tells its peer) after acknowledging the send.
#pragma once

#include <cstdint>
#include <span>

#include "fabric/fabric.hpp"
#include "fabric/sim/connection.hpp"
#include "fabric/sim/trace.hpp"

namespace ibnbd::fabric::sim {

class Engine;
struct Event;

// The kind-specific parts of a send-queue request.
struct WorkDetails {
    RemoteKey remote;       // write, write_imm, read
    std::uint32_t imm = 0;  // send_imm, write_imm
    std::uint32_t key = 0;  // send_inv, local_invalidate: the key; bind_window: the new key
    WindowBinding binding;  // bind_window
};

Status<Errc> post_work(Engine& engine, Connection& connection, OpKind kind, std::uint64_t context,
                       std::span<const Sge> sges, const WorkDetails& details);
Status<Errc> post_receive(Engine& engine, Connection& connection, std::uint64_t context,
                          std::span<const Sge> sges);

void on_arrive(Engine& engine, const Event& event);
void on_ack(Engine& engine, const Event& event);
void on_retransmit(Engine& engine, const Event& event);

}  // namespace ibnbd::fabric::sim
