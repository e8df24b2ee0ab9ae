#include "fabric/sim/listener.hpp"

#include "fabric/sim/endpoint.hpp"
#include "fabric/sim/engine.hpp"
#include "fabric/sim/node.hpp"

namespace ibnbd::fabric::sim {
namespace {

bool is_wildcard_host(const std::string& host) {
    return host.empty() || host == "0.0.0.0" || host == "::";
}

// Answers `request` (which reached `node`) with an accept: the one place a passive connection is
// made, for requests answered in the callback and detached ones.
Expected<std::unique_ptr<Endpoint>, Errc> accept_request(Engine& engine, Node& node, const CmMessage& request,
                                                         std::span<const std::byte> private_data,
                                                         EndpointHandler& handler, QueueSizes queues) {
    if (private_data.size() > kMaxAcceptPrivateData) return unexpected(Errc::private_data_too_long);
    if (auto sizes = check_queue_sizes(queues); !sizes) return unexpected(sizes.error());
    if (node.crashed()) return unexpected(Errc::no_resources);

    Connection& connection = engine.connections.allocate(queues);
    connection.node = &node;
    connection.handler = &handler;
    connection.state = ConnState::accepted;
    connection.peer = request.from;
    connection.peer_node = request.sender;
    connection.link = request.link;
    connection.tx = static_cast<std::uint8_t>(1 - request.direction);
    connection.local_address = request.destination;
    connection.peer_address = request.source;

    CmPool& pool = engine.cm_messages;
    const std::uint64_t index = pool.acquire();
    CmMessage& reply = pool.at(index);
    reply.kind = CmKind::reply;
    reply.from = connection.self;
    reply.to = request.from;
    reply.sender = &node;
    reply.target = request.sender;
    reply.link = connection.link;
    reply.direction = connection.tx;
    reply.set_payload(private_data);
    send_cm(engine, index, &connection.last_tx_arrival);
    engine.schedule(EventKind::cm_timeout, connection, engine.now + engine.config.cm_timeout, 0);
    return std::unique_ptr<Endpoint>(std::make_unique<SimEndpoint>(engine, connection.self));
}

Status<Errc> check_reject_data(std::span<const std::byte> private_data) {
    // As on InfiniBand and RoCE (a CM REJ carries 148 bytes), so that no backend accepts more.
    if (private_data.size() > kMaxRejectPrivateData) return unexpected(Errc::private_data_too_long);
    return {};
}

}  // namespace

SimListener::~SimListener() { node_.remove_listener(this); }

bool SimListener::wildcard() const { return is_wildcard_host(address_.host); }

Expected<std::unique_ptr<Endpoint>, Errc> SimConnectRequest::accept(
    std::span<const std::byte> private_data, EndpointHandler& handler, QueueSizes queues) {
    if (answered_) return unexpected(Errc::invalid_argument);
    auto endpoint = accept_request(engine_, node_, request_, private_data, handler, queues);
    if (endpoint) answered_ = true;
    return endpoint;
}

Status<Errc> SimConnectRequest::reject(std::span<const std::byte> private_data) {
    if (answered_) return unexpected(Errc::invalid_argument);
    if (auto checked = check_reject_data(private_data); !checked) return checked;
    answered_ = true;
    reply_reject(engine_, request_, CmKind::reject, private_data);
    return {};
}

Expected<std::unique_ptr<DetachedConnectRequest>, Errc> SimConnectRequest::detach() {
    if (answered_) return unexpected(Errc::invalid_argument);
    answered_ = true;
    return std::unique_ptr<DetachedConnectRequest>(std::make_unique<SimDetachedRequest>(engine_, node_, request_));
}

SimDetachedRequest::SimDetachedRequest(Engine& engine, Node& node, const CmMessage& request)
    : engine_(engine), node_(node), incarnation_(node.incarnation()), request_(request) {}

SimDetachedRequest::~SimDetachedRequest() {
    if (!answered_ && !stale()) reply_reject(engine_, request_, CmKind::reject, {});
}

bool SimDetachedRequest::stale() const { return node_.crashed() || node_.incarnation() != incarnation_; }

Status<Errc> SimDetachedRequest::reject(std::span<const std::byte> private_data) {
    if (answered_) return unexpected(Errc::invalid_argument);
    if (auto checked = check_reject_data(private_data); !checked) return checked;
    answered_ = true;
    if (!stale()) reply_reject(engine_, request_, CmKind::reject, private_data);
    return {};
}

Expected<std::unique_ptr<Endpoint>, Errc> SimDetachedRequest::accept_on(Node& node,
                                                                        std::span<const std::byte> private_data,
                                                                        EndpointHandler& handler, QueueSizes queues) {
    if (answered_ || &node != &node_) return unexpected(Errc::invalid_argument);
    if (stale()) return unexpected(Errc::no_resources);
    auto endpoint = accept_request(engine_, node_, request_, private_data, handler, queues);
    if (endpoint) answered_ = true;
    return endpoint;
}

void reply_reject(Engine& engine, const CmMessage& request, CmKind kind,
                  std::span<const std::byte> private_data) {
    CmPool& pool = engine.cm_messages;
    const std::uint64_t index = pool.acquire();
    CmMessage& answer = pool.at(index);
    answer.kind = kind;
    answer.from = EndpointHandle{};
    answer.to = request.from;
    answer.sender = request.target;
    answer.target = request.sender;
    answer.link = request.link;
    answer.direction = static_cast<std::uint8_t>(1 - request.direction);
    answer.set_payload(private_data);
    send_cm(engine, index, nullptr);
}

void deliver_connect_request(Engine& engine, Node& node, std::uint64_t index) {
    const CmMessage& request = engine.cm_messages.at(index);
    if (node.take_injected_drop()) {
        engine.cm_messages.release(index);
        return;
    }
    SimListener* listener = nullptr;
    if (node.take_injected_reject()) {
        reply_reject(engine, request, CmKind::reject, {});
    } else if ((listener = node.find_listener(request.destination.host, request.destination.port))) {
        SimConnectRequest connect_request(engine, node, request);
        TraceEvent trace;
        trace.time = engine.now;
        trace.node = node.id();
        trace.kind = TraceKind::connect_request;
        trace.byte_len = request.private_length;
        engine.tracer.record(trace);
        listener->handler().on_connect_request(connect_request);
        if (!connect_request.answered() && !node.crashed()) reply_reject(engine, request, CmKind::reject, {});
    } else {
        reply_reject(engine, request, CmKind::no_listener, {});
    }
    engine.cm_messages.release(index);
}

}  // namespace ibnbd::fabric::sim
