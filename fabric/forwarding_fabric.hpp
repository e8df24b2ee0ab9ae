// A Fabric that hands every call to another one: the base of decorators that change a few calls
// (the scenario runner's LaggingFabric, the tests' per-shard views) and forward the rest.
#pragma once

#include <memory>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric {

class ForwardingFabric : public Fabric {
public:
    explicit ForwardingFabric(Fabric& inner) : inner_(inner) {}

    std::string_view name() const override { return inner_.name(); }
    bool imm_consumes_recv() const override { return inner_.imm_consumes_recv(); }
    Nanos now() const override { return inner_.now(); }
    TimerId start_timer(Nanos delay, TimerHandler& handler, std::uint64_t cookie) override {
        return inner_.start_timer(delay, handler, cookie);
    }
    bool cancel_timer(TimerId id) override { return inner_.cancel_timer(id); }
    std::uint64_t random_u64() override { return inner_.random_u64(); }
    Expected<std::unique_ptr<Listener>, Errc> listen(const Address& address, ListenerHandler& handler) override {
        return inner_.listen(address, handler);
    }
    Expected<std::unique_ptr<Endpoint>, Errc> connect(const Address& destination, const Address& source,
                                                      std::span<const std::byte> private_data,
                                                      EndpointHandler& handler, QueueSizes queues) override {
        return inner_.connect(destination, source, private_data, handler, queues);
    }
    Expected<std::unique_ptr<Endpoint>, Errc> accept(DetachedConnectRequest& request,
                                                     std::span<const std::byte> private_data,
                                                     EndpointHandler& handler, QueueSizes queues) override {
        return inner_.accept(request, private_data, handler, queues);
    }
    Expected<std::unique_ptr<MemoryRegion>, Errc> register_memory(std::byte* data, std::size_t size,
                                                                  std::uint32_t access) override {
        return inner_.register_memory(data, size, access);
    }
    bool supports_invalidation() const override { return inner_.supports_invalidation(); }
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_window() override { return inner_.allocate_window(); }
    bool supports_fabric_windows() const override { return inner_.supports_fabric_windows(); }
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_fabric_window() override {
        return inner_.allocate_fabric_window();
    }
    std::size_t poll(std::size_t budget) override { return inner_.poll(budget); }

protected:
    Fabric& inner_;
};

}  // namespace ibnbd::fabric
