// Receives without buffers, which only absorb immediate data (IMM-acknowledged IO, heartbeats).
#pragma once

#include <cerrno>
#include <cstdint>

#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

// Posts `count` of them on `endpoint`, each with `context`. Only where a write-with-immediate
// consumes a receive (verbs): on a fabric where it does not (libfabric tcp) they would just be
// held forever, so nothing is posted. Errors: -EIO (a post failed).
inline Status<int> post_empty_recvs(const fabric::Fabric& fabric, fabric::Endpoint& endpoint, std::uint64_t context,
                                    std::uint32_t count) {
    if (!fabric.imm_consumes_recv()) return {};
    for (std::uint32_t i = 0; i < count; ++i) {
        if (!endpoint.post_recv(context, {})) return unexpected(-EIO);
    }
    return {};
}

}  // namespace ibnbd::ibtrs
