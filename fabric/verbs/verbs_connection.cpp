// Connection: creation, connection management, disconnect and teardown.
#include "fabric/verbs/verbs_connection.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "fabric/verbs/verbs_errors.hpp"
#include "fabric/verbs/verbs_log.hpp"

namespace ibnbd::fabric::verbs {

namespace {

// Outstanding RDMA reads per connection, each way (capped by the device).
constexpr int kReadDepth = 16;
// How long a removed device gets to report its flushes.
constexpr Nanos kRemovalDrain = 1'000'000'000;

}  // namespace

Connection::Connection(RdmaDevice& device, EndpointHandler& handler, QueueSizes queues)
    : CmOwner(Kind::connection),
      device_(device),
      handler_(&handler),
      queues_(queues),
      send_ring_(queues.max_send_wr, false),
      recv_ring_(queues.max_recv_wr, true) {}

Connection::~Connection() {
    if (qp_created_) rdma_destroy_qp(id_);
    if (cq_) {
        const int ret = ibv_destroy_cq(cq_);
        if (ret != 0) verbs_log().error("ibv_destroy_cq: {}", errno_text(ret));
    }
    if (id_) rdma_destroy_id(id_);
}

Status<Errc> Connection::create_cq(QueueSizes queues) {
    const auto& attr = device_.attr();
    const std::uint64_t entries = std::uint64_t{queues.max_send_wr} + queues.max_recv_wr;
    if (queues.max_send_wr > static_cast<std::uint32_t>(attr.max_qp_wr) ||
        queues.max_recv_wr > static_cast<std::uint32_t>(attr.max_qp_wr) ||
        entries > static_cast<std::uint64_t>(attr.max_cqe)) {
        verbs_log().warn("queues {}+{} exceed the device's limits (max_qp_wr {}, max_cqe {})",
                         queues.max_send_wr, queues.max_recv_wr, attr.max_qp_wr, attr.max_cqe);
        return unexpected(Errc::no_resources);
    }
    cq_ = ibv_create_cq(device_.context(), static_cast<int>(entries), this, device_.completion_channel(), 0);
    if (cq_ == nullptr) {
        verbs_log().warn("ibv_create_cq({} entries): {}", entries, errno_text(errno));
        return unexpected(Errc::no_resources);
    }
    return {};
}

Status<Errc> Connection::create_qp(QueueSizes queues) {
    ibv_qp_init_attr init{};
    init.send_cq = cq_;
    init.recv_cq = cq_;
    init.qp_type = IBV_QPT_RC;
    init.sq_sig_all = 1;
    init.cap.max_send_wr = queues.max_send_wr;
    init.cap.max_recv_wr = queues.max_recv_wr;
    init.cap.max_send_sge = device_.sge_limit();
    init.cap.max_recv_sge = device_.sge_limit();
    if (rdma_create_qp(id_, device_.pd(), &init) != 0) {
        verbs_log().warn("rdma_create_qp: {}", errno_text(errno));
        return unexpected(Errc::no_resources);
    }
    qp_created_ = true;
    return {};
}

rdma_conn_param Connection::connection_parameters(std::span<const std::byte> private_data) const {
    const auto& attr = device_.attr();
    const VerbsConfig& config = device_.config();
    rdma_conn_param param{};
    param.private_data = private_data.empty() ? nullptr : private_data.data();
    param.private_data_len = static_cast<std::uint8_t>(private_data.size());
    param.responder_resources = static_cast<std::uint8_t>(std::clamp(attr.max_qp_rd_atom, 0, kReadDepth));
    param.initiator_depth = static_cast<std::uint8_t>(std::clamp(attr.max_qp_init_rd_atom, 0, kReadDepth));
    param.retry_count = std::min<std::uint8_t>(config.retry_count, 7);
    param.rnr_retry_count = std::min<std::uint8_t>(config.rnr_retry_count, 7);
    return param;
}

Expected<Connection*, Errc> Connection::connect(RdmaDevice& device, const SocketAddress& destination,
                                                const SocketAddress* source,
                                                std::span<const std::byte> private_data,
                                                EndpointHandler& handler, QueueSizes queues) {
    if (queues.max_send_wr == 0 || queues.max_recv_wr == 0) return unexpected(Errc::invalid_argument);
    std::unique_ptr<Connection> connection(new Connection(device, handler, queues));
    if (auto created = connection->create_cq(queues); !created) return unexpected(created.error());
    if (rdma_create_id(device.cm_channel(), &connection->id_, static_cast<CmOwner*>(connection.get()), RDMA_PS_TCP) != 0) {
        verbs_log().warn("rdma_create_id: {}", errno_text(errno));
        connection->id_ = nullptr;
        return unexpected(Errc::no_resources);
    }
    connection->connect_data_.assign(private_data.begin(), private_data.end());
    connection->peer_ = to_address(destination.get());
    connection->state_ = State::resolving_address;
    sockaddr* src = source ? const_cast<sockaddr*>(source->get()) : nullptr;
    if (rdma_resolve_addr(connection->id_, src, const_cast<sockaddr*>(destination.get()),
                          static_cast<int>(device.config().resolve_timeout_ms)) != 0) {
        connection->fail_attempt("rdma_resolve_addr", errno);
    }
    return device.adopt(std::move(connection));
}

Expected<Connection*, Errc> Connection::accept(RdmaDevice& device, rdma_cm_id* id, const rdma_conn_param& request,
                                               std::span<const std::byte> private_data,
                                               EndpointHandler& handler, QueueSizes queues) {
    std::unique_ptr<Connection> connection(new Connection(device, handler, queues));
    connection->id_ = id;
    id->context = static_cast<CmOwner*>(connection.get());
    Connection* adopted = device.adopt(std::move(connection));
    // From here on the RdmaDevice owns the id; a failure leaves an orphan the RdmaDevice destroys.
    auto fail = [adopted](Errc error) -> Expected<Connection*, Errc> {
        adopted->orphaned_ = true;
        adopted->handler_ = nullptr;
        adopted->enter_closed();
        return unexpected(error);
    };
    if (queues.max_send_wr == 0 || queues.max_recv_wr == 0) return fail(Errc::invalid_argument);
    if (auto created = adopted->create_cq(queues); !created) return fail(created.error());
    if (auto created = adopted->create_qp(queues); !created) return fail(created.error());
    rdma_conn_param param = adopted->connection_parameters(private_data);
    param.responder_resources = std::min(param.responder_resources, request.initiator_depth);
    param.initiator_depth = std::min(param.initiator_depth, request.responder_resources);
    if (rdma_accept(id, &param) != 0) {
        verbs_log().warn("rdma_accept: {}", errno_text(errno));
        return fail(Errc::no_resources);
    }
    adopted->state_ = State::accepting;
    adopted->ever_established_ = true;  // a REP went out: the QP number is known to the peer
    adopted->learn_addresses();
    return adopted;
}

void Connection::learn_addresses() {
    local_ = to_address(rdma_get_local_addr(id_));
    peer_ = to_address(rdma_get_peer_addr(id_));
}

// A step of an active connect failed before any REQ went out.
void Connection::fail_attempt(const char* step, int error) {
    verbs_log().debug("connect to {}: {} failed: {}", peer_.to_string(), step, errno_text(error));
    enter_closed();
    // An abandoned attempt has its disconnected queued by disconnect() already.
    if (!abandoned_ && handler_ != nullptr) pending_event_ = CmEventType::unreachable;
}

// ---- CM events ---------------------------------------------------------------------------------

bool Connection::on_cm_event(const rdma_cm_event& event) {
    switch (event.event) {
        case RDMA_CM_EVENT_ADDR_RESOLVED: return on_address_resolved();
        case RDMA_CM_EVENT_ROUTE_RESOLVED: return on_route_resolved();
        case RDMA_CM_EVENT_ESTABLISHED: return on_established(event);
        case RDMA_CM_EVENT_REJECTED: return on_rejected(event);
        case RDMA_CM_EVENT_ADDR_ERROR:
        case RDMA_CM_EVENT_ROUTE_ERROR:
        case RDMA_CM_EVENT_UNREACHABLE:
        case RDMA_CM_EVENT_CONNECT_ERROR: return on_attempt_failed(event);
        case RDMA_CM_EVENT_DISCONNECTED: break_connection("the peer disconnected"); return false;
        case RDMA_CM_EVENT_ADDR_CHANGE: break_connection("the local address changed"); return false;
        case RDMA_CM_EVENT_DEVICE_REMOVAL: {
            // Fails a connect, breaks a connection. The device flushes what it still can (rxe
            // does); what it does not report is completed by the backend after a short drain.
            const bool delivered = on_attempt_failed(event);
            drain_deadline_ = std::min(drain_deadline_, monotonic_now() + kRemovalDrain);
            return delivered;
        }
        case RDMA_CM_EVENT_TIMEWAIT_EXIT:
            timewait_exited_ = true;
            device_.count_timewait_exit();
            verbs_log().debug("connection {} -> {}: timewait over", local_.to_string(), peer_.to_string());
            return false;
        default:
            verbs_log().debug("ignoring {} for {}", cm_event_name(event.event), peer_.to_string());
            return false;
    }
}

bool Connection::on_address_resolved() {
    if (state_ != State::resolving_address) return false;
    if (id_->verbs != device_.context()) {
        verbs_log().warn("{} is reached through device {}, this fabric uses {}", peer_.to_string(),
                         id_->verbs ? ibv_get_device_name(id_->verbs->device) : "(none)", device_.name());
        fail_attempt("device selection", ENODEV);
        return false;
    }
    // Resolution bound the id to its source address and port: local_address() is known from here
    // on, while the connect is in progress (the listener's request names it as its peer).
    local_ = to_address(rdma_get_local_addr(id_));
    if (auto created = create_qp(queues_); !created) {
        fail_attempt("rdma_create_qp", ENOMEM);
        return false;
    }
    state_ = State::resolving_route;
    if (rdma_resolve_route(id_, static_cast<int>(device_.config().resolve_timeout_ms)) != 0) {
        fail_attempt("rdma_resolve_route", errno);
    }
    return false;
}

bool Connection::on_route_resolved() {
    if (state_ != State::resolving_route) return false;
    const rdma_conn_param param = connection_parameters(connect_data_);
    state_ = State::connecting;
    if (rdma_connect(id_, const_cast<rdma_conn_param*>(&param)) != 0) fail_attempt("rdma_connect", errno);
    return false;
}

bool Connection::on_established(const rdma_cm_event& event) {
    ever_established_ = true;
    if (state_ == State::draining || state_ == State::closed) {
        // Given up meanwhile (disconnect() or the Endpoint went): tell the peer now.
        if (!disconnect_sent_ && rdma_disconnect(id_) == 0) disconnect_sent_ = true;
        return false;
    }
    if (state_ != State::connecting && state_ != State::accepting) return false;
    const bool active = state_ == State::connecting;
    state_ = State::connected;
    learn_addresses();
    if (abandoned_ || handler_ == nullptr) {
        break_connection("abandoned while connecting");
        return false;
    }
    verbs_log().debug("connected {} -> {}", local_.to_string(), peer_.to_string());
    std::span<const std::byte> data;
    if (active && event.param.conn.private_data != nullptr) {
        data = {static_cast<const std::byte*>(event.param.conn.private_data), event.param.conn.private_data_len};
    }
    handler_->on_cm_event(CmEvent{CmEventType::established, data});
    return true;
}

bool Connection::on_rejected(const rdma_cm_event& event) {
    if (state_ != State::connecting) return on_attempt_failed(event);
    // Only a consumer's reject (rdma_reject) is "rejected"; the CM's own REJs (invalid service ID:
    // nobody listens there; timeouts) mean the listener was not reached.
    const bool by_consumer = event.status == kConsumerRejectReason;
    std::span<const std::byte> data;
    if (by_consumer && event.param.conn.private_data != nullptr) {
        data = {static_cast<const std::byte*>(event.param.conn.private_data), event.param.conn.private_data_len};
    }
    verbs_log().debug("connect to {}: rejected (reason {})", peer_.to_string(), event.status);
    enter_closed();
    return deliver_outcome(by_consumer ? CmEventType::rejected : CmEventType::unreachable, data);
}

bool Connection::on_attempt_failed(const rdma_cm_event& event) {
    verbs_log().debug("connection {}: {} (status {})", peer_.to_string(), cm_event_name(event.event), event.status);
    switch (state_) {
        case State::resolving_address:
        case State::resolving_route:
        case State::connecting:
            enter_closed();
            return deliver_outcome(CmEventType::unreachable, {});
        case State::accepting:
        case State::connected: break_connection(cm_event_name(event.event)); return false;
        default: return false;
    }
}

// The outcome of an active connect. Nothing for an abandoned attempt: disconnect() queued its
// disconnected already.
bool Connection::deliver_outcome(CmEventType type, std::span<const std::byte> private_data) {
    if (handler_ == nullptr || abandoned_) return false;
    handler_->on_cm_event(CmEvent{type, private_data});
    return true;
}

// ---- disconnect --------------------------------------------------------------------------------

void Connection::break_connection(const char* reason) {
    if (state_ != State::connected && state_ != State::accepting) return;
    verbs_log().debug("connection {} -> {}: {}; draining", local_.to_string(), peer_.to_string(), reason);
    state_ = State::draining;
    drain_deadline_ = monotonic_now() + device_.config().drain_timeout;
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_ERR;
    if (qp_created_ && ibv_modify_qp(id_->qp, &attr, IBV_QP_STATE) != 0) {
        verbs_log().debug("moving the QP to the error state: {}", errno_text(errno));
    }
    if (!disconnect_sent_ && rdma_disconnect(id_) == 0) disconnect_sent_ = true;
}

void Connection::flush_locally() {
    if (send_ring_.empty() && recv_ring_.empty()) return;
    device_.count_local_flush();
    send_ring_.flush_all();
    recv_ring_.flush_all();
}

void Connection::enter_closed() {
    state_ = State::closed;
    timewait_deadline_ = monotonic_now() + device_.config().timewait_limit;
}

void Connection::disconnect() {
    switch (state_) {
        case State::connected:
        case State::accepting: break_connection("disconnect()"); return;
        case State::resolving_address:
        case State::resolving_route:
        case State::connecting:
            if (abandoned_) return;
            abandoned_ = true;
            pending_event_ = CmEventType::disconnected;
            // Before a REQ went out nothing needs to wait; after it, the outcome is awaited.
            if (state_ != State::connecting) enter_closed();
            return;
        default: return;
    }
}

void Connection::orphan() {
    orphaned_ = true;
    handler_ = nullptr;
    pending_event_.reset();
    switch (state_) {
        case State::connected:
        case State::accepting: break_connection("endpoint destroyed"); return;
        case State::resolving_address:
        case State::resolving_route: enter_closed(); return;
        case State::connecting: abandoned_ = true; return;
        default: return;
    }
}

bool Connection::reapable(Nanos now) const {
    if (!orphaned_ || state_ != State::closed) return false;
    return !ever_established_ || timewait_exited_ || now >= timewait_deadline_;
}

}  // namespace ibnbd::fabric::verbs
