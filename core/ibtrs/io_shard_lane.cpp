// IoShard lanes: a shard's IO connections of one path - connect, carry requests, drain, fail over.
#include <algorithm>
#include <cerrno>

#include "core/ibtrs/empty_recvs.hpp"
#include "core/ibtrs/io_shard.hpp"
#include "core/ibtrs/io_shard_lane.hpp"
#include "core/ibtrs/work_context.hpp"
#include "core/log.hpp"

namespace ibnbd::ibtrs {

void IoShard::LaneConn::on_completion(const fabric::Completion& completion) {
    lane.shard.on_completion(*this, completion);
}

void IoShard::LaneConn::on_cm_event(const fabric::CmEvent& event) { lane.shard.on_cm_event(*this, event); }

template <class Report>
void IoShard::report(Report&& report) {
    if (home_ == nullptr) {
        report(*events_);
        return;
    }
    home_->post([events = events_, report = std::forward<Report>(report)] { report(*events); });
}

// ---- connect -----------------------------------------------------------------------------------

void IoShard::connect_lane(const LaneConnect& connect) {
    Lane& lane = *lanes_[connect.path];
    if (lane.state != Lane::State::idle) {
        // The session drains a lane before it reconnects the path; an active lane here is stale.
        log().warn("ibtrs session {} shard {}: path {} reconnects before its drain ended", config_.session_name,
                   config_.index, connect.path);
        lane.conns.clear();
        failover(lane);
    }
    lanes_used_ = std::max(lanes_used_, connect.path + 1);
    lane.generation = connect.generation;
    lane.connect = connect;
    lane.chunks.clear();
    lane.conns.clear();
    if (const int status = configure(connect.params); status != 0) {
        lane.state = Lane::State::failed;
        report([shard = config_.index, path = lane.path, generation = lane.generation](ShardEvents& events) {
            events.on_lane_failed(shard, path, generation, "shard setup failed");
        });
        return;
    }
    lane.state = Lane::State::connecting;
    for (std::uint16_t i = 0; i < connect.cids; ++i) {
        lane.conns.push_back(std::make_unique<LaneConn>(lane, static_cast<std::uint16_t>(connect.first_cid + i)));
    }
    connect_next(lane);
}

void IoShard::connect_next(Lane& lane) {
    const auto next = std::find_if(lane.conns.begin(), lane.conns.end(), [](const auto& conn) {
        return !conn->established;
    });
    if (next == lane.conns.end()) {
        lane.state = Lane::State::established;
        report([shard = config_.index, path = lane.path, generation = lane.generation](ShardEvents& events) {
            events.on_lane_established(shard, path, generation);
        });
        return;
    }
    LaneConn& conn = **next;
    wire::ConnReq request = lane.connect.request;
    request.cid = conn.cid;
    std::array<std::byte, wire::kConnReqSize> private_data{};
    const auto encoded = wire::encode_conn_req(request, private_data);
    assert(encoded.has_value());
    const std::uint32_t depth = std::max<std::uint32_t>(params_.queue_depth, 1);
    auto endpoint = fabric_.connect(lane.connect.destination, lane.connect.source, private_data, conn,
                                    {2 * depth + 2, depth + 2});
    if (!endpoint) {
        log().warn("ibtrs session {} shard {}: connect cid {} failed: {}", config_.session_name, config_.index,
                   conn.cid, fabric::to_string(endpoint.error()));
        return lane_failed(lane, "connect failed");
    }
    conn.endpoint = std::move(endpoint.value());
}

void IoShard::on_conn_established(LaneConn& conn, std::span<const std::byte> private_data) {
    conn.established = true;
    Lane& lane = conn.lane;
    if (lane.state != Lane::State::connecting) return;
    const auto rsp = wire::decode_conn_rsp(private_data);
    if (!rsp || !wire::check_conn_rsp(*rsp) || rsp->status != 0) return lane_failed(lane, "bad connection response");
    if ((rsp->flags & wire::kConnRspNewRkeyFlag) != 0) {
        auto buffers = RegisteredBuffer::create(fabric_, std::size_t{params_.queue_depth} * wire::kRkeyRspSize,
                                                fabric::access_local_write);
        if (!buffers) return lane_failed(lane, "registering key receive buffers failed");
        conn.rkey_buffers = std::move(buffers.value());
        for (std::uint32_t slot = 0; slot < params_.queue_depth; ++slot) {
            if (!post_rkey_recv(conn, slot)) return lane_failed(lane, "posting IO receives failed");
        }
    } else if (!post_empty_recvs(conn, params_.queue_depth)) {
        return lane_failed(lane, "posting IO receives failed");
    }
    connect_next(lane);
}

Status<int> IoShard::post_rkey_recv(LaneConn& conn, std::uint32_t slot) {
    const fabric::Sge sge = conn.rkey_buffers.sge(std::size_t{slot} * wire::kRkeyRspSize, wire::kRkeyRspSize);
    const std::uint64_t context = WorkContext{WorkKind::recv, conn.cid, conn.lane.generation, slot}.pack();
    if (!conn.endpoint->post_recv(context, {&sge, 1})) return unexpected(-EIO);
    return {};
}

// Puts back the receive a completion consumed: the same key buffer, or an empty one.
Status<int> IoShard::repost_recv(LaneConn& conn, const fabric::Completion& completion) {
    if (conn.rkey_buffers.size() == 0) return post_empty_recvs(conn, 1);
    return post_rkey_recv(conn, WorkContext::unpack(completion.context).slot);
}

Status<int> IoShard::post_empty_recvs(LaneConn& conn, std::uint32_t count) {
    const std::uint64_t context = WorkContext{WorkKind::recv, conn.cid, conn.lane.generation, 0}.pack();
    return ibtrs::post_empty_recvs(fabric_, *conn.endpoint, context, count);
}

void IoShard::lane_up(std::uint32_t path, std::uint16_t generation, const std::vector<wire::RemoteChunk>& chunks) {
    Lane& lane = *lanes_[path];
    if (lane.generation != generation || lane.state != Lane::State::established) return;  // failed meanwhile
    lane.chunks = chunks;
    lane.state = Lane::State::up;
    // The server accepted the path again only once the requests it brought were done: requests
    // may go out on it again, and chunks that waited for it alone are free.
    for (Permit permit = permits_.base(); permit < permits_.base() + permits_.capacity(); ++permit) {
        RequestSlot& request = slot(permit);
        request.tried.reset(path);
        request.unanswered_on.reset(path);  // also of requests in flight elsewhere now
        if (request.state == RequestSlot::State::fenced && request.unanswered_on.none()) unfence(permit);
    }
    if (path_watcher_ != nullptr && lane.state == Lane::State::up) path_watcher_->on_path_usable();
}

void IoShard::set_latency(std::uint32_t path, fabric::Nanos latency) { lanes_[path]->latency = latency; }

// ---- events ------------------------------------------------------------------------------------

void IoShard::on_cm_event(LaneConn& conn, const fabric::CmEvent& event) {
    switch (event.type) {
        case fabric::CmEventType::established: return on_conn_established(conn, event.private_data);
        case fabric::CmEventType::rejected:
            conn.drained = true;
            return lane_failed(conn.lane, "connection rejected");
        case fabric::CmEventType::unreachable:
            conn.drained = true;
            return lane_failed(conn.lane, "server unreachable");
        case fabric::CmEventType::disconnected:
            lane_failed(conn.lane, "disconnected");
            return on_conn_drained(conn);
    }
}

void IoShard::on_completion(LaneConn& conn, const fabric::Completion& completion) {
    if (completion.status != fabric::WcStatus::success) {
        if (completion.status != fabric::WcStatus::flushed) {
            log().warn("ibtrs session {} shard {}: cid {} {} failed: {}", config_.session_name, config_.index,
                       conn.cid, fabric::to_string(completion.opcode), fabric::to_string(completion.status));
            lane_failed(conn.lane, "work completion error");
        }
        return;
    }
    const WorkContext context = WorkContext::unpack(completion.context);
    switch (completion.opcode) {
        case fabric::Opcode::recv_rdma_with_imm: return on_imm(conn, completion);
        case fabric::Opcode::recv:
            if (conn.rkey_buffers.size() != 0 && completion.has_imm) return on_rkey_response(conn, completion);
            return lane_failed(conn.lane, "unexpected send from server");
        case fabric::Opcode::rdma_write:
            if (context.kind == WorkKind::io_request && context.generation == conn.lane.generation) {
                on_request_posted_done(conn.lane, context.slot);
            }
            return;
        case fabric::Opcode::send:
        case fabric::Opcode::rdma_read: return;
    }
}

void IoShard::on_imm(LaneConn& conn, const fabric::Completion& completion) {
    conn.lane.counters.received.add(1);
    if (completion.recv_consumed && !repost_recv(conn, completion)) {
        return lane_failed(conn.lane, "re-posting a receive failed");
    }
    const wire::Imm imm = wire::imm_decode(completion.imm);
    switch (imm.type) {
        case wire::ImmType::io_rsp:
        case wire::ImmType::io_rsp_w_inv: {
            const wire::IoRsp rsp = wire::io_rsp_decode(imm.payload);
            return on_response(conn.lane, rsp.msg_id, rsp.status);
        }
        case wire::ImmType::hb_msg:
        case wire::ImmType::hb_ack:
        case wire::ImmType::io_req:
        default:
            // Heartbeats belong to cid 0 (the session's), requests to the server.
            log().warn("ibtrs session {} shard {}: unexpected immediate {:#x} on cid {}", config_.session_name,
                       config_.index, completion.imm, conn.cid);
            return;
    }
}

// A response as a send-with-immediate whose payload is the chunk's next key (NEW_RKEY_F): the key
// applies to the chunk before its permit can carry another request.
void IoShard::on_rkey_response(LaneConn& conn, const fabric::Completion& completion) {
    Lane& lane = conn.lane;
    lane.counters.received.add(1);
    const std::uint32_t slot = WorkContext::unpack(completion.context).slot;
    const wire::Imm imm = wire::imm_decode(completion.imm);
    const auto message = wire::decode_rkey_rsp(conn.rkey_buffers.span().subspan(
        std::size_t{slot} * wire::kRkeyRspSize, std::min<std::size_t>(completion.byte_len, wire::kRkeyRspSize)));
    if (imm.type != wire::ImmType::io_rsp && imm.type != wire::ImmType::io_rsp_w_inv) {
        return lane_failed(lane, "send with an unexpected immediate");
    }
    const wire::IoRsp rsp = wire::io_rsp_decode(imm.payload);
    if (!message || message->buf_id != rsp.msg_id || message->buf_id >= lane.chunks.size()) {
        return lane_failed(lane, "malformed RKEY_RSP");
    }
    if (!post_rkey_recv(conn, slot)) return lane_failed(lane, "re-posting a receive failed");
    lane.chunks[message->buf_id].rkey = message->rkey;
    lane.counters.rkey_updates.add(1);
    on_response(lane, rsp.msg_id, rsp.status);
}

// ---- IO ----------------------------------------------------------------------------------------

Status<int> IoShard::post_request(Lane& lane, Permit permit, RequestSlot& slot) {
    if (lane.state != Lane::State::up) return unexpected(-ENOTCONN);
    LaneConn& conn = *lane.conns[permit % lane.conns.size()];
    const wire::RemoteChunk& chunk = lane.chunks[permit];
    const std::uint32_t remote_offset = slot.dir == Dir::write ? 0 : slot.data_len;
    const auto payload = wire::io_req_payload(permit, wire::mem_bits(params_.queue_depth),
                                              slot.data_len + slot.usr_len);
    if (!payload) return unexpected(-EMSGSIZE);
    const std::uint32_t imm = wire::imm_encode(wire::ImmType::io_req, *payload);

    std::array<fabric::Sge, fabric::kMaxSge> sges{};
    std::size_t count = 0;
    if (slot.dir == Dir::write) {
        for (std::size_t i = 0; i < slot.data_count; ++i) sges[count++] = slot.data[i];
    }
    sges[count++] = headers_.sge(offset(permit) * params_.max_hdr_size, slot.hdr_len);
    const std::uint64_t context = WorkContext{WorkKind::io_request, conn.cid, lane.generation, permit}.pack();
    const auto posted = conn.endpoint->post_write(context, {sges.data(), count},
                                                  {chunk.addr + remote_offset, chunk.rkey}, &imm);
    if (!posted) {
        if (posted.error() == fabric::Errc::queue_full) return unexpected(-EAGAIN);
        log().warn("ibtrs session {} shard {}: request post on path {} failed: {}", config_.session_name,
                   config_.index, lane.path, fabric::to_string(posted.error()));
        lane.timers.start(Lane::deferred_fail_timer, 0);  // not inside the caller's submission
        return unexpected(-EIO);
    }
    slot.path = lane.path;
    slot.unanswered_on.set(lane.path);
    slot.cid = conn.cid;
    slot.generation = lane.generation;
    set_state(slot, RequestSlot::State::posted);
    lane.counters.inflight.add(1);
    const std::uint64_t bytes = std::uint64_t{slot.data_len} + slot.usr_len;
    if (slot.dir == Dir::write) {
        lane.counters.write_count.add(1);
        lane.counters.write_bytes.add(bytes);
    } else {
        lane.counters.read_count.add(1);
        lane.counters.read_bytes.add(bytes);
    }
    return {};
}

// ---- failure, drain, failover ------------------------------------------------------------------

void IoShard::on_lane_timer(Lane& lane, std::uint64_t kind) {
    switch (kind) {
        case Lane::deferred_fail_timer: return lane_failed(lane, "post failed");
        case Lane::drain_timer:
            if (lane.drain_pending != 0) {
                log().warn("ibtrs session {} shard {}: drain of path {} timed out, destroying connections",
                           config_.session_name, config_.index, lane.path);
            }
            return finish_drain(lane);
        default: return;
    }
}

void IoShard::lane_failed(Lane& lane, std::string_view reason) {
    switch (lane.state) {
        case Lane::State::connecting:
        case Lane::State::established:
        case Lane::State::up: break;
        default: return;  // already failed, draining or idle: the session knows
    }
    lane.state = Lane::State::failed;
    log().debug("ibtrs session {} shard {}: path {} failed ({})", config_.session_name, config_.index, lane.path,
                reason);
    report([shard = config_.index, path = lane.path, generation = lane.generation,
            reason = std::string(reason)](ShardEvents& events) {
        events.on_lane_failed(shard, path, generation, reason);
    });
}

void IoShard::drain_lane(std::uint32_t path, std::uint16_t generation, bool at_once) {
    Lane& lane = *lanes_[path];
    lane.generation = generation;  // the answer names the generation the session asked about
    if (lane.state == Lane::State::idle) {
        report([shard = config_.index, path, generation](ShardEvents& events) {
            events.on_lane_drained(shard, path, generation);
        });
        return;
    }
    if (lane.state == Lane::State::draining) return;  // the drain in progress answers
    lane.state = Lane::State::draining;
    lane.timers.cancel(Lane::deferred_fail_timer);
    if (at_once) failover(lane);
    lane.drain_pending = 0;
    for (auto& conn : lane.conns) {
        if (conn->endpoint && conn->established && !conn->drained) {
            ++lane.drain_pending;
            conn->endpoint->disconnect();
        } else {
            conn->drained = true;
        }
    }
    // Ends from the event loop: with nothing to wait for, at once; otherwise a safety limit.
    lane.timers.start(Lane::drain_timer, lane.drain_pending == 0 ? 0 : lane.connect.drain_timeout);
}

void IoShard::on_conn_drained(LaneConn& conn) {
    if (conn.drained) return;
    conn.drained = true;
    Lane& lane = conn.lane;
    if (lane.state == Lane::State::draining && lane.drain_pending > 0 && --lane.drain_pending == 0) {
        finish_drain(lane);
    }
}

void IoShard::finish_drain(Lane& lane) {
    if (lane.state != Lane::State::draining) return;
    lane.timers.cancel(Lane::drain_timer);
    lane.conns.clear();  // every connection is flushed: no stale write can land any more
    lane.chunks.clear();
    lane.state = Lane::State::idle;
    failover(lane);
    report([shard = config_.index, path = lane.path, generation = lane.generation](ShardEvents& events) {
        events.on_lane_drained(shard, path, generation);
    });
}

void IoShard::failover(Lane& lane) {
    std::vector<std::uint32_t> moved_to;  // failure path only
    for (Permit permit = permits_.base(); permit < permits_.base() + permits_.capacity(); ++permit) {
        RequestSlot& request = slot(permit);
        if (!request.in_flight() || request.path != lane.path) continue;
        lane.counters.inflight.sub(1);
        if (request.state == RequestSlot::State::answered) {  // only our local completion was flushed
            complete(permit, request.response_status);
            continue;
        }
        request.tried.set(lane.path);
        if (dispatch(permit)) {
            lane.counters.failovered.add(1);
            counters_.failovers.add(1);
            if (moved_to.size() <= request.path) moved_to.resize(request.path + 1, 0);
            ++moved_to[request.path];
            continue;
        }
        complete(permit, -ECONNABORTED);  // no other path: the block layer decides whether to wait
    }
    for (std::uint32_t to = 0; to < moved_to.size(); ++to) {
        if (moved_to[to] == 0) continue;
        report([from = lane.path, to, ios = moved_to[to]](ShardEvents& events) {
            events.on_lane_failover(from, to, ios);
        });
    }
}

}  // namespace ibnbd::ibtrs
