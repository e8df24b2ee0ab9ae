// OfiEndpoint: reading the completion queue and delivering completions, flushes and the
// disconnected event. See ofi_endpoint.hpp for the states.
#include <rdma/fi_domain.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>

#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_endpoint.hpp"
#include "fabric/ofi/ofi_errors.hpp"
#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

bool OfiEndpoint::deliver_one() {
    switch (state_) {
        case State::connecting:
        case State::accepting:
        case State::closed: return deliver_outcome();
        case State::connected:
        case State::draining:
            if (deliver_work()) return true;
            if (state_ != State::draining) return false;
            // Everything the provider finished has been delivered: the rest is flushed.
            state_ = State::flushing;
            return deliver_flush();
        case State::flushing: return deliver_flush();
    }
    return false;
}

bool OfiEndpoint::deliver_outcome() {
    if (!pending_outcome_) return false;
    const CmEvent event{*pending_outcome_, {}};
    pending_outcome_.reset();
    state_ = State::closed;
    handler_.on_cm_event(event);
    return true;
}

// Delivers the next finished work in post order, reading the CQ as needed. False when nothing
// more can be delivered now.
bool OfiEndpoint::deliver_work() {
    for (;;) {
        if (send_queue_.front_done()) return deliver_front(send_queue_);
        if (recv_queue_.front_done()) return deliver_front(recv_queue_);
        if (batch_next_ == batch_count_ && !refill_batch()) return false;
        if (batch_next_ == batch_count_) continue;  // an error entry was consumed
        const fi_cq_data_entry& entry = batch_[batch_next_++];
        if (!record(entry)) return deliver_remote_imm(entry);
    }
}

bool OfiEndpoint::deliver_front(WorkQueue& queue) {
    const Completion completion = queue.front().result;
    queue.pop();
    handler_.on_completion(completion);
    return true;
}

bool OfiEndpoint::deliver_flush() {
    WorkQueue* queue = !send_queue_.empty() ? &send_queue_ : !recv_queue_.empty() ? &recv_queue_ : nullptr;
    if (queue != nullptr) {
        const WorkSlot& slot = queue->front();
        Completion completion = slot.result;
        if (!slot.done) {
            completion = Completion{};
            completion.context = slot.result.context;
            completion.opcode = slot.result.opcode;
            completion.status = WcStatus::flushed;
        }
        queue->pop();
        handler_.on_completion(completion);
        return true;
    }
    state_ = State::closed;
    ofi_log().debug("disconnected {} -> {}", local_.to_string(), peer_.to_string());
    handler_.on_cm_event(CmEvent{CmEventType::disconnected, {}});
    return true;
}

// Reads the next batch of CQ entries. An error entry is consumed (recorded) right here. Returns
// false when the CQ had nothing.
bool OfiEndpoint::refill_batch() {
    if (cq_failed_) return false;
    const ssize_t read = fi_cq_read(cq_, batch_.data(), batch_.size());
    if (read > 0) {
        batch_next_ = 0;
        batch_count_ = static_cast<std::size_t>(read);
        return true;
    }
    if (read == -FI_EAGAIN) return false;
    if (read == -FI_EAVAIL && read_error_entry()) return true;
    ofi_log().error("reading the completion queue: {}", fi_error_text(read));
    cq_failed_ = true;
    break_connection();
    return false;
}

bool OfiEndpoint::read_error_entry() {
    fi_cq_err_entry error{};
    if (fi_cq_readerr(cq_, &error, 0) != 1) return false;
    const WcStatus status = wc_status_from_fi_error(error.err);
    if (WorkSlot* slot = find_slot(error.op_context)) {
        slot->result.status = status;
        slot->done = true;
    }
    if (status != WcStatus::flushed) {
        ofi_log().warn("work on connection to {} failed: {} -> {}", peer_.to_string(),
                       fi_error_text(error.err), to_string(status));
    }
    // Any failed work means the connection is gone (a flush) or must go (an error).
    break_connection();
    return true;
}

WorkSlot* OfiEndpoint::find_slot(void* provider_context) {
    if (WorkSlot* slot = send_queue_.find(provider_context)) return slot;
    return recv_queue_.find(provider_context);
}

// Records a successful CQ entry into its slot. Returns false for an entry without a slot that
// must be delivered on its own (a write-with-imm that consumed no receive).
bool OfiEndpoint::record(const fi_cq_data_entry& entry) {
    if (WorkSlot* slot = send_queue_.find(entry.op_context)) {
        slot->result.status = WcStatus::success;
        slot->result.byte_len = slot->posted_length;
        slot->done = true;
        return true;
    }
    if (WorkSlot* slot = recv_queue_.find(entry.op_context)) {
        Completion& result = slot->result;
        result.status = WcStatus::success;
        result.byte_len = static_cast<std::uint32_t>(entry.len);
        result.recv_consumed = true;
        result.has_imm = (entry.flags & FI_REMOTE_CQ_DATA) != 0;
        result.imm = static_cast<std::uint32_t>(entry.data);
        // FI_RX_CQ_DATA providers report a write-with-imm on the receive it consumed.
        if (entry.flags & FI_REMOTE_WRITE) {
            result.opcode = Opcode::recv_rdma_with_imm;
            result.byte_len = remote_write_length(entry);
        }
        slot->done = true;
        return true;
    }
    if ((entry.flags & FI_REMOTE_CQ_DATA) && (entry.flags & FI_REMOTE_WRITE)) return false;
    ofi_log().warn("ignoring a completion without a posted slot (flags {:#x})", entry.flags);
    return true;
}

std::uint32_t OfiEndpoint::remote_write_length(const fi_cq_data_entry& entry) const {
    if (domain_.traits().length_in_cq_data) return static_cast<std::uint32_t>(entry.data >> 32);
    return static_cast<std::uint32_t>(entry.len);
}

bool OfiEndpoint::deliver_remote_imm(const fi_cq_data_entry& entry) {
    Completion completion;
    completion.opcode = Opcode::recv_rdma_with_imm;
    completion.byte_len = remote_write_length(entry);
    completion.imm = static_cast<std::uint32_t>(entry.data);
    completion.has_imm = true;
    completion.recv_consumed = false;
    handler_.on_completion(completion);
    return true;
}

}  // namespace ibnbd::fabric::ofi
