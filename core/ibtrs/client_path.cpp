#include "core/ibtrs/client_path.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/ibtrs/client_session.hpp"
#include "core/ibtrs/empty_recvs.hpp"
#include "core/ibtrs/io_shard.hpp"
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

// The service connection, cid 0.
struct ClientPath::Connection final : fabric::EndpointHandler {
    explicit Connection(ClientPath& owner) : path(owner) {}
    void on_completion(const fabric::Completion& completion) override { path.on_completion(completion); }
    void on_cm_event(const fabric::CmEvent& event) override { path.on_cm_event(event); }

    ClientPath& path;
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
      may_create_session_(first_conn),
      heartbeat_(session.config().heartbeat),
      timers_(session.fabric_, *this) {
    for (auto& byte : sess_uuid_) byte = static_cast<std::uint8_t>(fabric_.random_u64());
}

ClientPath::~ClientPath() = default;

void ClientPath::start() { begin_attempt(); }

PathStats ClientPath::stats() const {
    PathStats total = stats_;
    for (const auto& slot : session_.shards_) {
        const IoShard::LaneCounters& lane = slot.shard->lane_counters(index_);
        total.read_count += lane.read_count.get();
        total.read_bytes += lane.read_bytes.get();
        total.write_count += lane.write_count.get();
        total.write_bytes += lane.write_bytes.get();
        total.inflight += lane.inflight.get();
        total.failovered += lane.failovered.get();
        total.rkey_updates += lane.rkey_updates.get();
    }
    return total;
}

void ClientPath::set_state(ClientPathState to, std::string_view reason) {
    const ClientPathState from = state_;
    assert(transition_allowed(from, to));
    assert(!draining_ || to == ClientPathState::connecting_err || to == ClientPathState::reconnecting ||
           to == ClientPathState::closing);
    state_ = to;
    ++stats_.state_transitions;
    log().debug("ibtrs client path {}: {} -> {} ({})", name_, to_string(from), to_string(to), reason);
    session_.handler_.on_path_state(name_, from, to, reason);
}

void ClientPath::set_history(History to) {
    static constexpr std::array<std::string_view, 3> names{"untried", "first attempt failed", "connected before"};
    assert(to > history_);
    log().debug("ibtrs client path {}: history {} -> {}", name_, names[static_cast<std::size_t>(history_)],
                names[static_cast<std::size_t>(to)]);
    history_ = to;
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
                log().warn("ibtrs client path {}: drain timed out ({} parts left)", name_, drain_pending_);
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

void ClientPath::begin_attempt() {
    assert(state_ == ClientPathState::connecting);
    service_.reset();
    chunks_.clear();
    ++generation_;
    ++recon_cnt_;
    // While another path is connected, the server must still have the session: a reconnect only
    // joins it, so that a server which lost the session (a fast restart) says so (-ENXIO) instead
    // of silently making a new one beside the session the other paths believe in. Alone, a path
    // that ever connected may re-create the session (the server rebooted).
    attempt_first_conn_ = (may_create_session_ || connected_before()) && session_.connected_paths() == 0;
    lanes_pending_ = 0;
    service_ = std::make_unique<Connection>(*this);
    timers_.start(connect_timer, session_.config().connect_timeout);
    connect_service();
}

wire::ConnReq ClientPath::conn_req() const {
    wire::ConnReq req;
    req.cid = 0;
    req.cid_num = session_.cid_num();
    req.recon_cnt = recon_cnt_;
    req.sess_uuid = sess_uuid_;
    req.paths_uuid = session_.paths_uuid();
    req.first_conn = attempt_first_conn_;
    return req;
}

void ClientPath::connect_service() {
    std::array<std::byte, wire::kConnReqSize> private_data{};
    const auto encoded = wire::encode_conn_req(conn_req(), private_data);
    assert(encoded.has_value());
    const fabric::QueueSizes queues{2 * wire::kServiceConQueueDepth + 2, 2 * wire::kServiceConQueueDepth + 2};
    auto endpoint = fabric_.connect(destination_, source_, private_data, *service_, queues);
    if (!endpoint) {
        log().warn("ibtrs client path {}: connect cid 0 failed: {}", name_, fabric::to_string(endpoint.error()));
        fail("connect failed");
        return;
    }
    service_->endpoint = std::move(endpoint.value());
}

int ClientPath::check_conn_rsp(std::span<const std::byte> private_data) {
    const auto rsp = wire::decode_conn_rsp(private_data);
    if (!rsp) return -ECONNRESET;
    if (!wire::check_conn_rsp(*rsp) || rsp->status != 0) return -ECONNRESET;
    const std::uint64_t chunk_size = wire::chunk_size_of(*rsp);
    if (rsp->queue_depth == 0 || chunk_size < wire::kMinChunkSize ||
        wire::bits(rsp->queue_depth - 1u) + wire::bits(chunk_size - 1) > wire::kImmPayloadBits ||
        rsp->max_hdr_size < wire::kRdmaReadHdrSize + wire::kSgDescSize) {
        log().warn("ibtrs client path {}: server parameters out of range", name_);
        return -ECONNRESET;
    }
    const bool adopt = depth_rule_ == DepthRule::adopt_next;
    if (adopt) depth_rule_ = DepthRule::keep;  // for this attempt only
    if (connected_before() && queue_depth_seen_ != rsp->queue_depth && !adopt) {
        log().warn("ibtrs client path {}: queue depth changed {} -> {}, auto-reconnect disabled",
                   name_, queue_depth_seen_, rsp->queue_depth);
        depth_rule_ = DepthRule::changed_stopped;
        return -ECONNRESET;
    }
    const int status = session_.adopt_params({rsp->queue_depth, rsp->max_io_size, rsp->max_hdr_size});
    if (status == 0) queue_depth_seen_ = rsp->queue_depth;
    return status;
}

// cid 0 is up: now every shard opens its IO connections of this path.
void ClientPath::on_established(std::span<const std::byte> private_data) {
    service_->established = true;
    if (state_ != ClientPathState::connecting) return;
    if (const int status = check_conn_rsp(private_data); status != 0) {
        fail("bad connection response");
        return;
    }
    lanes_pending_ = static_cast<std::uint32_t>(session_.shard_count());
    session_.connect_lanes(*this, conn_req());
}

void ClientPath::on_lane_established(std::uint16_t generation) {
    if (generation != generation_ || state_ != ClientPathState::connecting || lanes_pending_ == 0) return;
    if (--lanes_pending_ == 0) begin_info_exchange();
}

void ClientPath::on_lane_failed(std::uint16_t generation, std::string_view reason) {
    if (generation == generation_) fail(reason);
}

void ClientPath::on_lane_drained(std::uint16_t generation) {
    if (generation == generation_ && draining_) drained_one();
}

Status<int> ClientPath::post_empty_recvs(std::uint32_t count) {
    const std::uint64_t context = WorkContext{WorkKind::recv, 0, generation_, 0}.pack();
    return ibtrs::post_empty_recvs(fabric_, *service_->endpoint, context, count);
}

void ClientPath::begin_info_exchange() {
    const std::size_t rsp_size = wire::info_rsp_size(session_.queue_depth());
    if (info_buffer_.size() < wire::kInfoReqSize + rsp_size) {
        auto buffer = RegisteredBuffer::create(fabric_, wire::kInfoReqSize + rsp_size,
                                               fabric::access_local_write);
        if (!buffer) return fail("info buffer registration failed");
        info_buffer_ = std::move(buffer.value());
    }
    Connection& service = *service_;
    // The buffered receive goes first: the INFO_RSP send consumes receives in post order.
    const fabric::Sge rsp_sge = info_buffer_.sge(wire::kInfoReqSize, static_cast<std::uint32_t>(rsp_size));
    const std::uint64_t rsp_context = WorkContext{WorkKind::recv, 0, generation_, kInfoRecvSlot}.pack();
    if (!service.endpoint->post_recv(rsp_context, {&rsp_sge, 1}) ||
        !post_empty_recvs(wire::kServiceConQueueDepth)) {
        return fail("posting service receives failed");
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
    const bool reconnected = connected_before();
    if (reconnected) {
        ++stats_.reconnects_ok;
        session_.handler_.on_reconnect_attempt(name_, reconnect_attempts_, true);
    } else {
        set_history(History::connected_before);
    }
    reconnect_attempts_ = 0;
    heartbeat_.reset();
    // Shard 0 (this thread) takes the lane up at once; other shards a little later.
    session_.lanes_up(*this, chunks_);
    set_state(ClientPathState::connected, reconnected ? "reconnected" : "connected");
    timers_.start(heartbeat_timer, heartbeat_.config().interval);
    session_.on_path_connected(*this);
}

// ---- events ----------------------------------------------------------------------------------

void ClientPath::on_cm_event(const fabric::CmEvent& event) {
    switch (event.type) {
        case fabric::CmEventType::established: on_established(event.private_data); return;
        case fabric::CmEventType::rejected: {
            const auto rsp = wire::decode_conn_rsp(event.private_data);
            const int error = rsp ? rsp->status : 0;
            log().warn("ibtrs client path {}: cid 0 rejected (errno {})", name_, -error);
            service_->drained = true;
            if (error == -ENXIO && !attempt_first_conn_) session_.on_server_forgot_session(*this);
            fail(error == -EBUSY ? "connection rejected: the old connection still drains" : "connection rejected");
            return;
        }
        case fabric::CmEventType::unreachable:
            service_->drained = true;
            fail("server unreachable");
            return;
        case fabric::CmEventType::disconnected:
            fail("disconnected");
            on_service_drained();
            return;
    }
}

void ClientPath::on_completion(const fabric::Completion& completion) {
    const WorkContext context = WorkContext::unpack(completion.context);
    if (completion.status != fabric::WcStatus::success) {
        if (completion.status != fabric::WcStatus::flushed) {
            log().warn("ibtrs client path {}: cid 0 {} failed: {}", name_, fabric::to_string(completion.opcode),
                       fabric::to_string(completion.status));
            fail("work completion error");
        }
        return;
    }
    switch (completion.opcode) {
        case fabric::Opcode::recv_rdma_with_imm:
            heartbeat_.on_receive();  // any received message proves the peer alive
            on_imm(completion);
            return;
        case fabric::Opcode::recv:
            heartbeat_.on_receive();
            if (context.slot == kInfoRecvSlot && state_ == ClientPathState::connecting) {
                on_info_response(completion.byte_len);
            } else {
                fail("unexpected send from server");
            }
            return;
        case fabric::Opcode::rdma_write:
        case fabric::Opcode::send:
        case fabric::Opcode::rdma_read: return;
    }
}

void ClientPath::on_imm(const fabric::Completion& completion) {
    if (completion.recv_consumed && !post_empty_recvs(1)) return fail("re-posting a receive failed");
    const wire::Imm imm = wire::imm_decode(completion.imm);
    switch (imm.type) {
        case wire::ImmType::hb_msg:
            if (!post_heartbeat(wire::kHbAckImm)) fail("heartbeat ack post failed");
            return;
        case wire::ImmType::hb_ack:
            stats_.cur_latency = heartbeat_.on_ack(fabric_.now());
            session_.share_latency(*this, stats_.cur_latency);
            return;
        default:
            // Responses travel on the shards' IO connections, never on cid 0.
            log().warn("ibtrs client path {}: unexpected immediate {:#x} on cid 0", name_, completion.imm);
            return;
    }
}

bool ClientPath::post_heartbeat(std::uint32_t imm) {
    if (!service_ || !service_->endpoint) return false;
    const std::uint64_t context = WorkContext{WorkKind::heartbeat, 0, generation_, 0}.pack();
    return service_->endpoint->post_write(context, {}, {}, &imm).has_value();
}

void ClientPath::heartbeat_tick() {
    if (state_ != ClientPathState::connected) return;
    // Any message from the server proves it alive (docs/protocol.md §1.9), also those on the shards'
    // IO connections, which the shards count for us.
    std::uint64_t received = 0;
    for (const auto& slot : session_.shards_) received += slot.shard->lane_counters(index_).received.get();
    if (received != lane_receipts_) heartbeat_.on_receive();
    lane_receipts_ = received;
    switch (heartbeat_.tick(fabric_.now())) {
        case Heartbeat::Action::fail: return fail("heartbeat timeout");
        case Heartbeat::Action::send:
            if (!post_heartbeat(wire::kHbMsgImm)) return fail("heartbeat post failed");
            break;
        case Heartbeat::Action::wait: break;
    }
    timers_.start(heartbeat_timer, heartbeat_.config().interval);
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
            if (attempted_before()) {
                session_.handler_.on_reconnect_attempt(name_, reconnect_attempts_, false);
            }
            break;
        default:
            return;  // already failing or closed
    }
    timers_.cancel(heartbeat_timer);
    timers_.cancel(connect_timer);
    begin_drain();
}

// cid 0 here and every shard's lane: the path reconnects only once all of them are flushed.
void ClientPath::begin_drain() {
    draining_ = true;
    drain_pending_ = static_cast<std::uint32_t>(session_.shard_count());
    if (service_ && service_->endpoint && service_->established && !service_->drained) {
        ++drain_pending_;
        service_->endpoint->disconnect();
    } else if (service_) {
        service_->drained = true;
    }
    // A shard may answer inside this call; drained_one() then only arms the timer below.
    timers_.start(drain_timer, 2 * session_.config().connect_timeout);  // safety limit
    session_.drain_lanes(*this, session_.test_hooks().failover_without_drain);
}

void ClientPath::drained_one() {
    // Finishes from the event loop, never inside the report that ended the drain.
    if (drain_pending_ > 0 && --drain_pending_ == 0) timers_.start(drain_timer, 0);
}

void ClientPath::on_service_drained() {
    if (!service_ || service_->drained) return;
    service_->drained = true;
    if (draining_) drained_one();
}

void ClientPath::finish_drain() {
    if (!draining_) return;
    timers_.cancel(drain_timer);
    draining_ = false;
    service_.reset();
    after_drain();
}

void ClientPath::after_drain() {
    switch (state_) {
        case ClientPathState::connecting_err: {
            const bool first_failure = !attempted_before();
            if (first_failure) set_history(History::first_attempt_failed);
            set_state(ClientPathState::reconnecting, "connect attempt failed");
            if (first_failure) session_.on_path_first_attempt_failed(*this);
            if (state_ == ClientPathState::reconnecting) schedule_reconnect();
            return;
        }
        case ClientPathState::reconnecting: schedule_reconnect(); return;
        case ClientPathState::closing:
            set_state(ClientPathState::closed, "closed");
            if (manual_action_ == ManualAction::remove_when_closed) set_state(ClientPathState::dead, "removed");
            return;
        default: return;
    }
}

void ClientPath::schedule_reconnect() {
    if (manual_action_ == ManualAction::reconnect_at_once) {
        manual_action_ = ManualAction::none;
        timers_.start(reconnect_timer, 0);
        return;
    }
    const std::int32_t max_attempts = session_.config().max_reconnect_attempts;
    if (depth_rule_ == DepthRule::changed_stopped) return close_for_good("auto-reconnect disabled");
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
            depth_rule_ = depth_rule_ == DepthRule::changed_stopped ? DepthRule::adopt_next : DepthRule::keep;
            reconnect_attempts_ = 0;
            set_state(ClientPathState::reconnecting, "manual reconnect");
            timers_.start(reconnect_timer, 0);
            return {};
        case ClientPathState::connected:
            reconnect_attempts_ = 0;
            manual_action_ = ManualAction::reconnect_at_once;
            fail("manual reconnect");
            return {};
        case ClientPathState::reconnecting:
            if (draining_) {
                manual_action_ = ManualAction::reconnect_at_once;
            } else {
                timers_.start(reconnect_timer, 0);
            }
            reconnect_attempts_ = 0;
            return {};
        default: return unexpected(-EBUSY);
    }
}

void ClientPath::disconnect(bool remove) {
    if (remove) {
        manual_action_ = ManualAction::remove_when_closed;
    } else if (manual_action_ == ManualAction::reconnect_at_once) {
        manual_action_ = ManualAction::none;  // the path closes instead
    }
    switch (state_) {
        case ClientPathState::closed:
            if (manual_action_ == ManualAction::remove_when_closed) set_state(ClientPathState::dead, "removed");
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
