#include "core/ibtrs/server_path.hpp"

#include <algorithm>
#include <cerrno>

#include "core/ibtrs/empty_recvs.hpp"
#include "core/ibtrs/server.hpp"
#include "core/ibtrs/server_session.hpp"
#include "core/ibtrs/work_context.hpp"
#include "core/log.hpp"

namespace ibnbd::ibtrs {

struct ServerPath::Connection final : fabric::EndpointHandler {
    Connection(ServerPath& owner, std::uint16_t cid) : path(owner), cid(cid) {}
    void on_completion(const fabric::Completion& completion) override {
        path.on_completion(*this, completion);
    }
    void on_cm_event(const fabric::CmEvent& event) override { path.on_cm_event(*this, event); }

    ServerPath& path;
    const std::uint16_t cid;
    std::unique_ptr<fabric::Endpoint> endpoint;
    // Every send-queue post goes through here: it holds a slot until its completion, so that
    // the several operations of one response can be posted all or none.
    Status<fabric::Errc> count(Status<fabric::Errc> posted) {
        if (posted) --send_room;
        return posted;
    }

    bool established = false;
    bool drained = false;
    std::uint32_t send_room = 0;  // free send-queue slots
    struct DeferredResponse {
        std::uint32_t msg_id;
        int status;
        ReadTarget read;
    };
    std::vector<DeferredResponse> deferred;  // responses waiting for send-queue room (capacity QD)
};

// One response as operations on the wire (post_response_ops).
struct ServerPath::ResponseOps {
    std::uint32_t msg_id = 0;
    std::uint32_t imm = 0;
    wire::SgDesc desc{};      // the client's buffer (its key is the one to invalidate)
    bool with_data = false;   // write desc.len bytes of the chunk to desc first
    bool invalidate = false;  // SEND_WITH_INV of desc.key before the immediate
};

ServerPath::ServerPath(Server& server, ServerSession& session, const wire::ConnReq& first_request,
                       const fabric::Address& peer, const fabric::Address& local)
    : server_(server),
      session_(session),
      fabric_(server.fabric()),
      sess_uuid_(first_request.sess_uuid),
      cid_num_(first_request.cid_num),
      recon_cnt_(first_request.recon_cnt),
      peer_(peer),
      local_(local),
      name_(peer.host + "@" + local.host),
      created_(server.fabric().now()),
      conns_(first_request.cid_num),
      heartbeat_(server.config().heartbeat),
      timers_(server.fabric(), *this) {}

ServerPath::~ServerPath() = default;

std::size_t ServerPath::pending_connections() const {
    if (state_ != ServerPathState::connecting) return 0;
    const auto accepted = [](const auto& conn) { return conn != nullptr; };
    return static_cast<std::size_t>(std::count_if(conns_.begin(), conns_.end(), accepted));
}

Status<int> ServerPath::init() {
    if (const fabric::Nanos timeout = server_.config().handshake_timeout; timeout != 0) {
        timers_.start(handshake_timer, timeout);
    }
    const std::uint32_t depth = session_.queue_depth();
    if (server_.config().always_invalidate) {
        if (auto keys = chunk_keys_.init(fabric_, session_.all_chunks(), session_.chunk_size(), depth); !keys) {
            return unexpected(-ENOMEM);
        }
        info_descs_.resize(depth);
    } else {
        auto chunks = RegisteredBuffer::register_external(fabric_, session_.all_chunks(),
                                                          fabric::access_local_write | fabric::access_remote_write);
        if (!chunks) return unexpected(-ENOMEM);
        chunks_mr_ = std::move(chunks.value());
        const fabric::RemoteKey key = chunks_mr_.mr()->remote_key();
        info_descs_.assign(1, wire::SgDesc{key.addr, key.rkey,
                                           static_cast<std::uint32_t>(session_.all_chunks().size())});
    }
    auto info = RegisteredBuffer::create(fabric_, wire::kInfoReqSize + wire::info_rsp_size(info_descs_.size()),
                                         fabric::access_local_write);
    if (!info) return unexpected(-ENOMEM);
    info_buffer_ = std::move(info.value());
    return {};
}

Status<int> ServerPath::check_join(const wire::ConnReq& req) const {
    if (state_ != ServerPathState::connecting || req.cid_num != cid_num_ || req.cid >= conns_.size() ||
        conns_[req.cid] != nullptr) {
        return unexpected(-ECONNRESET);
    }
    return {};
}

Status<int> ServerPath::accept(fabric::DetachedConnectRequest& request, std::uint16_t cid) {
    const std::uint32_t depth = session_.queue_depth();
    wire::ConnRsp rsp;
    rsp.queue_depth = static_cast<std::uint16_t>(depth);
    rsp.max_io_size = session_.chunk_size() - wire::kMaxHdrSize;
    rsp.max_hdr_size = wire::kMaxHdrSize;
    const bool rotating = chunk_keys_.active();
    rsp.flags = rotating ? wire::kConnRspNewRkeyFlag : 0;
    std::array<std::byte, wire::kConnRspSize> private_data{};
    (void)wire::encode_conn_rsp(rsp, private_data);
    // Per request at most: the revocation, and a response of bind, data, invalidation and
    // immediate (the kernel's sizing, §1.8); cid 0 also binds every chunk before the INFO_RSP.
    constexpr std::uint32_t kServiceQueue = 2 * wire::kServiceConQueueDepth + 2;
    const fabric::QueueSizes queues = cid == 0
        ? fabric::QueueSizes{kServiceQueue + (rotating ? depth : 0), kServiceQueue}
        : fabric::QueueSizes{(rotating ? 5 : 3) * depth + 1, depth + 1};
    auto conn = std::make_unique<Connection>(*this, cid);
    auto endpoint = fabric_.accept(request, private_data, *conn, queues);
    if (!endpoint) return unexpected(-ENOMEM);
    conn->endpoint = std::move(endpoint.value());
    conn->send_room = queues.max_send_wr;
    conn->deferred.reserve(depth);
    conns_[cid] = std::move(conn);
    return {};
}

void ServerPath::set_state(ServerPathState to, std::string_view reason) {
    assert(transition_allowed(state_, to));
    log().debug("ibtrs server path {} ({}): {} -> {} ({})", name_, session_.name(), to_string(state_),
                to_string(to), reason);
    state_ = to;
}

void ServerPath::on_timer(std::uint64_t cookie) {
    timers_.fired(cookie);
    if (cookie == heartbeat_timer) return heartbeat_tick();
    if (cookie == drain_timer) finish_close();
    if (cookie == handshake_timer && state_ == ServerPathState::connecting) {
        ++server_.stats_.handshakes_timed_out;
        close("handshake timed out");
    }
}

// ---- events ------------------------------------------------------------------------------------

void ServerPath::on_cm_event(Connection& conn, const fabric::CmEvent& event) {
    switch (event.type) {
        case fabric::CmEventType::established: {
            conn.established = true;
            if (state_ == ServerPathState::connected && !post_receive_credits(conn)) {
                return close("posting receives failed");
            }
            if (conn.cid != 0 || state_ != ServerPathState::connecting) return;
            const fabric::Sge sge = info_buffer_.sge(0, wire::kInfoReqSize);
            const std::uint64_t context = WorkContext{WorkKind::recv, 0, 0, 1}.pack();
            if (!conn.endpoint->post_recv(context, {&sge, 1})) close("posting INFO_REQ receive failed");
            return;
        }
        case fabric::CmEventType::disconnected:
            close("disconnected");
            on_connection_drained(conn);
            return;
        case fabric::CmEventType::rejected:
        case fabric::CmEventType::unreachable:
            conn.drained = true;
            close("connection failed");
            return;
    }
}

void ServerPath::on_completion(Connection& conn, const fabric::Completion& completion) {
    const bool receive = completion.opcode == fabric::Opcode::recv ||
                         completion.opcode == fabric::Opcode::recv_rdma_with_imm;
    if (!receive) ++conn.send_room;
    if (completion.status == fabric::WcStatus::success && completion.opcode == fabric::kOpBindWindow) {
        const WorkContext work = WorkContext::unpack(completion.context);
        if (work.kind == WorkKind::key_revoke) on_key_revoked(work.slot);
        if (!conn.deferred.empty()) send_deferred(conn);
        return;
    }
    if (completion.status != fabric::WcStatus::success) {
        if (completion.status != fabric::WcStatus::flushed) {
            log().warn("ibtrs server path {}: cid {} {} failed: {}", name_, conn.cid,
                       fabric::to_string(completion.opcode), fabric::to_string(completion.status));
            close("work completion error");
        }
        return;
    }
    switch (completion.opcode) {
        case fabric::Opcode::recv_rdma_with_imm:
            heartbeat_.on_receive();
            on_imm(conn, completion);
            return;
        case fabric::Opcode::recv:
            if (conn.cid == 0 && state_ == ServerPathState::connecting) {
                on_info_request(completion.byte_len);
            } else {
                violation("unexpected send from client");
            }
            return;
        case fabric::Opcode::rdma_write:
        case fabric::Opcode::send:  // responses are sends with always_invalidate
            if (!conn.deferred.empty()) send_deferred(conn);
            return;
        case fabric::Opcode::rdma_read: return;
    }
}

// ---- INFO exchange (§1.5) ----------------------------------------------------------------------

int ServerPath::check_info_request(const wire::InfoReq& req) const {
    if (req.pathname.empty() || req.pathname.find_first_of("/.") != std::string::npos) return -EINVAL;
    if (!session_.name().empty() && session_.name() != req.pathname) return -EINVAL;
    // Every connection must have been accepted; the last ones may still wait for their
    // establishment event, and get their receives when it comes.
    const bool all_present = std::all_of(conns_.begin(), conns_.end(), [](const auto& conn) { return conn != nullptr; });
    return all_present ? 0 : -EIO;
}

bool ServerPath::post_receive_credits(Connection& conn) {
    const std::uint32_t count = conn.cid == 0 ? wire::kServiceConQueueDepth : session_.queue_depth();
    return post_empty_recvs(conn, count).has_value();
}

Status<int> ServerPath::post_empty_recvs(Connection& conn, std::uint32_t count) {
    const std::uint64_t context = WorkContext{WorkKind::recv, conn.cid, 0, 0}.pack();
    return ibtrs::post_empty_recvs(fabric_, *conn.endpoint, context, count);
}

void ServerPath::on_info_request(std::uint32_t byte_len) {
    const auto req = wire::decode_info_req(info_buffer_.span().subspan(0, byte_len));
    if (!req) return violation("malformed INFO_REQ");
    if (const int error = check_info_request(*req); error != 0) {
        log().warn("ibtrs server path {}: INFO_REQ for session '{}' refused (errno {})", name_,
                   req->pathname, -error);
        ++server_.stats_.violations;
        return close("INFO_REQ refused");
    }
    if (!server_.take_name(session_, req->pathname)) {
        log().warn("ibtrs server path {}: session name '{}' is used by another session", name_, req->pathname);
        ++server_.stats_.violations;
        return close("INFO_REQ refused");
    }
    session_.name_ = req->pathname;
    set_state(ServerPathState::connected, "INFO exchanged");
    timers_.cancel(handshake_timer);
    for (auto& conn : conns_) {
        if (conn->established && !post_receive_credits(*conn)) return close("posting receives failed");
    }
    if (!session_.announced_) {
        if (const int refused = server_.handler().on_session_connected(session_); refused != 0) {
            return close("refused by the upper layer");
        }
        session_.announced_ = true;
    }
    if (!send_info_response()) return close("sending INFO_RSP failed");
    heartbeat_.reset();
    timers_.start(heartbeat_timer, heartbeat_.config().interval);
}

// With always_invalidate every chunk's first key is bound on cid 0 before the INFO_RSP that
// carries it, as the kernel chains its REG_MRs before the INFO_RSP send.
bool ServerPath::send_info_response() {
    Connection& conn = *conns_[0];
    if (chunk_keys_.active()) {
        const std::uint64_t bind_context = WorkContext{WorkKind::key_bind, 0, 0, 0}.pack();
        if (!chunk_keys_.bind_all(*conn.endpoint, bind_context, info_descs_)) return false;
        conn.send_room -= chunk_keys_.count();
        server_.stats_.keys_rotated += chunk_keys_.count();
    }
    const std::span<std::byte> out = info_buffer_.span().subspan(wire::kInfoReqSize);
    const auto written = wire::encode_info_rsp(info_descs_, out);
    const fabric::Sge sge = info_buffer_.sge(wire::kInfoReqSize, static_cast<std::uint32_t>(written.value()));
    const std::uint64_t context = WorkContext{WorkKind::info_response, 0, 0, 0}.pack();
    return conn.count(conn.endpoint->post_send(context, {&sge, 1})).has_value();
}

// ---- requests (§1.7.6) -------------------------------------------------------------------------

void ServerPath::on_imm(Connection& conn, const fabric::Completion& completion) {
    if (completion.recv_consumed && !post_empty_recvs(conn, 1)) return close("re-posting a receive failed");
    const wire::Imm imm = wire::imm_decode(completion.imm);
    switch (imm.type) {
        case wire::ImmType::io_req: on_io_request(conn, imm.payload); return;
        case wire::ImmType::hb_msg:
            if (!post_heartbeat(wire::kHbAckImm)) close("heartbeat ack post failed");
            return;
        case wire::ImmType::hb_ack: return;
        default:
            log().warn("ibtrs server path {}: unknown immediate {:#x} ignored", name_, completion.imm);
            return;
    }
}

void ServerPath::violation(std::string_view reason) {
    ++server_.stats_.violations;
    ++session_.stats_.violations;
    log().warn("ibtrs server path {} ({}): protocol violation: {}", name_, session_.name(), reason);
    close(reason);
}

void ServerPath::on_io_request(Connection& conn, std::uint32_t payload) {
    if (state_ != ServerPathState::connected) return;  // dropped without a response, as the kernel does
    if (!chunk_keys_.active()) return start_io_request(conn, payload);
    const wire::IoReq req = wire::io_req_decode(payload, wire::mem_bits(session_.queue_depth()));
    if (req.msg_id >= session_.queue_depth()) return violation("request outside the chunks");
    if (chunk_keys_.state(req.msg_id) != ChunkKeys::State::bound) return violation("chunk reused before its response");
    const std::uint64_t context = WorkContext{WorkKind::key_revoke, conn.cid, 0, req.msg_id}.pack();
    if (!conn.count(chunk_keys_.revoke(*conn.endpoint, context, req.msg_id))) return close("key revocation post failed");
    chunk_keys_.park(req.msg_id, conn.cid, payload);
}

// The chunk's old key is dead: the request may touch the chunk (rtrs-srv.c starts its request
// from the LOCAL_INV completion the same way).
void ServerPath::on_key_revoked(std::uint32_t chunk) {
    if (!chunk_keys_.revocation_done(chunk)) return;
    ++server_.stats_.keys_revoked;
    if (state_ != ServerPathState::connected) return;
    const std::uint16_t cid = chunk_keys_.parked_cid(chunk);
    if (cid >= conns_.size() || !conns_[cid]) return;
    start_io_request(*conns_[cid], chunk_keys_.parked_payload(chunk));
}

void ServerPath::start_io_request(Connection& conn, std::uint32_t payload) {
    if (state_ != ServerPathState::connected) return;
    const std::uint32_t chunk_size = session_.chunk_size();
    const wire::IoReq req = wire::io_req_decode(payload, wire::mem_bits(session_.queue_depth()));
    if (req.msg_id >= session_.queue_depth() || req.off >= chunk_size) return violation("request outside the chunks");
    const std::span<const std::byte> message = session_.chunk(req.msg_id).subspan(req.off);
    const auto type = wire::peek_type(message);
    if (!type) return violation("RTRS message crosses the chunk end");
    Dir dir;
    std::uint32_t usr_len = 0;
    ReadTarget read_target;
    if (*type == static_cast<std::uint16_t>(wire::MsgType::write)) {
        const auto write = wire::decode_rdma_write(message);
        if (!write) return violation("WRITE message crosses the chunk end");
        dir = Dir::write;
        usr_len = write->usr_len;
    } else if (*type == static_cast<std::uint16_t>(wire::MsgType::read)) {
        const auto read = wire::decode_rdma_read(message);
        if (!read) return violation("READ message crosses the chunk end");
        if (read->sg_cnt > 1) return violation("READ with more than one descriptor");
        dir = Dir::read;
        usr_len = read->usr_len;
        if (read->sg_cnt == 1) {
            read_target.desc = read->desc(0);
            // The kernel invalidates only a key it was given (rtrs-srv.c send_io_resp_imm).
            read_target.invalidate = (read->flags & wire::kReadNeedInvalFlag) != 0;
        }
    } else {
        return violation("unknown RTRS message type");
    }
    if (usr_len > req.off) return violation("user message longer than its offset");
    const std::uint32_t data_len = req.off - usr_len;
    if (read_target.desc.len > data_len) return violation("READ descriptor longer than the reserved data");
    if (session_.chunk_busy_on(req.msg_id, *this)) return violation("chunk reused before its response");
    if (session_.chunk_busy(req.msg_id)) return session_.defer(*this, conn.cid, req.msg_id, payload);
    const std::uint64_t bytes = std::uint64_t{data_len} + usr_len;
    (dir == Dir::write ? stats_.write_count : stats_.read_count) += 1;
    (dir == Dir::write ? stats_.write_bytes : stats_.read_bytes) += bytes;
    session_.on_request(*this, conn.cid, req.msg_id, dir, data_len, usr_len, read_target);
}

void ServerPath::send_response(std::uint16_t cid, std::uint32_t msg_id, int status, const ReadTarget& read) {
    if (cid >= conns_.size() || !conns_[cid] || !conns_[cid]->endpoint) return;
    Connection& conn = *conns_[cid];
    if (!conn.deferred.empty() || !post_response(conn, msg_id, status, read)) {
        if (state_ == ServerPathState::connected && conn.deferred.size() < session_.queue_depth()) {
            conn.deferred.push_back({msg_id, status, read});  // retried from the next send completion
        }
    }
}

bool ServerPath::post_response(Connection& conn, std::uint32_t msg_id, int status, const ReadTarget& read) {
    // Without sends that invalidate (ofi) a NEED_INVAL read gets a plain IO_RSP: RTRS then has
    // the client invalidate its key itself (docs/protocol.md §1.7.4). Linux 6.1's client does not
    // complete such a read, but no kernel reaches this server over such a fabric.
    const bool invalidate = read.invalidate && fabric_.supports_invalidation();
    // Errno magnitudes above 9 bits cannot travel; report them as EIO rather than wrongly.
    const auto imm = wire::io_rsp_imm(msg_id, status, invalidate);
    ResponseOps ops;
    ops.msg_id = msg_id;
    ops.imm = imm ? *imm : wire::io_rsp_imm(msg_id, -EIO, invalidate).value();
    ops.desc = read.desc;
    ops.with_data = status == 0 && read.desc.len != 0;
    ops.invalidate = invalidate;
    if (!post_response_ops(conn, ops)) return false;
    if (invalidate) ++server_.stats_.reads_invalidated;
    if (read.invalidate && !invalidate) {
        ++server_.stats_.invalidations_unsupported;
        if (!warned_no_invalidation_) {
            warned_no_invalidation_ = true;
            log().warn("ibtrs server path {}: the client asks for its read keys to be invalidated (NEED_INVAL), "
                       "which fabric {} cannot do: answering without", name_, fabric_.name());
        }
    }
    return true;
}

// A response is up to four operations, in the kernel's order (rtrs-srv.c rdma_write_sg and
// send_io_resp_imm; docs/protocol.md §1.7.3, §1.7.4): the read's data (RDMA write), the send that
// invalidates the client's key (NEED_INVAL), with always_invalidate the bind of the chunk's next
// key, and the immediate (IO_RSP_W_INV after an invalidation): an empty write-with-immediate, or
// with always_invalidate a send-with-immediate carrying the chunk's RKEY_RSP. RC keeps them in
// order, so the client has its data, its key is invalid and the chunk's next key valid when the
// immediate arrives. Otherwise the data and the immediate travel in one write-with-immediate
// (decision 7: two network operations per IO). The operations go out all or none: without room
// for all of them the response is deferred.
bool ServerPath::post_response_ops(Connection& conn, const ResponseOps& ops) {
    const bool keys = chunk_keys_.active();
    const bool one_write = !ops.invalidate && !keys;
    const std::uint32_t needed = one_write ? 1u : 1u + ops.with_data + ops.invalidate + keys;
    if (conn.send_room < needed) return false;
    const std::uint64_t context = WorkContext{WorkKind::io_response, conn.cid, 0, ops.msg_id}.pack();
    const fabric::Sge data = keys ? chunk_keys_.data_sge(ops.msg_id, 0, ops.desc.len)
                                  : chunks_mr_.sge(std::size_t{ops.msg_id} * session_.chunk_size(), ops.desc.len);
    const auto data_sges = ops.with_data ? std::span(&data, 1) : std::span<const fabric::Sge>{};
    const auto target = ops.with_data ? fabric::RemoteKey{ops.desc.addr, ops.desc.key} : fabric::RemoteKey{};
    fabric::Endpoint& endpoint = *conn.endpoint;
    const std::uint32_t room = conn.send_room;
    Status<fabric::Errc> posted;
    if (one_write) {
        posted = conn.count(endpoint.post_write(context, data_sges, target, &ops.imm));
    } else {
        if (ops.with_data) posted = conn.count(endpoint.post_write(context, data_sges, target));
        if (posted && ops.invalidate) posted = conn.count(endpoint.post_send_invalidate(context, {}, ops.desc.key));
        if (posted && keys) {
            const std::uint64_t bind_context = WorkContext{WorkKind::key_bind, conn.cid, 0, ops.msg_id}.pack();
            auto key = chunk_keys_.rotate(endpoint, bind_context, ops.msg_id);
            if (key) {
                --conn.send_room;
                ++server_.stats_.keys_rotated;
                posted = conn.count(endpoint.post_send(context, {&*key, 1}, &ops.imm));
            } else {
                posted = unexpected(key.error());
            }
        } else if (posted) {
            posted = conn.count(endpoint.post_write(context, {}, {}, &ops.imm));
        }
    }
    if (posted) return true;
    // A full queue before anything went out: the response waits. Any other failure, or one
    // after part of the response went out, breaks the path (the client fails the request over).
    if (posted.error() != fabric::Errc::queue_full || conn.send_room != room) close("response post failed");
    return false;
}

void ServerPath::send_deferred(Connection& conn) {
    std::size_t sent = 0;
    while (sent < conn.deferred.size()) {
        const auto& response = conn.deferred[sent];
        if (!post_response(conn, response.msg_id, response.status, response.read)) break;
        ++sent;
    }
    conn.deferred.erase(conn.deferred.begin(), conn.deferred.begin() + static_cast<std::ptrdiff_t>(sent));
}

// ---- heartbeat (§1.9) --------------------------------------------------------------------------

bool ServerPath::post_heartbeat(std::uint32_t imm) {
    if (conns_.empty() || !conns_[0] || !conns_[0]->endpoint) return false;
    const std::uint64_t context = WorkContext{WorkKind::heartbeat, 0, 0, 0}.pack();
    return conns_[0]->count(conns_[0]->endpoint->post_write(context, {}, {}, &imm)).has_value();
}

void ServerPath::heartbeat_tick() {
    if (state_ != ServerPathState::connected) return;
    switch (heartbeat_.tick(fabric_.now())) {
        case Heartbeat::Action::fail: return close("heartbeat timeout");
        case Heartbeat::Action::send:
            if (!post_heartbeat(wire::kHbMsgImm)) return close("heartbeat post failed");
            break;
        case Heartbeat::Action::wait: break;
    }
    timers_.start(heartbeat_timer, heartbeat_.config().interval);
}

// ---- close (§1.14) -----------------------------------------------------------------------------

void ServerPath::close(std::string_view reason) {
    if (state_ == ServerPathState::closing || state_ == ServerPathState::closed) return;
    set_state(ServerPathState::closing, reason);
    timers_.cancel(heartbeat_timer);
    timers_.cancel(handshake_timer);
    chunk_keys_.close();  // no key of this path reaches a chunk any more, whatever the QPs still do
    drain_pending_ = 0;
    for (auto& conn : conns_) {
        if (conn && conn->endpoint && conn->established && !conn->drained) {
            ++drain_pending_;
            conn->endpoint->disconnect();
        } else if (conn) {
            conn->drained = true;
        }
    }
    timers_.start(drain_timer, drain_pending_ == 0 ? 0 : 30 * kSecond);
}

void ServerPath::on_connection_drained(Connection& conn) {
    if (conn.drained) return;
    conn.drained = true;
    if (state_ == ServerPathState::closing && drain_pending_ > 0 && --drain_pending_ == 0) finish_close();
}

void ServerPath::finish_close() {
    if (state_ != ServerPathState::closing) return;
    timers_.cancel(drain_timer);
    set_state(ServerPathState::closed, "drained");
    server_.schedule_reap();
}

}  // namespace ibnbd::ibtrs
