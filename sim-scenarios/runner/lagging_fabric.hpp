// A fabric::Fabric decorator for client nodes that models how long a real connection takes to
// die: a local disconnect() takes effect only `teardown_delay` later. Until then the connection
// stays up: work already posted keeps flowing and lands at the peer, as packets already on a real
// fabric's wire do after the sender gave up on them. Then the inner disconnect flushes what is
// left and reports disconnected as usual.
//
// With it, a client that re-issues a failed path's requests before that path has drained (the
// bug ClientConfig::unsafe_failover_without_drain reproduces) lets an old write, delayed on a
// clogged link, land after its re-issue and after newer writes: the data oracle sees it.
// Everything else is forwarded unchanged (handlers get the inner endpoint's callbacks directly).
#pragma once

#include <memory>

#include "fabric/fabric.hpp"

namespace ibnbd::scenario {

class LaggingFabric final : public fabric::Fabric {
public:
    LaggingFabric(fabric::Fabric& inner, fabric::Nanos teardown_delay) : inner_(inner), delay_(teardown_delay) {}

    std::string_view name() const override { return inner_.name(); }
    bool imm_consumes_recv() const override { return inner_.imm_consumes_recv(); }
    fabric::Nanos now() const override { return inner_.now(); }
    fabric::TimerId start_timer(fabric::Nanos delay, fabric::TimerHandler& handler, std::uint64_t cookie) override {
        return inner_.start_timer(delay, handler, cookie);
    }
    bool cancel_timer(fabric::TimerId id) override { return inner_.cancel_timer(id); }
    std::uint64_t random_u64() override { return inner_.random_u64(); }
    Expected<std::unique_ptr<fabric::Listener>, fabric::Errc> listen(const fabric::Address& address,
                                                                     fabric::ListenerHandler& handler) override {
        return inner_.listen(address, handler);
    }
    Expected<std::unique_ptr<fabric::Endpoint>, fabric::Errc> connect(const fabric::Address& destination,
                                                                      const fabric::Address& source,
                                                                      std::span<const std::byte> private_data,
                                                                      fabric::EndpointHandler& handler,
                                                                      fabric::QueueSizes queues) override;
    Expected<std::unique_ptr<fabric::MemoryRegion>, fabric::Errc> register_memory(std::byte* data, std::size_t size,
                                                                                  std::uint32_t access) override {
        return inner_.register_memory(data, size, access);
    }
    std::size_t poll(std::size_t budget) override { return inner_.poll(budget); }

private:
    fabric::Fabric& inner_;
    fabric::Nanos delay_;
};

}  // namespace ibnbd::scenario
