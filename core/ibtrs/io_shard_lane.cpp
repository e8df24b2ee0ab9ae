// IoShard lanes: a shard's IO connections of one path - connect, come up, fail, drain, fail over.
// What a lane carries (posts and completions of requests) is in io_shard.cpp.
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
        slot(permit).tried.reset(path);
    }
    lane.timers.cancel(Lane::fence_timer);
    forget_copies_on(lane);
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

// ---- failure, drain, failover ------------------------------------------------------------------

void IoShard::on_lane_timer(Lane& lane, std::uint64_t kind) {
    switch (kind) {
        case Lane::deferred_fail_timer: return lane_failed(lane, "post failed");
        case Lane::fence_timer:
            log().debug("ibtrs session {} shard {}: path {} still down after the fence timeout: its copies "
                        "can no longer land", config_.session_name, config_.index, lane.path);
            forget_copies_on(lane);
            // IO kept for a retry until its copies could no longer land may go out now.
            if (path_watcher_ != nullptr && any_lane_up()) path_watcher_->on_path_usable();
            return;
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
    // Not restarted by the drains of failed reconnect attempts: the bound counts from the break.
    if (!lane.timers.pending(Lane::fence_timer)) lane.timers.start(Lane::fence_timer, lane.connect.fence_timeout);
    report([shard = config_.index, path = lane.path, generation = lane.generation](ShardEvents& events) {
        events.on_lane_drained(shard, path, generation);
    });
}

// No copy of a request sent on the lane's old connections can land any more. Held completions
// go last: the IO they complete may send new requests, on this lane too, whose copies count.
void IoShard::forget_copies_on(const Lane& lane) {
    const Permit end = permits_.base() + permits_.capacity();
    for (Permit permit = permits_.base(); permit < end; ++permit) {
        RequestSlot& request = slot(permit);
        request.unanswered_on.reset(lane.path);  // also of requests in flight elsewhere now
        if (request.state == RequestSlot::State::fenced && request.unanswered_on.none()) unfence(permit);
    }
    for (Permit permit = permits_.base(); permit < end; ++permit) {
        const RequestSlot& request = slot(permit);
        if (request.state == RequestSlot::State::held && request.unanswered_on.none()) release_held(permit);
    }
}

bool IoShard::any_lane_up() const {
    return std::any_of(lanes_.begin(), lanes_.end(),
                       [](const auto& lane) { return lane && lane->state == Lane::State::up; });
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
        if (config_.copy_lifetime != 0 && request.dir == Dir::write) {
            request.lands_by = std::max(request.lands_by, request.posted_at + config_.copy_lifetime);
        }
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
