// A simulated host: the sim backend's fabric::Fabric.
//
// NAME
//     ibnbd::fabric::sim::Node - one node of a World, with one or more addresses.
//
// DESCRIPTION
//     Implements fabric.hpp with name() "sim". Everything the node does is an event of its World:
//     handlers run only from World::run*() / World::step(), never from inside a call made on the
//     node or its endpoints. poll() delivers nothing and returns 0.
//
//     now()              the world's virtual clock.
//     start_timer()      a world event at now() + delay; equal deadlines fire in start order;
//                        cancel_timer() works until the timer fires. Timers started while the node
//                        is crashed never fire.
//     random_u64()       the node's own seeded stream.
//     listen()           host must be one of the node's addresses, or "", "0.0.0.0" or "::" for
//                        all of them; port 0 picks a free port (>= 49152). Errors: address_invalid,
//                        address_in_use, backend_error (node crashed).
//     connect()          over the link between the source address and the destination's host;
//                        an empty source host picks the first of the node's addresses that has a
//                        link there; no such link or unknown host: unreachable. Errors:
//                        private_data_too_long (> 56), address_invalid (empty destination host, a
//                        source host that is not the node's), invalid_argument (a zero queue size),
//                        no_resources (node crashed).
//     register_memory()  Errors: invalid_argument (null data, size 0, access 0, unknown bits),
//                        registration_failed (injected, or node crashed).
//     supports_invalidation() true: sends with invalidate, local invalidation and type-2
//                        memory windows, modelled exactly (see memory.hpp).
//     allocate_window(), allocate_fabric_window() (supports_fabric_windows() true: type-1
//                        windows, node-wide) Errors: no_resources (node crashed). Unlimited
//                        otherwise. A crash frees every window; window objects user code still
//                        holds stay inert.
//
// FAULTS
//     crash()            silent death: endpoints, listeners, registrations and timers vanish with
//                        no callback on either side. Objects user code still holds become inert:
//                        posts fail with not_connected, disconnect() does nothing, destruction is
//                        safe and silent. Peers notice only when their own work times out.
//     restart()          the node is reachable again, empty; user code builds it up anew.
//     inject_cm_reject(n) the next n connect requests reaching the node are rejected (empty private
//                        data) without reaching a listener.
//     inject_cm_drop(n)  the next n connect requests reaching the node vanish; the active side gets
//                        unreachable after WorldConfig::cm_timeout.
//     fail_next_registrations(n) the next n register_memory() calls fail with registration_failed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fabric/fabric.hpp"
#include "fabric/sim/memory.hpp"
#include "fabric/sim/rng.hpp"

namespace ibnbd::fabric::sim {

class Engine;
class SimListener;

class Node final : public Fabric {
public:
    Node(Engine& engine, std::uint32_t id, std::string node_name, std::vector<std::string> addresses);
    ~Node() override;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // ---- fabric::Fabric ----
    std::string_view name() const override { return "sim"; }
    bool imm_consumes_recv() const override;
    Nanos now() const override;
    TimerId start_timer(Nanos delay, TimerHandler& handler, std::uint64_t cookie) override;
    bool cancel_timer(TimerId id) override;
    std::uint64_t random_u64() override { return random_.next(); }
    Expected<std::unique_ptr<Listener>, Errc> listen(const Address& address,
                                                     ListenerHandler& handler) override;
    Expected<std::unique_ptr<Endpoint>, Errc> connect(const Address& destination,
                                                      const Address& source,
                                                      std::span<const std::byte> private_data,
                                                      EndpointHandler& handler,
                                                      QueueSizes queues) override;
    // Only requests that reached this node, in this incarnation (no_resources after a crash).
    Expected<std::unique_ptr<Endpoint>, Errc> accept(DetachedConnectRequest& request,
                                                     std::span<const std::byte> private_data,
                                                     EndpointHandler& handler, QueueSizes queues) override;
    Expected<std::unique_ptr<MemoryRegion>, Errc> register_memory(std::byte* data, std::size_t size,
                                                                  std::uint32_t access) override;
    bool supports_invalidation() const override { return true; }
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_window() override;
    bool supports_fabric_windows() const override { return true; }
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_fabric_window() override;
    std::size_t poll(std::size_t budget) override;

    // ---- identity ----
    std::uint32_t id() const { return id_; }
    const std::string& node_name() const { return node_name_; }
    const std::vector<std::string>& addresses() const { return addresses_; }
    bool owns(std::string_view address) const;
    bool crashed() const { return crashed_; }

    // ---- faults ----
    void crash();
    void restart();
    void inject_cm_reject(std::uint32_t count);
    void inject_cm_drop(std::uint32_t count);
    void fail_next_registrations(std::uint32_t count);

    // ---- simulator internals ----
    std::uint64_t incarnation() const { return incarnation_; }
    MemoryRegistry& memory() { return memory_; }
    // The listener for a request to host:port (an exact address before a wildcard one).
    SimListener* find_listener(std::string_view host, std::uint16_t port) const;
    void remove_listener(const SimListener* listener);
    std::uint16_t ephemeral_port();
    bool take_injected_reject();
    bool take_injected_drop();

private:
    bool port_taken(std::string_view host, std::uint16_t port) const;

    Engine& engine_;
    std::uint32_t id_;
    std::string node_name_;
    std::vector<std::string> addresses_;
    Rng random_;
    MemoryRegistry memory_;
    std::vector<SimListener*> listeners_;
    std::uint64_t incarnation_ = 0;
    bool crashed_ = false;
    std::uint32_t cm_rejects_ = 0;
    std::uint32_t cm_drops_ = 0;
    std::uint32_t registration_failures_ = 0;
    std::uint16_t next_port_ = 49152;
};

}  // namespace ibnbd::fabric::sim
