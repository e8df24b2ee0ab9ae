// IoShard: permits and a request's whole way through the shard - submission, the post on a lane,
// the lane's completions, the response and completion - and fenced permits. The lanes' lives
// (connect, drain, failover) are in io_shard_lane.cpp.
#include "core/ibtrs/io_shard.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/ibtrs/io_shard_lane.hpp"
#include "core/ibtrs/work_context.hpp"
#include "core/log.hpp"

namespace ibnbd::ibtrs {

IoShard::IoShard(fabric::Fabric& fabric, ShardConfig config, std::shared_ptr<ShardEvents> events, Mailbox* home)
    : fabric_(fabric), config_(std::move(config)), events_(std::move(events)), home_(home), hold_timer_(fabric, *this) {
    lanes_.reserve(kMaxPathsPerSession);
    for (std::uint32_t path = 0; path < kMaxPathsPerSession; ++path) {
        lanes_.push_back(std::make_unique<Lane>(*this, path));
    }
    path_views_.reserve(kMaxPathsPerSession);
}

IoShard::~IoShard() = default;

const IoShard::LaneCounters& IoShard::lane_counters(std::uint32_t path) const {
    return lanes_[path]->counters;
}

// Shard s of n gets chunks [s·qd/n, (s+1)·qd/n): shares differ by one at most.
int IoShard::configure(const SessionParams& params) {
    if (params == params_) return 0;
    if (permits_.in_use() != 0) {
        log().warn("ibtrs session {} shard {}: server parameters changed with requests in flight",
                   config_.session_name, config_.index);
        return -ECONNRESET;
    }
    const std::uint64_t depth = params.queue_depth;
    const auto base = static_cast<Permit>(depth * config_.index / config_.count);
    const auto count = static_cast<std::uint32_t>(depth * (config_.index + 1) / config_.count - base);
    if (count != 0) {
        auto headers = RegisteredBuffer::create(fabric_, std::size_t{count} * params.max_hdr_size,
                                                fabric::access_local_write);
        auto read_pool = RegisteredBuffer::create(fabric_, std::size_t{count} * params.max_io_size,
                                                  fabric::access_local_write | fabric::access_remote_write);
        if (!headers || !read_pool) return -ENOMEM;
        headers_ = std::move(headers.value());
        read_pool_ = std::move(read_pool.value());
    }
    permits_.resize(count, base);
    slots_.assign(count, RequestSlot{});
    params_ = params;
    log().debug("ibtrs session {} shard {}: chunks {}..{} of {}", config_.session_name, config_.index, base,
                base + count, depth);
    return 0;
}


fabric::Sge IoShard::read_buffer(Permit permit, std::uint32_t length) const {
    assert(owns(permit) && length <= params_.max_io_size);
    return read_pool_.sge(offset(permit) * params_.max_io_size, length);
}

std::span<std::byte> IoShard::read_buffer_bytes(Permit permit) const {
    assert(owns(permit));
    return read_pool_.span().subspan(offset(permit) * params_.max_io_size,
                                     params_.max_io_size);
}

// ---- submission ------------------------------------------------------------------------------

Status<int> IoShard::check_request(Dir dir, Permit permit, std::span<const std::byte> usr,
                                   std::span<const fabric::Sge> data) const {
    if (!permits_.is_used(permit)) return unexpected(-EINVAL);
    if (slots_[offset(permit)].state != RequestSlot::State::free) return unexpected(-EBUSY);
    const std::size_t max_entries = dir == Dir::write ? 3 : 1;
    if (data.size() > max_entries) return unexpected(-EINVAL);
    std::uint64_t data_len = 0;
    for (const auto& sge : data) {
        if (sge.mr == nullptr) return unexpected(-EINVAL);
        data_len += sge.length;
    }
    if (data_len > params_.max_io_size) return unexpected(-EMSGSIZE);
    const std::size_t trailer = dir == Dir::write ? wire::kRdmaWriteSize : wire::rdma_read_size(data.size());
    if (usr.size() + trailer > params_.max_hdr_size || usr.size() > 0xFFFF) return unexpected(-EMSGSIZE);
    if (dir == Dir::read && !data.empty() && !(data[0].mr->access() & fabric::access_remote_write)) {
        return unexpected(-EINVAL);
    }
    return {};
}

void IoShard::encode_header(RequestSlot& slot, Permit permit, std::span<const std::byte> usr) {
    const std::uint32_t max_hdr = params_.max_hdr_size;
    std::byte* header = headers_.data() + offset(permit) * max_hdr;
    if (!usr.empty()) std::memcpy(header, usr.data(), usr.size());
    const std::span<std::byte> rest(header + usr.size(), max_hdr - usr.size());
    if (slot.dir == Dir::write) {
        const auto written = wire::encode_rdma_write({slot.usr_len}, rest);
        slot.hdr_len = static_cast<std::uint32_t>(usr.size() + written.value());
        return;
    }
    std::array<wire::SgDesc, 1> desc{};
    if (slot.data_count == 1) {
        const fabric::Sge& sge = slot.data[0];
        const fabric::RemoteKey key = sge.mr->remote_key();
        desc[0] = {key.addr + static_cast<std::uint64_t>(sge.addr - sge.mr->data()), key.rkey, sge.length};
    }
    const auto written = wire::encode_rdma_read(slot.usr_len, 0, {desc.data(), slot.data_count}, rest);
    slot.hdr_len = static_cast<std::uint32_t>(usr.size() + written.value());
}

Status<int> IoShard::request(Dir dir, Permit permit, std::span<const std::byte> usr,
                             std::span<const fabric::Sge> data, IoHandler& handler, std::uint64_t cookie) {
    if (auto checked = check_request(dir, permit, usr, data); !checked) return checked;
    RequestSlot& request = slot(permit);
    request.dir = dir;
    request.usr_len = static_cast<std::uint16_t>(usr.size());
    request.data_count = static_cast<std::uint8_t>(data.size());
    request.data_len = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        request.data[i] = data[i];
        request.data_len += data[i].length;
    }
    request.handler = &handler;
    request.cookie = cookie;
    request.tried.reset();
    request.lands_by = 0;
    request.response_status = 0;
    encode_header(request, permit, usr);
    if (dispatch(permit)) {  // posted
        counters_.requests_submitted.add(1);
        return {};
    }
    return unexpected(-ECONNABORTED);
}

