#include "fabric/sim/node.hpp"

#include <algorithm>

#include "fabric/sim/cm.hpp"
#include "fabric/sim/engine.hpp"
#include "fabric/sim/listener.hpp"

namespace ibnbd::fabric::sim {
namespace {

constexpr std::uint32_t kAllAccess =
    access_local_write | access_remote_read | access_remote_write | access_window_bind;
constexpr std::uint16_t kFirstEphemeralPort = 49152;

bool is_wildcard_host(std::string_view host) {
    return host.empty() || host == "0.0.0.0" || host == "::";
}

}  // namespace

Node::Node(Engine& engine, std::uint32_t id, std::string node_name, std::vector<std::string> addresses)
    : engine_(engine),
      id_(id),
      node_name_(std::move(node_name)),
      addresses_(std::move(addresses)),
      random_(derive_stream(engine.seed, StreamPurpose::node_random, id)),
      memory_(derive_stream(engine.seed, StreamPurpose::memory_keys, id)) {}

// Listeners user code still holds must not reach back into a destroyed node.
Node::~Node() { listeners_.clear(); }

bool Node::imm_consumes_recv() const { return engine_.imm_consumes_recv(); }

Nanos Node::now() const { return engine_.now; }

TimerId Node::start_timer(Nanos delay, TimerHandler& handler, std::uint64_t cookie) {
    return engine_.start_timer(*this, delay, handler, cookie);
}

bool Node::cancel_timer(TimerId id) { return engine_.cancel_timer(id); }

std::size_t Node::poll(std::size_t /*budget*/) { return 0; }

bool Node::owns(std::string_view address) const {
    return std::find(addresses_.begin(), addresses_.end(), address) != addresses_.end();
}

Expected<std::unique_ptr<Listener>, Errc> Node::listen(const Address& address,
                                                       ListenerHandler& handler) {
    if (crashed_) return unexpected(Errc::backend_error);
    if (!is_wildcard_host(address.host) && !owns(address.host)) {
        return unexpected(Errc::address_invalid);
    }
    Address bound = address;
    if (bound.port == 0) {
        bound.port = ephemeral_port();
    } else if (port_taken(bound.host, bound.port)) {
        return unexpected(Errc::address_in_use);
    }
    auto listener = std::make_unique<SimListener>(*this, bound, handler);
    listeners_.push_back(listener.get());
    return std::unique_ptr<Listener>(std::move(listener));
}

Expected<std::unique_ptr<Endpoint>, Errc> Node::accept(DetachedConnectRequest& request,
                                                       std::span<const std::byte> private_data,
                                                       EndpointHandler& handler, QueueSizes queues) {
    auto* detached = dynamic_cast<SimDetachedRequest*>(&request);
    if (detached == nullptr) return unexpected(Errc::invalid_argument);
    return detached->accept_on(*this, private_data, handler, queues);
}

Expected<std::unique_ptr<Endpoint>, Errc> Node::connect(const Address& destination,
                                                        const Address& source,
                                                        std::span<const std::byte> private_data,
                                                        EndpointHandler& handler, QueueSizes queues) {
    return start_connect(engine_, *this, destination, source, private_data, handler, queues);
}

Expected<std::unique_ptr<MemoryRegion>, Errc> Node::register_memory(std::byte* data, std::size_t size,
                                                                    std::uint32_t access) {
    if (data == nullptr || size == 0 || access == 0 || (access & ~kAllAccess) != 0) {
        return unexpected(Errc::invalid_argument);
    }
    if (crashed_) return unexpected(Errc::registration_failed);
    if (registration_failures_ != 0) {
        --registration_failures_;
        return unexpected(Errc::registration_failed);
    }
    return std::unique_ptr<MemoryRegion>(std::make_unique<SimMemoryRegion>(memory_, data, size, access));
}

Expected<std::unique_ptr<MemoryWindow>, Errc> Node::allocate_window() {
    if (crashed_) return unexpected(Errc::no_resources);
    return std::unique_ptr<MemoryWindow>(std::make_unique<SimMemoryWindow>(memory_, false));
}

Expected<std::unique_ptr<MemoryWindow>, Errc> Node::allocate_fabric_window() {
    if (crashed_) return unexpected(Errc::no_resources);
    return std::unique_ptr<MemoryWindow>(std::make_unique<SimMemoryWindow>(memory_, true));
}

void Node::crash() {
    if (crashed_) return;
    crashed_ = true;
    ++incarnation_;
    memory_.clear();
    listeners_.clear();
    engine_.connections.for_each([this](Connection& connection) {
        if (connection.node == this) connection.state = ConnState::dead;
    });
    engine_.trace_fault(FaultKind::node_crash, id_, 0, 0);
}

void Node::restart() {
    if (!crashed_) return;
    crashed_ = false;
    ++incarnation_;  // timers started while crashed never fire
    engine_.trace_fault(FaultKind::node_restart, id_, 0, 0);
}

void Node::inject_cm_reject(std::uint32_t count) {
    cm_rejects_ = count;
    engine_.trace_fault(FaultKind::cm_reject, id_, 0, count);
}

void Node::inject_cm_drop(std::uint32_t count) {
    cm_drops_ = count;
    engine_.trace_fault(FaultKind::cm_drop, id_, 0, count);
}

void Node::fail_next_registrations(std::uint32_t count) {
    registration_failures_ = count;
    engine_.trace_fault(FaultKind::registration_fail, id_, 0, count);
}

SimListener* Node::find_listener(std::string_view host, std::uint16_t port) const {
    SimListener* wildcard = nullptr;
    for (SimListener* listener : listeners_) {
        if (listener->address().port != port) continue;
        if (listener->address().host == host) return listener;
        if (listener->wildcard() && wildcard == nullptr) wildcard = listener;
    }
    return wildcard;
}

void Node::remove_listener(const SimListener* listener) {
    std::erase(listeners_, listener);
}

bool Node::port_taken(std::string_view host, std::uint16_t port) const {
    return std::any_of(listeners_.begin(), listeners_.end(), [&](const SimListener* listener) {
        if (listener->address().port != port) return false;
        return listener->address().host == host || listener->wildcard() || is_wildcard_host(host);
    });
}

std::uint16_t Node::ephemeral_port() {
    for (;;) {
        const std::uint16_t port = next_port_;
        next_port_ = next_port_ == 65535 ? kFirstEphemeralPort : static_cast<std::uint16_t>(next_port_ + 1);
        if (!port_taken("", port)) return port;
    }
}

bool Node::take_injected_reject() {
    if (cm_rejects_ == 0) return false;
    --cm_rejects_;
    return true;
}

bool Node::take_injected_drop() {
    if (cm_drops_ == 0) return false;
    --cm_drops_;
    return true;
}

}  // namespace ibnbd::fabric::sim
