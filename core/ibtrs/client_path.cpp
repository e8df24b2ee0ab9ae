#include "core/ibtrs/client_path.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/ibtrs/client_session.hpp"
#include "core/ibtrs/work_context.hpp"
#include "core/log.hpp"

namespace ibnbd::ibtrs {

namespace {

constexpr std::uint32_t kInfoRecvSlot = 0xFFFFFFFFu;

std::string path_name(const fabric::Address& source, const fabric::Address& destination) {
    const std::string src = source.host.empty() ? "any" : source.host;
    return src + "@" + destination.to_string();
}

}  // namespace

struct ClientPath::Connection final : fabric::EndpointHandler {
    Connection(ClientPath& owner, std::uint16_t cid) : path(owner), cid(cid) {}
    void on_completion(const fabric::Completion& completion) override {
        path.on_completion(*this, completion);
    }
    void on_cm_event(const fabric::CmEvent& event) override { path.on_cm_event(*this, event); }

    ClientPath& path;
    const std::uint16_t cid;
    std::unique_ptr<fabric::Endpoint> endpoint;
    bool established = false;
    bool drained = false;
};

ClientPath::ClientPath(ClientSession& session, std::uint32_t index, const PathSpec& spec,
                       bool first_conn)
    : session_(session),
      fabric_(session.fabric_),
      index_(index),
      source_(spec.source),
      destination_(spec.destination),
      name_(path_name(spec.source, spec.destination)),
      first_conn_(first_conn),
      heartbeat_(session.config().heartbeat),
      timers_(session.fabric_, *this) {
    for (auto& byte : sess_uuid_) byte = static_cast<std::uint8_t>(fabric_.random_u64());
}

ClientPath::~ClientPath() = default;

void ClientPath::start() { begin_attempt(); }

void ClientPath::set_state(ClientPathState to, std::string_view reason) {
    const ClientPathState from = state_;
    assert(transition_allowed(from, to));
    state_ = to;
    ++stats_.state_transitions;
    log().debug("ibtrs client path {}: {} -> {} ({})", name_, to_string(from), to_string(to), reason);
    session_.handler_.on_path_state(name_, from, to, reason);
}

void ClientPath::on_timer(std::uint64_t cookie) {
    timers_.fired(cookie);
    switch (static_cast<TimerKind>(cookie)) {
        case heartbeat_timer: heartbeat_tick(); break;
        case connect_timer: fail("connect timeout"); break;
        case deferred_fail_timer: fail("post failed"); break;
        case timer_kinds: break;
        case drain_timer:
            if (drain_pending_ != 0) {
                log().warn("ibtrs client path {}: drain timed out, destroying connections", name_);
            }
            finish_drain();
            break;
        case reconnect_timer:
            if (state_ != ClientPathState::reconnecting) return;
            ++reconnect_attempts_;
            set_state(ClientPathState::connecting, "reconnect attempt");
            begin_attempt();
            break;
    }
}

// ---- handshake (§1.3-§1.5) -------------------------------------------------------------------

fabric::QueueSizes ClientPath::queue_sizes(std::uint16_t cid) const {
    if (cid == 0) return {2 * wire::kServiceConQueueDepth + 2, 2 * wire::kServiceConQueueDepth + 2};
    const std::uint32_t depth = std::max<std::uint32_t>(queue_depth_seen_, 1);
    return {2 * depth + 2, depth + 2};
}

void ClientPath::begin_attempt() {
    assert(state_ == ClientPathState::connecting);
    conns_.clear();
    chunks_.clear();
    ++generation_;
    ++recon_cnt_;
    const std::uint16_t cid_num = static_cast<std::uint16_t>(1 + session_.config().io_connections);
    for (std::uint16_t cid = 0; cid < cid_num; ++cid) {
        conns_.push_back(std::make_unique<Connection>(*this, cid));
    }
    timers_.start(connect_timer, session_.config().connect_timeout);
    connect(0);
}

void ClientPath::connect(std::uint16_t cid) {
    wire::ConnReq req;
    req.cid = cid;
    req.cid_num = static_cast<std::uint16_t>(conns_.size());
    req.recon_cnt = recon_cnt_;
    req.sess_uuid = sess_uuid_;
    req.paths_uuid = session_.paths_uuid();
    req.first_conn = first_conn_;
    std::array<std::byte, wire::kConnReqSize> private_data{};
    const auto encoded = wire::encode_conn_req(req, private_data);
    assert(encoded.has_value());
    Connection& conn = *conns_[cid];
    auto endpoint = fabric_.connect(destination_, source_, private_data, conn, queue_sizes(cid));
    if (!endpoint) {
        log().warn("ibtrs client path {}: connect cid {} failed: {}", name_, cid,
                   fabric::to_string(endpoint.error()));
        fail("connect failed");
        return;
    }
    conn.endpoint = std::move(endpoint.value());
}

int ClientPath::check_conn_rsp(std::uint16_t cid, std::span<const std::byte> private_data) {
    const auto rsp = wire::decode_conn_rsp(private_data);
    if (!rsp) return -ECONNRESET;
    if (!wire::check_conn_rsp(*rsp) || rsp->status != 0) return -ECONNRESET;
    if (cid != 0) return 0;
    const std::uint64_t chunk_size = wire::chunk_size_of(*rsp);
    if (rsp->queue_depth == 0 || chunk_size < wire::kMinChunkSize ||
        wire::bits(rsp->queue_depth - 1u) + wire::bits(chunk_size - 1) > wire::kImmPayloadBits ||
        rsp->max_hdr_size < wire::kRdmaReadHdrSize + wire::kSgDescSize) {
        log().warn("ibtrs client path {}: server parameters out of range", name_);
        return -ECONNRESET;
    }
    const bool adopt = std::exchange(adopt_new_depth_, false);
    if (ever_connected_ && queue_depth_seen_ != rsp->queue_depth && !adopt) {
        log().warn("ibtrs client path {}: queue depth changed {} -> {}, auto-reconnect disabled",
                   name_, queue_depth_seen_, rsp->queue_depth);
        auto_reconnect_disabled_ = true;
        return -ECONNRESET;
    }
    const int status = session_.setup_pools(rsp->queue_depth, rsp->max_io_size, rsp->max_hdr_size);
    if (status == 0) queue_depth_seen_ = rsp->queue_depth;
    return status;
}

void ClientPath::on_established(Connection& conn, std::span<const std::byte> private_data) {
    conn.established = true;
    if (state_ != ClientPathState::connecting) return;
    if (const int status = check_conn_rsp(conn.cid, private_data); status != 0) {
        fail("bad connection response");
        return;
    }
    if (conn.cid + 1u < conns_.size()) {
        connect(static_cast<std::uint16_t>(conn.cid + 1));
    } else {
        begin_info_exchange();
    }
}

Status<int> ClientPath::post_empty_recvs(Connection& conn, std::uint32_t count) {
    // Empty receives exist only to absorb immediate data; a fabric whose write-with-immediate
    // consumes no receive (libfabric tcp) would just hold them forever.
    if (!fabric_.imm_consumes_recv()) return {};
    const std::uint64_t context = WorkContext{WorkKind::recv, conn.cid, generation_, 0}.pack();
    for (std::uint32_t i = 0; i < count; ++i) {
        if (!conn.endpoint->post_recv(context, {})) return unexpected(-EIO);
    }
    return {};
}

void ClientPath::begin_info_exchange() {
    const std::size_t rsp_size = wire::info_rsp_size(session_.queue_depth());
    if (info_buffer_.size() < wire::kInfoReqSize + rsp_size) {
        auto buffer = RegisteredBuffer::create(fabric_, wire::kInfoReqSize + rsp_size,
                                               fabric::access_local_write);
        if (!buffer) return fail("info buffer registration failed");
        info_buffer_ = std::move(buffer.value());
    }
    Connection& service = *conns_[0];
    // The buffered receive goes first: the INFO_RSP send consumes receives in post order.
    const fabric::Sge rsp_sge = info_buffer_.sge(wire::kInfoReqSize, static_cast<std::uint32_t>(rsp_size));
    const std::uint64_t rsp_context = WorkContext{WorkKind::recv, 0, generation_, kInfoRecvSlot}.pack();
    if (!service.endpoint->post_recv(rsp_context, {&rsp_sge, 1}) ||
        !post_empty_recvs(service, wire::kServiceConQueueDepth)) {
        return fail("posting service receives failed");
    }
    for (std::size_t cid = 1; cid < conns_.size(); ++cid) {
        if (!post_empty_recvs(*conns_[cid], session_.queue_depth())) return fail("posting IO receives failed");
    }
    const auto encoded = wire::encode_info_req({session_.config().session_name}, info_buffer_.span());
    assert(encoded.has_value());
    const fabric::Sge req_sge = info_buffer_.sge(0, static_cast<std::uint32_t>(*encoded));
    const std::uint64_t req_context = WorkContext{WorkKind::info_request, 0, generation_, 0}.pack();
    if (!service.endpoint->post_send(req_context, {&req_sge, 1})) fail("sending INFO_REQ failed");
}

void ClientPath::on_info_response(std::uint32_t byte_len) {
    const auto bytes = info_buffer_.span().subspan(wire::kInfoReqSize, byte_len);
    if (!wire::decode_info_rsp(bytes, info_descs_) ||
        !wire::build_chunk_table(info_descs_, session_.queue_depth(), session_.chunk_size_, chunks_)) {
        return fail("bad INFO_RSP");
    }
    timers_.cancel(connect_timer);
    const bool reconnected = ever_connected_;
    ever_connected_ = true;
    first_conn_ = true;  // a path that ever connected may re-create the session (server reboot)
    first_attempt_done_ = true;
    if (reconnected) {
        ++stats_.reconnects_ok;
        session_.handler_.on_reconnect_attempt(name_, reconnect_attempts_, true);
    }
    reconnect_attempts_ = 0;
    heartbeat_.reset();
    set_state(ClientPathState::connected, reconnected ? "reconnected" : "connected");
    timers_.start(heartbeat_timer, heartbeat_.config().interval);
    session_.on_path_connected(*this);
}

// ---- events ----------------------------------------------------------------------------------

void ClientPath::on_cm_event(Connection& conn, const fabric::CmEvent& event) {
    switch (event.type) {
        case fabric::CmEventType::established: on_established(conn, event.private_data); return;
        case fabric::CmEventType::rejected: {
            const auto rsp = wire::decode_conn_rsp(event.private_data);
            log().warn("ibtrs client path {}: cid {} rejected (errno {})", name_, conn.cid,
                       rsp ? -rsp->status : 0);
            conn.drained = true;
            fail("connection rejected");
            return;
        }
        case fabric::CmEventType::unreachable:
            conn.drained = true;
            fail("server unreachable");
            return;
        case fabric::CmEventType::disconnected:
            fail("disconnected");
            on_connection_drained(conn);
            return;
    }
}

void ClientPath::on_completion(Connection& conn, const fabric::Completion& completion) {
    const WorkContext context = WorkContext::unpack(completion.context);
    if (completion.status != fabric::WcStatus::success) {
        if (completion.status != fabric::WcStatus::flushed) {
            log().warn("ibtrs client path {}: cid {} {} failed: {}", name_, conn.cid,
                       fabric::to_string(completion.opcode), fabric::to_string(completion.status));
            fail("work completion error");
        }
        return;
    }
    if (completion.opcode == fabric::Opcode::recv || completion.opcode == fabric::Opcode::recv_rdma_with_imm) {
        heartbeat_.on_receive();  // any received message proves the peer alive
    }
    switch (completion.opcode) {
        case fabric::Opcode::recv_rdma_with_imm: on_imm(conn, completion); return;
        case fabric::Opcode::recv:
            if (context.slot == kInfoRecvSlot && state_ == ClientPathState::connecting) {
                on_info_response(completion.byte_len);
            } else {
                fail("unexpected send from server");
            }
            return;
        case fabric::Opcode::rdma_write:
            if (context.kind == WorkKind::io_request && context.generation == generation_) {
                session_.on_request_posted_done(*this, context.slot);
            }
            return;
        case fabric::Opcode::send:
        case fabric::Opcode::rdma_read: return;
    }
}

void ClientPath::on_imm(Connection& conn, const fabric::Completion& completion) {
    if (completion.recv_consumed && !post_empty_recvs(conn, 1)) return fail("re-posting a receive failed");
    const wire::Imm imm = wire::imm_decode(completion.imm);
    switch (imm.type) {
        case wire::ImmType::io_rsp:
        case wire::ImmType::io_rsp_w_inv: {
            const wire::IoRsp rsp = wire::io_rsp_decode(imm.payload);
            session_.on_response(*this, rsp.msg_id, rsp.status);
            return;
        }
        case wire::ImmType::hb_msg:
            if (conn.cid != 0) log().warn("ibtrs client path {}: heartbeat on cid {}", name_, conn.cid);
            if (!post_heartbeat(wire::kHbAckImm)) fail("heartbeat ack post failed");
            return;
        case wire::ImmType::hb_ack:
            stats_.cur_latency = heartbeat_.on_ack(fabric_.now());
            return;
        case wire::ImmType::io_req:
        default:
            log().warn("ibtrs client path {}: unexpected immediate {:#x}", name_, completion.imm);
            return;
    }
}

bool ClientPath::post_heartbeat(std::uint32_t imm) {
    if (conns_.empty() || !conns_[0]->endpoint) return false;
    const std::uint64_t context = WorkContext{WorkKind::heartbeat, 0, generation_, 0}.pack();
    return conns_[0]->endpoint->post_write(context, {}, {}, &imm).has_value();
}

void ClientPath::heartbeat_tick() {
    if (state_ != ClientPathState::connected) return;
    switch (heartbeat_.tick(fabric_.now())) {
        case Heartbeat::Action::fail: return fail("heartbeat timeout");
        case Heartbeat::Action::send:
            if (!post_heartbeat(wire::kHbMsgImm)) return fail("heartbeat post failed");
            break;
        case Heartbeat::Action::wait: break;
    }
    timers_.start(heartbeat_timer, heartbeat_.config().interval);
}

// ---- IO ----------------------------------------------------------------------------------------

Status<int> ClientPath::post_request(Permit permit, RequestSlot& slot) {
    if (state_ != ClientPathState::connected) return unexpected(-ENOTCONN);
    const std::uint32_t io_conns = static_cast<std::uint32_t>(conns_.size() - 1);
    const std::uint16_t cid = static_cast<std::uint16_t>(io_conns ? 1 + permit % io_conns : 0);
    const wire::RemoteChunk& chunk = chunks_[permit];
    const std::uint32_t remote_offset = slot.dir == Dir::write ? 0 : slot.data_len;
    const auto payload = wire::io_req_payload(permit, wire::mem_bits(session_.queue_depth()),
                                              slot.data_len + slot.usr_len);
    if (!payload) return unexpected(-EMSGSIZE);
    const std::uint32_t imm = wire::imm_encode(wire::ImmType::io_req, *payload);

    std::array<fabric::Sge, fabric::kMaxSge> sges{};
    std::size_t count = 0;
    if (slot.dir == Dir::write) {
        for (std::size_t i = 0; i < slot.data_count; ++i) sges[count++] = slot.data[i];
    }
    sges[count++] = session_.headers_.sge(std::size_t{permit} * session_.max_hdr_size_, slot.hdr_len);
    const std::uint64_t context = WorkContext{WorkKind::io_request, cid, generation_, permit}.pack();
    const auto posted = conns_[cid]->endpoint->post_write(
        context, {sges.data(), count}, {chunk.addr + remote_offset, chunk.rkey}, &imm);
    if (!posted) {
        if (posted.error() == fabric::Errc::queue_full) return unexpected(-EAGAIN);
        log().warn("ibtrs client path {}: request post failed: {}", name_, fabric::to_string(posted.error()));
        timers_.start(deferred_fail_timer, 0);
        return unexpected(-EIO);
    }
    slot.path = index_;
    slot.cid = cid;
    slot.generation = generation_;
    slot.local_done = false;
    slot.response_done = false;
    ++stats_.inflight;
    const std::uint64_t bytes = std::uint64_t{slot.data_len} + slot.usr_len;
    if (slot.dir == Dir::write) {
        ++stats_.write_count;
        stats_.write_bytes += bytes;
    } else {
        ++stats_.read_count;
        stats_.read_bytes += bytes;
    }
    return {};
}

// ---- failure, drain, reconnect (§1.11, §1.12) ------------------------------------------------

void ClientPath::fail(std::string_view reason) {
    switch (state_) {
        case ClientPathState::connected:
            set_state(ClientPathState::reconnecting, reason);
            session_.on_path_lost(*this);
            break;
        case ClientPathState::connecting:
            set_state(ClientPathState::connecting_err, reason);
            ++stats_.reconnects_failed;
            if (ever_connected_ || first_attempt_done_) {
                session_.handler_.on_reconnect_attempt(name_, reconnect_attempts_, false);
            }
            break;
        default:
            return;  // already failing or closed
    }
    timers_.cancel(heartbeat_timer);
    timers_.cancel(connect_timer);
    if (session_.config().unsafe_failover_without_drain) session_.on_path_drained(*this);
    begin_drain();
}

void ClientPath::begin_drain() {
    draining_ = true;
    drain_pending_ = 0;
    for (auto& conn : conns_) {
        if (conn->endpoint && conn->established && !conn->drained) {
            ++drain_pending_;
            conn->endpoint->disconnect();
        } else {
            conn->drained = true;
        }
    }
    // Completes from the event loop: with nothing to wait for, at once; otherwise a safety limit.
    timers_.start(drain_timer, drain_pending_ == 0 ? 0 : session_.config().connect_timeout);
}

void ClientPath::on_connection_drained(Connection& conn) {
    if (conn.drained) return;
    conn.drained = true;
    if (draining_ && drain_pending_ > 0 && --drain_pending_ == 0) finish_drain();
}

void ClientPath::finish_drain() {
    if (!draining_) return;
    timers_.cancel(drain_timer);
    draining_ = false;
    conns_.clear();  // every connection is flushed: no stale write can land any more
    session_.on_path_drained(*this);
    after_drain();
}

void ClientPath::after_drain() {
    switch (state_) {
        case ClientPathState::connecting_err: {
            const bool first_failure = !ever_connected_ && !first_attempt_done_;
            first_attempt_done_ = true;
            set_state(ClientPathState::reconnecting, "connect attempt failed");
            if (first_failure) session_.on_path_first_attempt_failed(*this);
            if (state_ == ClientPathState::reconnecting) schedule_reconnect();
            return;
        }
        case ClientPathState::reconnecting: schedule_reconnect(); return;
        case ClientPathState::closing:
            set_state(ClientPathState::closed, "closed");
            if (remove_when_closed_) set_state(ClientPathState::dead, "removed");
            return;
        default: return;
    }
}

void ClientPath::schedule_reconnect() {
    if (reconnect_now_) {
        reconnect_now_ = false;
        timers_.start(reconnect_timer, 0);
        return;
    }
    const std::int32_t max_attempts = session_.config().max_reconnect_attempts;
    if (auto_reconnect_disabled_) return close_for_good("auto-reconnect disabled");
    if (max_attempts >= 0 && reconnect_attempts_ >= static_cast<std::uint32_t>(max_attempts)) {
        return close_for_good("reconnect attempts exhausted");
    }
    const ClientConfig& config = session_.config();
    const unsigned shift = std::min<std::uint32_t>(reconnect_attempts_, 20);
    const fabric::Nanos backoff = std::min(config.reconnect_delay << shift, config.reconnect_max_delay);
    const fabric::Nanos jitter = config.reconnect_jitter ? fabric_.random_u64() % (config.reconnect_jitter + 1) : 0;
    timers_.start(reconnect_timer, backoff + jitter);
}

void ClientPath::close_for_good(std::string_view reason) {
    set_state(ClientPathState::closing, reason);
    set_state(ClientPathState::closed, reason);
}

Status<int> ClientPath::reconnect() {
    switch (state_) {
        case ClientPathState::closed:
            adopt_new_depth_ = auto_reconnect_disabled_;
            auto_reconnect_disabled_ = false;
            reconnect_attempts_ = 0;
            set_state(ClientPathState::reconnecting, "manual reconnect");
            timers_.start(reconnect_timer, 0);
            return {};
        case ClientPathState::connected:
            reconnect_attempts_ = 0;
            reconnect_now_ = true;
            fail("manual reconnect");
            return {};
        case ClientPathState::reconnecting:
            if (draining_) {
                reconnect_now_ = true;
            } else {
                timers_.start(reconnect_timer, 0);
            }
            reconnect_attempts_ = 0;
            return {};
        default: return unexpected(-EBUSY);
    }
}

void ClientPath::disconnect(bool remove) {
    remove_when_closed_ = remove_when_closed_ || remove;
    switch (state_) {
        case ClientPathState::closed:
            if (remove_when_closed_) set_state(ClientPathState::dead, "removed");
            return;
        case ClientPathState::dead:
        case ClientPathState::closing: return;
        default: break;
    }
    const bool was_connected = state_ == ClientPathState::connected;
    set_state(ClientPathState::closing, remove ? "remove_path" : "disconnect");
    if (was_connected) session_.on_path_lost(*this);
    timers_.cancel(heartbeat_timer);
    timers_.cancel(connect_timer);
    timers_.cancel(reconnect_timer);
    if (draining_) return;  // the drain in progress ends in after_drain(), which closes
    begin_drain();
}

}  // namespace ibnbd::ibtrs
