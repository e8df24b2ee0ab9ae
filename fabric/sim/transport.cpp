#include "fabric/sim/transport.hpp"

#include <algorithm>
#include <cassert>

#include "fabric/sim/engine.hpp"
#include "fabric/sim/lifecycle.hpp"
#include "fabric/sim/node.hpp"

namespace ibnbd::fabric::sim {
namespace {

// Messages of one connection and direction never overtake each other, whatever the jitter.
Nanos in_order(Nanos& previous, Nanos arrival) {
    previous = std::max(previous, arrival);
    return previous;
}

// The peer if a message sent now would reach it: direction up, peer alive and not broken.
// Anything else is silence, as a dead or error-state RC peer gives.
Connection* reachable_peer(Engine& engine, Connection& source) {
    if (!source.tx_direction().up) return nullptr;
    Connection* peer = engine.connections.get(source.peer);
    if (peer == nullptr) return nullptr;
    if (peer->state != ConnState::connected && peer->state != ConnState::accepted) return nullptr;
    return peer;
}

void schedule_ack(Engine& engine, Connection& source, std::uint64_t sequence,
                  std::uint64_t response_bytes) {
    const Nanos back = source.link->transmit(source.rx(), engine.now, response_bytes);
    engine.schedule(EventKind::ack, source, in_order(source.last_ack_arrival, back), sequence);
}

// Something did not get through: retry later, or give up once the outage is transport_timeout old.
void on_silence(Engine& engine, Connection& source, SendWr& wr, std::uint64_t sequence,
                EventKind retry) {
    if (wr.failing_since == kNever) wr.failing_since = engine.now;
    const Nanos deadline = wr.failing_since + engine.config.transport_timeout;
    if (engine.now >= deadline) {
        fail_connection(engine, source, WcStatus::transport_retry_exceeded, false);
        return;
    }
    ++engine.stats().retransmissions;
    const Nanos again = std::min(engine.now + engine.config.retransmit_interval, deadline);
    if (retry == EventKind::arrive) wr.ready_at = again;
    engine.schedule(retry, source, again, sequence);
}

// Request `sequence` was executed: the next one, held behind it, may go.
void executed(Engine& engine, Connection& source, std::uint64_t sequence) {
    source.sends.at(sequence).stage = WrStage::delivered;
    source.next_delivery = sequence + 1;
    if (!source.sends.holds(sequence + 1)) return;
    SendWr& next = source.sends.at(sequence + 1);
    if (next.held) {
        next.held = false;
        engine.schedule(EventKind::arrive, source, std::max(engine.now, next.ready_at), sequence + 1);
    }
}

// The request executed at the target (`moved` bytes copied): ack it and let the next one go.
void delivered(Engine& engine, Connection& source, std::uint64_t sequence, std::uint64_t moved,
               std::uint64_t response_bytes) {
    ++engine.stats().messages_delivered;
    engine.stats().bytes_moved += moved;
    schedule_ack(engine, source, sequence, response_bytes);
    executed(engine, source, sequence);
}

// The target answers with a NAK and, for these errors, breaks its side as an RC responder does.
void refuse(Engine& engine, Connection& source, Connection& target, SendWr& wr,
            std::uint64_t sequence, WcStatus status) {
    wr.stage = WrStage::refused;
    wr.status = status;
    close_connection(engine, target, CmEventType::disconnected, false, engine.now, kNoMessage);
    schedule_ack(engine, source, sequence, 0);
}

void receiver_not_ready(Engine& engine, Connection& source, SendWr& wr, std::uint64_t sequence) {
    if (++wr.rnr_failures > engine.config.rnr_retry) {
        wr.stage = WrStage::refused;
        wr.status = WcStatus::rnr_retry_exceeded;
        schedule_ack(engine, source, sequence, 0);
        return;
    }
    ++engine.stats().rnr_retries;
    wr.ready_at = engine.now + engine.config.rnr_delay;
    engine.schedule(EventKind::arrive, source, wr.ready_at, sequence);
}

// The target's completion, delivered last: its handler may destroy either endpoint.
void notify_target(Engine& engine, EndpointHandle target, const Completion& completion) {
    Connection* connection = engine.connections.get(target);
    if (connection != nullptr && connection->state == ConnState::connected) {
        engine.deliver_completion(*connection, completion);
    }
}

void execute_write(Engine& engine, Connection& source, Connection& target, SendWr& wr,
                   std::uint64_t sequence) {
    const bool with_imm = wr.kind == OpKind::write_imm;
    if (with_imm && source.tx_direction().swallows_imm(wr.imm)) {
        delivered(engine, source, sequence, 0, 0);  // acknowledged, never surfaces
        return;
    }
    std::byte* destination = nullptr;
    if (wr.sges.total != 0) {
        destination = target.node->memory().resolve(wr.remote.rkey, wr.remote.addr, wr.sges.total,
                                                    access_remote_write, target.id);
        if (destination == nullptr) {
            refuse(engine, source, target, wr, sequence, WcStatus::remote_access_error);
            return;
        }
    }
    const bool consumes = with_imm && engine.imm_consumes_recv();
    if (consumes && target.recvs.empty()) {
        receiver_not_ready(engine, source, wr, sequence);
        return;
    }
    if (destination != nullptr) gather(wr.sges, destination);
    Completion completion;
    completion.opcode = Opcode::recv_rdma_with_imm;
    completion.byte_len = wr.sges.total;
    completion.imm = wr.imm;
    completion.has_imm = true;
    if (consumes) {
        completion.context = target.recvs.front().context;
        completion.recv_consumed = true;
        target.recvs.pop();
    }
    const EndpointHandle target_handle = target.self;
    delivered(engine, source, sequence, wr.sges.total, 0);
    if (with_imm) notify_target(engine, target_handle, completion);
}

void execute_send(Engine& engine, Connection& source, Connection& target, SendWr& wr,
                  std::uint64_t sequence) {
    if (target.recvs.empty()) {
        receiver_not_ready(engine, source, wr, sequence);
        return;
    }
    RecvWr& receive = target.recvs.front();
    if (wr.sges.total > receive.sges.total) {
        receive.status = WcStatus::local_error;
        refuse(engine, source, target, wr, sequence, WcStatus::remote_operation_error);
        return;
    }
    const bool invalidates = wr.kind == OpKind::send_inv;
    if (invalidates && !target.node->memory().invalidate(wr.key, target.id)) {
        // Not a key the target can invalidate (IB class J, as SoftRoCE does it): the target
        // fails the receive and breaks, telling its peer, but it has acknowledged the message.
        receive.status = WcStatus::remote_operation_error;
        delivered(engine, source, sequence, 0, 0);  // the ack leaves before the disconnect request
        close_connection(engine, target, CmEventType::disconnected, true, engine.now, kNoMessage);
        return;
    }
    copy_between(wr.sges, receive.sges);
    Completion completion;
    completion.context = receive.context;
    completion.opcode = Opcode::recv;
    completion.byte_len = wr.sges.total;
    completion.imm = wr.imm;
    completion.has_imm = wr.kind == OpKind::send_imm;
    completion.invalidated_rkey = invalidates ? wr.key : 0;
    completion.has_invalidated_rkey = invalidates;
    completion.recv_consumed = true;
    target.recvs.pop();
    const EndpointHandle target_handle = target.self;
    delivered(engine, source, sequence, wr.sges.total, 0);
    notify_target(engine, target_handle, completion);
}

void execute_read(Engine& engine, Connection& source, Connection& target, SendWr& wr,
                  std::uint64_t sequence) {
    if (wr.sges.total != 0) {
        const std::byte* origin = target.node->memory().resolve(wr.remote.rkey, wr.remote.addr,
                                                                wr.sges.total, access_remote_read, target.id);
        if (origin == nullptr) {
            refuse(engine, source, target, wr, sequence, WcStatus::remote_access_error);
            return;
        }
        scatter(origin, wr.sges.total, wr.sges);
    }
    delivered(engine, source, sequence, wr.sges.total, wr.sges.total);
}

// Completes every request up to `sequence` (acks are cumulative), and the local operations
// executed right after it (they need no ack); a NAK'd or failed one breaks the connection.
// Handlers may destroy the endpoint, so it is looked up again after each.
void acknowledge_through(Engine& engine, EndpointHandle handle, std::uint64_t sequence) {
    for (;;) {
        Connection* connection = engine.connections.get(handle);
        if (connection == nullptr || connection->state != ConnState::connected) return;
        if (connection->sends.empty()) return;
        SendWr& wr = connection->sends.front();
        const bool local_done = is_local(wr.kind) && wr.stage != WrStage::in_flight;
        if (connection->sends.head() > sequence && !local_done) return;
        if (wr.stage == WrStage::refused) {
            // RNR and a failed local operation put the queue pair in the error state with the
            // peer still up: it has to be told. A NAK means the peer has broken already.
            const bool tell_peer =
                wr.status == WcStatus::rnr_retry_exceeded || wr.status == WcStatus::local_error;
            fail_connection(engine, *connection, wr.status, tell_peer);
            return;
        }
        assert(wr.stage == WrStage::delivered);
        Completion completion;
        completion.context = wr.context;
        completion.opcode = initiator_opcode(wr.kind);
        completion.byte_len = wr.sges.total;
        connection->sends.pop();
        engine.deliver_completion(*connection, completion);
    }
}

// A bind or a local invalidation, executed in send-queue order once everything before it was
// executed at the target. It crosses no link, and completes as soon as everything before it
// completed; a failure (local_error) breaks the connection then.
void execute_local(Engine& engine, Connection& source, SendWr& wr, std::uint64_t sequence) {
    MemoryRegistry& memory = source.node->memory();
    const bool done = wr.kind == OpKind::bind_window ? memory.bind_window(wr.key, wr.binding)
                                                      : memory.invalidate(wr.key, source.id);
    if (done) {
        executed(engine, source, sequence);
    } else {
        wr.stage = WrStage::refused;
        wr.status = WcStatus::local_error;
    }
    if (source.sends.head() == sequence) acknowledge_through(engine, source.self, sequence);
}

}  // namespace

Status<Errc> post_work(Engine& engine, Connection& connection, OpKind kind, std::uint64_t context,
                       std::span<const Sge> sges, const WorkDetails& details) {
    if (connection.state != ConnState::connected) return unexpected(Errc::not_connected);
    const std::uint32_t needed = kind == OpKind::read ? std::uint32_t{access_local_write} : 0u;
    auto list = SgeList::make(sges, needed);
    if (!list) return unexpected(list.error());
    if (connection.sends.full()) return unexpected(Errc::queue_full);

    const std::uint64_t sequence = connection.sends.tail();
    SendWr& wr = connection.sends.push();
    wr.context = context;
    wr.sges = *list;
    wr.remote = details.remote;
    wr.imm = details.imm;
    wr.key = details.key;
    wr.binding = details.binding;
    wr.kind = kind;
    if (is_local(kind)) {
        wr.ready_at = engine.now;  // held behind earlier work until that was executed
    } else {
        const std::uint64_t bytes = kind == OpKind::read ? 0 : wr.sges.total;
        const Nanos arrival = connection.link->transmit(connection.tx, engine.now, bytes);
        wr.ready_at = in_order(connection.last_tx_arrival, arrival);
    }
    engine.schedule(EventKind::arrive, connection, wr.ready_at, sequence);
    ++engine.stats().posted[static_cast<std::size_t>(kind)];
    return {};
}

Status<Errc> post_receive(Engine& engine, Connection& connection, std::uint64_t context,
                          std::span<const Sge> sges) {
    if (connection.state != ConnState::connected) return unexpected(Errc::not_connected);
    auto list = SgeList::make(sges, access_local_write);
    if (!list) return unexpected(list.error());
    if (connection.recvs.full()) return unexpected(Errc::queue_full);
    RecvWr& wr = connection.recvs.push();
    wr.context = context;
    wr.sges = *list;
    ++engine.stats().receives_posted;
    return {};
}

void on_arrive(Engine& engine, const Event& event) {
    Connection* source = engine.connections.get({event.slot, event.generation});
    if (source == nullptr || source->state != ConnState::connected) return;
    const std::uint64_t sequence = event.value;
    if (!source->sends.holds(sequence)) return;
    // Anything but the oldest undelivered request waits: whoever holds it up re-triggers it.
    if (sequence != source->next_delivery) {
        if (sequence > source->next_delivery) source->sends.at(sequence).held = true;
        return;
    }
    SendWr& head = source->sends.at(sequence);
    if (head.stage != WrStage::in_flight || head.ready_at > engine.now) return;
    if (is_local(head.kind)) {
        execute_local(engine, *source, head, sequence);
        return;
    }
    Connection* target = reachable_peer(engine, *source);
    if (target != nullptr && target->state == ConnState::accepted) {
        // Data before the ready-to-use: the passive side is established first (rdma_cm's
        // COMM_EST), so that its handler can post receives. Handlers may destroy endpoints.
        const EndpointHandle source_handle = source->self;
        establish(engine, *target, {});
        source = engine.connections.get(source_handle);
        if (source == nullptr || source->state != ConnState::connected) return;
        target = reachable_peer(engine, *source);
    }
    SendWr& wr = source->sends.at(sequence);
    if (target == nullptr) {
        on_silence(engine, *source, wr, sequence, EventKind::arrive);
        return;
    }
    wr.failing_since = kNever;
    switch (wr.kind) {
        case OpKind::write:
        case OpKind::write_imm: execute_write(engine, *source, *target, wr, sequence); break;
        case OpKind::send:
        case OpKind::send_imm:
        case OpKind::send_inv: execute_send(engine, *source, *target, wr, sequence); break;
        case OpKind::read: execute_read(engine, *source, *target, wr, sequence); break;
        case OpKind::bind_window:
        case OpKind::local_invalidate: break;  // executed above
    }
}

void on_ack(Engine& engine, const Event& event) {
    Connection* source = engine.connections.get({event.slot, event.generation});
    if (source == nullptr || source->state != ConnState::connected) return;
    if (!source->sends.holds(event.value)) return;  // covered by a later, cumulative ack
    if (!source->rx_direction().up) {
        on_silence(engine, *source, source->sends.at(event.value), event.value,
                   EventKind::retransmit);
        return;
    }
    acknowledge_through(engine, source->self, event.value);
}

// The request was executed but its ack lost: the retransmitted duplicate is not executed again,
// the target only answers it once more.
void on_retransmit(Engine& engine, const Event& event) {
    Connection* source = engine.connections.get({event.slot, event.generation});
    if (source == nullptr || source->state != ConnState::connected) return;
    if (!source->sends.holds(event.value)) return;
    SendWr& wr = source->sends.at(event.value);
    if (reachable_peer(engine, *source) == nullptr) {
        on_silence(engine, *source, wr, event.value, EventKind::retransmit);
        return;
    }
    const Nanos there = source->link->propagate(source->tx, engine.now);
    const Nanos back = source->link->propagate(source->rx(), there);
    engine.schedule(EventKind::ack, *source, in_order(source->last_ack_arrival, back), event.value);
}

}  // namespace ibnbd::fabric::sim
