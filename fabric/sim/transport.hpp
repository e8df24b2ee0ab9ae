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
#pragma once

#include <cstdint>
#include <span>

#include "fabric/fabric.hpp"
#include "fabric/sim/connection.hpp"
#include "fabric/sim/trace.hpp"

namespace ibnbd::fabric::sim {

class Engine;
struct Event;

Status<Errc> post_work(Engine& engine, Connection& connection, OpKind kind, std::uint64_t context,
                       std::span<const Sge> sges, RemoteKey remote, std::uint32_t imm);
Status<Errc> post_receive(Engine& engine, Connection& connection, std::uint64_t context,
                          std::span<const Sge> sges);

void on_arrive(Engine& engine, const Event& event);
void on_ack(Engine& engine, const Event& event);
void on_retransmit(Engine& engine, const Event& event);

}  // namespace ibnbd::fabric::sim