std::span<const PathView> IoShard::path_views() {
    path_views_.resize(lanes_used_);
    for (std::uint32_t path = 0; path < lanes_used_; ++path) {
        const Lane& lane = *lanes_[path];
        path_views_[path] = PathView{lane.state == Lane::State::up, lane.counters.inflight.get(), lane.latency};
    }
    return path_views_;
}

bool IoShard::dispatch(Permit permit) {
    RequestSlot& request = slot(permit);
    PathSet excluded = request.tried;
    const auto views = path_views();
    while (auto choice = selector_.choose(config_.policy, views, excluded)) {
        if (post_request(*lanes_[*choice], permit, request)) return true;
        excluded.set(*choice);
    }
    return false;
}

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
    if (config_.copy_lifetime != 0) slot.posted_at = fabric_.now();
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

// ---- completion --------------------------------------------------------------------------------

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

// Puts back the receive a completion consumed: the same key buffer, or an empty one.
Status<int> IoShard::repost_recv(LaneConn& conn, const fabric::Completion& completion) {
    if (conn.rkey_buffers.size() == 0) return post_empty_recvs(conn, 1);
    return post_rkey_recv(conn, WorkContext::unpack(completion.context).slot);
}

void IoShard::on_request_posted_done(Lane& lane, Permit permit) {
    if (!owns(permit)) return;
    RequestSlot& request = slot(permit);
    if (request.path != lane.path) return;
    if (request.state == RequestSlot::State::posted) return set_state(request, RequestSlot::State::written);
    if (request.state == RequestSlot::State::answered) {
        lane.counters.inflight.sub(1);
        complete(permit, request.response_status);
    }
}

void IoShard::on_response(Lane& lane, std::uint32_t msg_id, int status) {
    const bool awaited = owns(msg_id) && slot(msg_id).path == lane.path &&
                         (slot(msg_id).state == RequestSlot::State::posted ||
                          slot(msg_id).state == RequestSlot::State::written);
    if (!awaited) {
        log().warn("ibtrs session {}: response for msg {} that is not in flight on path {} of shard {}",
                   config_.session_name, msg_id, lane.path, config_.index);
        return;
    }
    RequestSlot& request = slot(msg_id);
    request.response_status = status;
    // Answered on this path: its earlier copies on this path are done too (one connection delivers
    // in order, and the server runs a chunk's requests in arrival order). A copy that went out on
    // another path may still be in the network and arrive after this answer (nothing orders two
    // paths), so those paths stay marked: the chunk is fenced until each has reconnected, which the
    // server allows only once it closed the path's old connection.
    request.unanswered_on.reset(lane.path);
    // The request is done only when our own write has completed too: until then the header
    // buffer may still be read by the fabric (a retransmission), so the permit stays ours.
    if (request.state == RequestSlot::State::written) {
        lane.counters.inflight.sub(1);
        complete(msg_id, status);
    } else {
        set_state(request, RequestSlot::State::answered);
    }
}

