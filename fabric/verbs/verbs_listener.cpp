#include "fabric/verbs/verbs_listener.hpp"

#include <cerrno>

#include "fabric/verbs/verbs_address.hpp"
#include "fabric/verbs/verbs_connection.hpp"
#include "fabric/verbs/verbs_endpoint.hpp"
#include "fabric/verbs/verbs_errors.hpp"
#include "fabric/verbs/verbs_log.hpp"

namespace ibnbd::fabric::verbs {

namespace {

constexpr int kBacklog = 128;

}  // namespace

VerbsListener::VerbsListener(RdmaDevice& device, ListenerHandler& handler)
    : CmOwner(Kind::listener), device_(device), handler_(handler) {
    device_.add(this);
}

VerbsListener::~VerbsListener() {
    device_.remove(this);
    if (id_) device_.destroy_unowned_id(id_);
}

Expected<std::unique_ptr<VerbsListener>, Errc> VerbsListener::create(RdmaDevice& device, const Address& address,
                                                                     ListenerHandler& handler) {
    std::unique_ptr<VerbsListener> listener(new VerbsListener(device, handler));
    if (auto opened = listener->open(address); !opened) return unexpected(opened.error());
    return listener;
}

Status<Errc> VerbsListener::open(const Address& address) {
    auto resolved = resolve_address(address);
    if (!resolved) return unexpected(resolved.error());
    if (rdma_create_id(device_.cm_channel(), &id_, static_cast<CmOwner*>(this), RDMA_PS_TCP) != 0) {
        id_ = nullptr;
        verbs_log().warn("rdma_create_id: {}", errno_text(errno));
        return unexpected(Errc::backend_error);
    }
    if (rdma_bind_addr(id_, resolved->get()) != 0) {
        const int error = errno;
        verbs_log().debug("listen on {}: rdma_bind_addr: {}", address.to_string(), errno_text(error));
        const Errc errc = errc_from_errno(error);
        return unexpected(errc == Errc::address_in_use ? errc : Errc::address_invalid);
    }
    if (id_->verbs != nullptr && id_->verbs != device_.context()) {
        verbs_log().warn("listen on {}: the address belongs to device {}, this fabric uses {}", address.to_string(),
                         ibv_get_device_name(id_->verbs->device), device_.name());
        return unexpected(Errc::address_invalid);
    }
    if (rdma_listen(id_, kBacklog) != 0) {
        const int error = errno;
        verbs_log().warn("listen on {}: rdma_listen: {}", address.to_string(), errno_text(error));
        return unexpected(error == EADDRINUSE ? Errc::address_in_use : Errc::backend_error);
    }
    address_ = to_address(rdma_get_local_addr(id_));
    verbs_log().debug("listening on {}", address_.to_string());
    return {};
}

bool VerbsListener::on_connect_request(const rdma_cm_event& event) {
    if (event.id->verbs != device_.context()) {
        verbs_log().warn("connect request through device {} on a fabric that uses {}: rejected",
                         event.id->verbs ? ibv_get_device_name(event.id->verbs->device) : "(none)", device_.name());
        rdma_reject(event.id, nullptr, 0);
        return false;
    }
    VerbsConnectRequest request(device_, event);
    handler_.on_connect_request(request);
    // The handler may have destroyed this listener: only the request is used from here on.
    if (!request.answered()) (void)request.reject({});
    return request.id_adopted();
}

void VerbsListener::on_cm_event(const rdma_cm_event& event) {
    verbs_log().warn("listener {}: {}", address_.to_string(), cm_event_name(event.event));
}

// ---- IncomingRequest ---------------------------------------------------------------------------

IncomingRequest::IncomingRequest(const rdma_cm_event& event)
    : id_(event.id),
      param_(event.param.conn),
      peer_(to_address(rdma_get_peer_addr(event.id))),
      local_(to_address(rdma_get_local_addr(event.id))) {
    // Only the read depths are used; the data pointer dies with the event.
    param_.private_data = nullptr;
    param_.private_data_len = 0;
}

Status<Errc> IncomingRequest::check_accept(std::span<const std::byte> private_data, QueueSizes queues) const {
    if (answered_) return unexpected(Errc::invalid_argument);
    if (private_data.size() > kMaxAcceptPrivateData) return unexpected(Errc::private_data_too_long);
    if (queues.max_send_wr == 0 || queues.max_recv_wr == 0) return unexpected(Errc::invalid_argument);
    return {};
}

Expected<std::unique_ptr<Endpoint>, Errc> IncomingRequest::accept(RdmaDevice& device,
                                                                  std::span<const std::byte> private_data,
                                                                  EndpointHandler& handler, QueueSizes queues) {
    answered_ = true;
    auto connection = Connection::accept(device, id_, param_, private_data, handler, queues);
    if (!connection) return unexpected(connection.error());
    return std::unique_ptr<Endpoint>(std::make_unique<VerbsEndpoint>(device, **connection));
}

Status<Errc> IncomingRequest::reject(std::span<const std::byte> private_data) {
    if (answered_) return unexpected(Errc::invalid_argument);
    if (private_data.size() > kMaxRejectPrivateData) return unexpected(Errc::private_data_too_long);
    answered_ = true;
    const void* data = private_data.empty() ? nullptr : private_data.data();
    if (rdma_reject(id_, data, static_cast<std::uint8_t>(private_data.size())) != 0) {
        verbs_log().warn("rdma_reject from {}: {}", peer_.to_string(), errno_text(errno));
        return unexpected(Errc::backend_error);
    }
    return {};
}

// ---- VerbsConnectRequest -----------------------------------------------------------------------

VerbsConnectRequest::VerbsConnectRequest(RdmaDevice& device, const rdma_cm_event& event)
    : device_(device), request_(event) {
    if (event.param.conn.private_data != nullptr) {
        private_data_ = {static_cast<const std::byte*>(event.param.conn.private_data),
                         event.param.conn.private_data_len};
    }
}

Expected<std::unique_ptr<Endpoint>, Errc> VerbsConnectRequest::accept(std::span<const std::byte> private_data,
                                                                      EndpointHandler& handler,
                                                                      QueueSizes queues) {
    if (auto checked = request_.check_accept(private_data, queues); !checked) return unexpected(checked.error());
    id_adopted_ = true;
    return request_.accept(device_, private_data, handler, queues);
}

Status<Errc> VerbsConnectRequest::reject(std::span<const std::byte> private_data) {
    return request_.reject(private_data);
}

Expected<std::unique_ptr<DetachedConnectRequest>, Errc> VerbsConnectRequest::detach() {
    if (request_.answered()) return unexpected(Errc::invalid_argument);
    // The private data lives in the CM event, which is acknowledged (freed) when the callback
    // returns: the detached request keeps a copy.
    auto detached = std::make_unique<VerbsDetachedRequest>(device_, request_, private_data_);
    // The id's context is the listener's (librdmacm copies it into a request's id), and the
    // listener may go before the request is answered.
    request_.id()->context = nullptr;
    request_.hand_over();
    id_adopted_ = true;
    return std::unique_ptr<DetachedConnectRequest>(std::move(detached));
}

// ---- VerbsDetachedRequest ----------------------------------------------------------------------

VerbsDetachedRequest::VerbsDetachedRequest(RdmaDevice& home, const IncomingRequest& request,
                                           std::span<const std::byte> private_data)
    : home_(home), request_(request), private_data_(private_data.begin(), private_data.end()) {
    home_.count_detached_request(+1);
}

VerbsDetachedRequest::~VerbsDetachedRequest() {
    if (!request_.answered()) (void)reject({});
}

Status<Errc> VerbsDetachedRequest::reject(std::span<const std::byte> private_data) {
    if (request_.answered()) return unexpected(Errc::invalid_argument);
    auto rejected = request_.reject(private_data);
    if (!request_.answered()) return rejected;  // too much private data: still pending
    // Nothing answers this request any more; the id is on the home channel, whose thread this is.
    home_.destroy_unowned_id(request_.id());
    home_.count_detached_request(-1);
    return rejected;
}

Expected<std::unique_ptr<Endpoint>, Errc> VerbsDetachedRequest::accept_on(RdmaDevice& device,
                                                                          std::span<const std::byte> private_data,
                                                                          EndpointHandler& handler,
                                                                          QueueSizes queues) {
    if (auto checked = request_.check_accept(private_data, queues); !checked) return unexpected(checked.error());
    rdma_cm_id* id = request_.id();
    // A QP can only use a PD and CQ of the ibv_context the request arrived through.
    if (id->verbs != device.context()) {
        verbs_log().warn("connect request from {} arrived through device {}; the accepting fabric uses {}",
                         request_.peer().to_string(), id->verbs ? ibv_get_device_name(id->verbs->device) : "(none)",
                         device.name());
        return unexpected(Errc::invalid_argument);
    }
    if (&device != &home_ && rdma_migrate_id(id, device.cm_channel()) != 0) {
        // The id is still on the home channel: the request stays pending there.
        verbs_log().warn("rdma_migrate_id for the connect request from {}: {}", request_.peer().to_string(),
                         errno_text(errno));
        return unexpected(Errc::no_resources);
    }
    // From here on the id depends only on `device`: the home fabric may go.
    home_.count_detached_request(-1);
    return request_.accept(device, private_data, handler, queues);
}

}  // namespace ibnbd::fabric::verbs
