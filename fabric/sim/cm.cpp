#include "fabric/sim/cm.hpp"

#include <algorithm>
#include <array>
#include <cassert>

#include "fabric/sim/endpoint.hpp"
#include "fabric/sim/engine.hpp"
#include "fabric/sim/lifecycle.hpp"
#include "fabric/sim/listener.hpp"
#include "fabric/sim/node.hpp"

namespace ibnbd::fabric::sim {
namespace {

std::uint64_t new_message(Engine& engine, CmKind kind, Link* link, std::uint8_t direction,
                          Node* sender, Node* target) {
    const std::uint64_t index = engine.cm_messages.acquire();
    CmMessage& message = engine.cm_messages.at(index);
    message.kind = kind;
    message.from = EndpointHandle{};
    message.to = EndpointHandle{};
    message.link = link;
    message.direction = direction;
    message.sender = sender;
    message.target = target;
    message.private_length = 0;
    return index;
}

// The first of the node's addresses with a link to `destination`, or "".
std::string route_from(Engine& engine, const Node& node, const std::string& destination) {
    for (const std::string& address : node.addresses()) {
        if (engine.links.find(address, destination) != nullptr) return address;
    }
    return {};
}

void on_reply(Engine& engine, std::uint64_t index) {
    CmMessage& message = engine.cm_messages.at(index);
    Connection* active = engine.connections.get(message.to);
    if (active == nullptr || active->state != ConnState::connecting) {
        // Nobody waits for this reply any more: tell the accepting side to give up.
        const std::uint64_t abort = new_message(engine, CmKind::disconnect, message.link,
                                                static_cast<std::uint8_t>(1 - message.direction),
                                                message.target, message.sender);
        engine.cm_messages.at(abort).to = message.from;
        engine.cm_messages.release(index);
        send_cm(engine, abort, nullptr);
        return;
    }
    active->peer = message.from;
    const std::uint64_t ready = new_message(engine, CmKind::ready, active->link, active->tx,
                                            active->node, active->peer_node);
    engine.cm_messages.at(ready).from = active->self;
    engine.cm_messages.at(ready).to = active->peer;
    send_cm(engine, ready, &active->last_tx_arrival);

    std::array<std::byte, kMaxAcceptPrivateData> private_data{};
    const std::size_t length = message.private_length;
    std::copy_n(message.private_data.begin(), length, private_data.begin());
    engine.cm_messages.release(index);
    establish(engine, *active, std::span<const std::byte>(private_data.data(), length));
}

// Ends a connection still waiting for the CM with `final_event` (reject keeps its message for
// the private data).
void on_refusal(Engine& engine, std::uint64_t index, CmEventType final_event) {
    const CmMessage& message = engine.cm_messages.at(index);
    Connection* active = engine.connections.get(message.to);
    if (active == nullptr || active->state != ConnState::connecting) {
        engine.cm_messages.release(index);
        return;
    }
    const bool keep = final_event == CmEventType::rejected;
    if (!keep) engine.cm_messages.release(index);
    close_connection(engine, *active, final_event, false, engine.now, keep ? index : kNoMessage);
}

void on_ready(Engine& engine, std::uint64_t index) {
    const EndpointHandle to = engine.cm_messages.at(index).to;
    engine.cm_messages.release(index);
    Connection* passive = engine.connections.get(to);
    if (passive != nullptr && passive->state == ConnState::accepted) establish(engine, *passive, {});
}

void on_disconnect_request(Engine& engine, std::uint64_t index) {
    const EndpointHandle to = engine.cm_messages.at(index).to;
    engine.cm_messages.release(index);
    Connection* connection = engine.connections.get(to);
    if (connection == nullptr) return;
    connection->peer_closed = true;
    if (connection->state == ConnState::connected || connection->state == ConnState::accepted) {
        close_connection(engine, *connection, CmEventType::disconnected, false, engine.now, kNoMessage);
    }
}

}  // namespace

void CmMessage::set_payload(std::span<const std::byte> bytes) {
    assert(bytes.size() <= private_data.size());
    std::copy(bytes.begin(), bytes.end(), private_data.begin());
    private_length = static_cast<std::uint8_t>(bytes.size());
}

std::uint64_t CmPool::acquire() {
    if (!free_.empty()) {
        const std::uint64_t index = free_.back();
        free_.pop_back();
        return index;
    }
    messages_.emplace_back();
    return messages_.size() - 1;
}

Status<Errc> check_queue_sizes(QueueSizes queues) {
    if (queues.max_send_wr == 0 || queues.max_recv_wr == 0) return unexpected(Errc::invalid_argument);
    if (queues.max_send_wr > kMaxQueueSize || queues.max_recv_wr > kMaxQueueSize) {
        return unexpected(Errc::no_resources);
    }
    return {};
}

Expected<std::unique_ptr<Endpoint>, Errc> start_connect(Engine& engine, Node& node,
                                                        const Address& destination,
                                                        const Address& source,
                                                        std::span<const std::byte> private_data,
                                                        EndpointHandler& handler, QueueSizes queues) {
    if (private_data.size() > kMaxConnectPrivateData) return unexpected(Errc::private_data_too_long);
    if (destination.host.empty()) return unexpected(Errc::address_invalid);
    if (!source.host.empty() && !node.owns(source.host)) return unexpected(Errc::address_invalid);
    if (auto sizes = check_queue_sizes(queues); !sizes) return unexpected(sizes.error());
    if (node.crashed()) return unexpected(Errc::no_resources);

    std::string local_host = source.host.empty() ? route_from(engine, node, destination.host) : source.host;
    Link* link = local_host.empty() ? nullptr : engine.links.find(local_host, destination.host);
    if (local_host.empty() && !node.addresses().empty()) local_host = node.addresses().front();

    Connection& connection = engine.connections.allocate(queues);
    connection.node = &node;
    connection.handler = &handler;
    connection.state = ConnState::connecting;
    connection.local_address = Address{local_host, source.port != 0 ? source.port : node.ephemeral_port()};
    connection.peer_address = destination;
    connection.peer_node = engine.owner_of(destination.host);
    auto endpoint = std::make_unique<SimEndpoint>(engine, connection.self);

    if (link == nullptr || connection.peer_node == nullptr) {
        close_connection(engine, connection, CmEventType::unreachable, false,
                         engine.now + engine.cm_delay, kNoMessage);
        return std::unique_ptr<Endpoint>(std::move(endpoint));
    }
    connection.link = link;
    connection.tx = link->direction_from(local_host);
    const std::uint64_t index = new_message(engine, CmKind::request, link, connection.tx, &node,
                                            connection.peer_node);
    CmMessage& request = engine.cm_messages.at(index);
    request.from = connection.self;
    request.source = connection.local_address;
    request.destination = destination;
    request.set_payload(private_data);
    send_cm(engine, index, &connection.last_tx_arrival);
    engine.schedule(EventKind::cm_timeout, connection, engine.now + engine.config.cm_timeout, 0);
    return std::unique_ptr<Endpoint>(std::move(endpoint));
}

void send_cm(Engine& engine, std::uint64_t index, Nanos* order) {
    const CmMessage& message = engine.cm_messages.at(index);
    Nanos arrival = message.link->propagate(message.direction, engine.now) + engine.cm_delay;
    if (order != nullptr) {
        arrival = std::max(arrival, *order);
        *order = arrival;
    }
    engine.queue.push(Event::make(arrival, EventKind::cm_message, 0, 0, index));
}

void send_disconnect_request(Engine& engine, Connection& connection) {
    if (connection.peer_told || !connection.peer.valid() || connection.link == nullptr) return;
    connection.peer_told = true;
    const std::uint64_t index = new_message(engine, CmKind::disconnect, connection.link, connection.tx,
                                            connection.node, connection.peer_node);
    engine.cm_messages.at(index).from = connection.self;
    engine.cm_messages.at(index).to = connection.peer;
    send_cm(engine, index, &connection.last_tx_arrival);
}

void on_cm_message(Engine& engine, const Event& event) {
    const std::uint64_t index = event.value;
    const CmMessage& message = engine.cm_messages.at(index);
    const bool lost = !message.link->direction(message.direction).up || message.target->crashed();
    if (lost) {
        engine.cm_messages.release(index);
        return;
    }
    switch (message.kind) {
        case CmKind::request: deliver_connect_request(engine, *message.target, index); break;
        case CmKind::reply: on_reply(engine, index); break;
        case CmKind::reject: on_refusal(engine, index, CmEventType::rejected); break;
        case CmKind::no_listener: on_refusal(engine, index, CmEventType::unreachable); break;
        case CmKind::ready: on_ready(engine, index); break;
        case CmKind::disconnect: on_disconnect_request(engine, index); break;
    }
}

void on_cm_timeout(Engine& engine, const Event& event) {
    Connection* connection = engine.connections.get({event.slot, event.generation});
    if (connection == nullptr) return;
    if (connection->state == ConnState::connecting) {
        close_connection(engine, *connection, CmEventType::unreachable, false, engine.now, kNoMessage);
    } else if (connection->state == ConnState::accepted) {
        close_connection(engine, *connection, CmEventType::disconnected, true, engine.now, kNoMessage);
    }
}

}  // namespace ibnbd::fabric::sim
