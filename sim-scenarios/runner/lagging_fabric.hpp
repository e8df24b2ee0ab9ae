// A fabric::Fabric decorator for client nodes that models how long a real connection takes to
// die: a local disconnect() takes effect only `teardown_delay` later. Until then the connection
// stays up: work already posted keeps flowing and lands at the peer, as packets already on a real
// fabric's wire do after the sender gave up on them. Then the inner disconnect flushes what is
// left and reports disconnected as usual.
//
// With it, a client that re-issues a failed path's requests before that path has drained (the
// bug ClientTestHooks::failover_without_drain reproduces) lets an old write, delayed on a
// clogged link, land after its re-issue and after newer writes: the data oracle sees it.
// Everything else is forwarded unchanged (handlers get the inner endpoint's callbacks directly).
#pragma once

#include <memory>

#include "fabric/forwarding_fabric.hpp"

namespace ibnbd::scenario {

class LaggingFabric final : public fabric::ForwardingFabric {
public:
    LaggingFabric(fabric::Fabric& inner, fabric::Nanos teardown_delay) : ForwardingFabric(inner), delay_(teardown_delay) {}

    Expected<std::unique_ptr<fabric::Endpoint>, fabric::Errc> connect(const fabric::Address& destination,
                                                                      const fabric::Address& source,
                                                                      std::span<const std::byte> private_data,
                                                                      fabric::EndpointHandler& handler,
                                                                      fabric::QueueSizes queues) override;

private:
    fabric::Nanos delay_;
};

}  // namespace ibnbd::scenario
