// Connection: reading the completion queue and delivering completions, flushes and the
// disconnected event. See verbs_connection.hpp for the states.
#include <arpa/inet.h>

#include <cerrno>

#include "fabric/verbs/verbs_connection.hpp"
#include "fabric/verbs/verbs_errors.hpp"
#include "fabric/verbs/verbs_log.hpp"

namespace ibnbd::fabric::verbs {

bool Connection::deliver_one() {
    if (pending_event_) return deliver_pending_event();
    if (state_ != State::connected && state_ != State::draining) return false;
    return deliver_work();
}

bool Connection::deliver_pending_event() {
    const CmEventType type = *pending_event_;
    pending_event_.reset();
    EndpointHandler* handler = handler_;
    // After an abandoned attempt's disconnected nothing more is reported.
    if (abandoned_) handler_ = nullptr;
    if (handler == nullptr) return false;
    handler->on_cm_event(CmEvent{type, {}});
    return true;
}

// Delivers the next finished work in post order, reading the CQ as needed; finishes a drain.
// False when nothing can be delivered now.
bool Connection::deliver_work() {
    for (;;) {
        if (send_ring_.front_done()) return deliver_front(send_ring_);
        if (recv_ring_.front_done()) return deliver_front(recv_ring_);
        if (batch_next_ < batch_count_) {
            record(batch_[batch_next_++]);
            continue;
        }
        if (refill_batch()) continue;
        if (state_ != State::draining) return false;
        if (send_ring_.empty() && recv_ring_.empty()) return finish_drain();
        if (monotonic_now() < drain_deadline_) return false;
        verbs_log().warn("connection {} -> {}: the device did not flush {} send and {} receive work "
                         "requests in time; completing them as flushed", local_.to_string(),
                         peer_.to_string(), send_ring_.size(), recv_ring_.size());
        flush_locally();
    }
}

bool Connection::deliver_front(WorkRing& ring) {
    const Completion completion = ring.front().result;
    ring.pop();
    if (handler_ == nullptr) return true;  // an orphan drains silently
    handler_->on_completion(completion);
    return true;
}

bool Connection::finish_drain() {
    enter_closed();
    verbs_log().debug("disconnected {} -> {}", local_.to_string(), peer_.to_string());
    if (handler_ == nullptr || abandoned_) return true;
    handler_->on_cm_event(CmEvent{CmEventType::disconnected, {}});
    return true;
}

int Connection::poll_cq() {
    const int polled = ibv_poll_cq(cq_, static_cast<int>(batch_.size()), batch_.data());
    if (polled < 0) {
        verbs_log().error("ibv_poll_cq on {}: {}", peer_.to_string(), errno_text(-polled));
        break_connection("reading the completion queue failed");
        flush_locally();
        return 0;
    }
    return polled;
}

// Reads the next batch of completions. An empty CQ is armed (for the completion channel) and read
// once more, so that nothing that arrived before the arming is missed. False when it stays empty.
bool Connection::refill_batch() {
    int polled = poll_cq();
    if (polled == 0 && !armed_) {
        if (ibv_req_notify_cq(cq_, 0) == 0) armed_ = true;
        polled = poll_cq();
    }
    batch_next_ = 0;
    batch_count_ = static_cast<std::size_t>(polled);
    return polled > 0;
}

// Records one work completion into its slot. On error verbs defines only wr_id, status, qp_num and
// vendor_err: the opcode and length come from the slot.
void Connection::record(const ibv_wc& wc) {
    const bool receive = (wc.wr_id & WorkRing::kRecvTag) != 0;
    WorkSlot* slot = receive ? recv_ring_.find(wc.wr_id) : send_ring_.find(wc.wr_id);
    if (slot == nullptr) {
        verbs_log().debug("ignoring a completion without a posted slot (wr_id {:#x}, status {})", wc.wr_id,
                          ibv_wc_status_str(wc.status));
        return;
    }
    const WcStatus status = wc_status_from_ibv(wc.status);
    Completion& result = slot->result;
    result.status = status;
    slot->done = true;
    if (status != WcStatus::success) {
        if (status != WcStatus::flushed) {
            verbs_log().warn("{} on connection {} -> {} failed: {} (vendor error {:#x})", to_string(result.opcode),
                             local_.to_string(), peer_.to_string(), ibv_wc_status_str(wc.status), wc.vendor_err);
        }
        // An error (or a flush nobody asked for) means the QP is in the error state.
        break_connection(ibv_wc_status_str(wc.status));
        return;
    }
    if (!receive) {
        result.byte_len = slot->posted_length;
        return;
    }
    result.opcode = wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM ? Opcode::recv_rdma_with_imm : Opcode::recv;
    result.byte_len = wc.byte_len;
    result.has_imm = (wc.wc_flags & IBV_WC_WITH_IMM) != 0;
    result.imm = result.has_imm ? ntohl(wc.imm_data) : 0;
    // imm_data and invalidated_rkey share a union; a send carries one or the other.
    result.has_invalidated_rkey = !result.has_imm && wc.opcode == IBV_WC_RECV &&
                                  (wc.wc_flags & device_.invalidation_wc_flags()) != 0;
    result.invalidated_rkey = result.has_invalidated_rkey ? wc.invalidated_rkey : 0;
    result.recv_consumed = true;
}

}  // namespace ibnbd::fabric::verbs