void IoShard::set_state(RequestSlot& request, RequestSlot::State to) {
    using enum RequestSlot::State;
    const RequestSlot::State from = request.state;
    [[maybe_unused]] const bool allowed =
        (from == free && (to == posted || to == fenced)) || (from == posted && to != fenced) ||
        (from == written && (to == posted || to == free || to == held)) ||
        (from == answered && (to == free || to == held)) || (from == held && to == free) ||
        (from == fenced && to == free);
    assert(allowed);
    request.state = to;
    counters_.slot_transitions.add(1);
}

void IoShard::complete(Permit permit, int status) {
    RequestSlot& request = slot(permit);
    if (!must_hold(request, status)) return finish(permit, status);
    request.response_status = status;
    set_state(request, RequestSlot::State::held);
    counters_.completions_held.add(1);
    log().debug("ibtrs session {} shard {}: write on permit {} done; its completion waits {} ns for a late copy",
                config_.session_name, config_.index, permit, request.lands_by - fabric_.now());
    arm_hold_timer();
}

void IoShard::finish(Permit permit, int status) {
    RequestSlot& request = slot(permit);
    set_state(request, RequestSlot::State::free);
    if (status == 0) {
        counters_.requests_completed_ok.add(1);
    } else {
        counters_.requests_failed.add(1);
    }
    request.handler->on_io_complete(request.cookie, status);
}

// ---- held completions --------------------------------------------------------------------------

// Only writes that succeeded: a late read changes nothing the caller can see (its chunk stays
// fenced), and a failure goes back to the block layer at once, which acts on it while that is
// right: it waits for a path (wait_while_reconnecting, keeping the permit until the copies cannot
// land), re-opens the device (-ENOTCONN), or fails the IO while no path is usable.
bool IoShard::must_hold(const RequestSlot& request, int status) const {
    return request.dir == Dir::write && status == 0 && request.unanswered_on.any() &&
           request.lands_by > fabric_.now();
}

void IoShard::release_held(Permit permit) { finish(permit, slot(permit).response_status); }

void IoShard::arm_hold_timer() {
    fabric::Nanos earliest = 0;
    for (const RequestSlot& request : slots_) {
        if (request.state != RequestSlot::State::held) continue;
        if (earliest == 0 || request.lands_by < earliest) earliest = request.lands_by;
    }
    if (earliest == 0) return hold_timer_.cancel(0);
    const fabric::Nanos now = fabric_.now();
    hold_timer_.start(0, earliest > now ? earliest - now : 0);
}

void IoShard::on_timer(std::uint64_t kind) {
    hold_timer_.fired(kind);
    const fabric::Nanos now = fabric_.now();
    for (Permit permit = permits_.base(); permit < permits_.base() + permits_.capacity(); ++permit) {
        if (slot(permit).state == RequestSlot::State::held && slot(permit).lands_by <= now) release_held(permit);
    }
    arm_hold_timer();
}

// ---- fenced permits ----------------------------------------------------------------------------

void IoShard::put_permit(Permit permit) {
    RequestSlot& request = slot(permit);
    if (request.unanswered_on.none()) return permits_.put(permit);
    set_state(request, RequestSlot::State::fenced);
    counters_.permits_fenced.add(1);
    log().debug("ibtrs session {} shard {}: permit {} fenced until its {} paths reconnect", config_.session_name,
                config_.index, permit, request.unanswered_on.count());
}

std::uint32_t IoShard::permits_awaiting_paths() const {
    return static_cast<std::uint32_t>(std::count_if(slots_.begin(), slots_.end(), [](const RequestSlot& request) {
        return !request.in_flight() && request.unanswered_on.any();
    }));
}

void IoShard::unfence(Permit permit) {
    RequestSlot& request = slot(permit);
    request.unanswered_on.reset();
    set_state(request, RequestSlot::State::free);
    counters_.permits_fenced.sub(1);
    permits_.put(permit);  // may start a waiting request at once
}

void IoShard::unfence_all() {
    for (Permit permit = permits_.base(); permit < permits_.base() + permits_.capacity(); ++permit) {
        if (slot(permit).state == RequestSlot::State::fenced) unfence(permit);
        if (slot(permit).state == RequestSlot::State::held) release_held(permit);
    }
}

}  // namespace ibnbd::ibtrs
