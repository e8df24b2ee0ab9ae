// Listeners and the connect requests they are shown (simulator backend).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "fabric/fabric.hpp"
#include "fabric/sim/cm.hpp"

namespace ibnbd::fabric::sim {

class Engine;
class Node;

class SimListener final : public Listener {
public:
    SimListener(Node& node, Address address, ListenerHandler& handler)
        : node_(node), address_(std::move(address)), handler_(handler) {}
    ~SimListener() override;
    SimListener(const SimListener&) = delete;
    SimListener& operator=(const SimListener&) = delete;

    const Address& address() const override { return address_; }
    ListenerHandler& handler() const { return handler_; }
    // Listens on every address of its node.
    bool wildcard() const;

private:
    Node& node_;
    Address address_;
    ListenerHandler& handler_;
};

// The request a listener sees; valid only during on_connect_request().
class SimConnectRequest final : public ConnectRequest {
public:
    SimConnectRequest(Engine& engine, Node& node, const CmMessage& request)
        : engine_(engine), node_(node), request_(request) {}

    std::span<const std::byte> private_data() const override { return request_.payload(); }
    const Address& peer_address() const override { return request_.source; }
    const Address& local_address() const override { return request_.destination; }
    // Errors: invalid_argument (already answered, a zero queue size), private_data_too_long
    // (> 196 bytes), no_resources (the node crashed meanwhile).
    Expected<std::unique_ptr<Endpoint>, Errc> accept(std::span<const std::byte> private_data,
                                                     EndpointHandler& handler,
                                                     QueueSizes queues) override;
    // Errors: invalid_argument (already answered), private_data_too_long (> 196 bytes).
    Status<Errc> reject(std::span<const std::byte> private_data) override;
    // Errors: invalid_argument (already answered).
    Expected<std::unique_ptr<DetachedConnectRequest>, Errc> detach() override;
    bool answered() const { return answered_; }

private:
    Engine& engine_;
    Node& node_;
    const CmMessage& request_;
    bool answered_ = false;
};

// A request taken out of the callback: a copy of the CM message. It is accepted only by the node
// it reached, in the incarnation it reached (after a crash the client has long given up).
class SimDetachedRequest final : public DetachedConnectRequest {
public:
    SimDetachedRequest(Engine& engine, Node& node, const CmMessage& request);
    ~SimDetachedRequest() override;

    std::span<const std::byte> private_data() const override { return request_.payload(); }
    const Address& peer_address() const override { return request_.source; }
    const Address& local_address() const override { return request_.destination; }
    bool answered() const override { return answered_; }
    Status<Errc> reject(std::span<const std::byte> private_data) override;
    // Node::accept() of a detached request; errors as SimConnectRequest::accept(), and
    // invalid_argument when `node` is not the node the request reached.
    Expected<std::unique_ptr<Endpoint>, Errc> accept_on(Node& node, std::span<const std::byte> private_data,
                                                        EndpointHandler& handler, QueueSizes queues);

private:
    bool stale() const;

    Engine& engine_;
    Node& node_;
    const std::uint64_t incarnation_;
    const CmMessage request_;
    bool answered_ = false;
};

// Shows a connect request that reached `node` to its listener, or answers it on the fabric's
// behalf (injected drop or reject, no listener). Consumes message `index`.
void deliver_connect_request(Engine& engine, Node& node, std::uint64_t index);
// Sends a reject of `request` with `private_data` back to the requester.
void reply_reject(Engine& engine, const CmMessage& request, CmKind kind,
                  std::span<const std::byte> private_data);

}  // namespace ibnbd::fabric::sim
