// Opens the fabric a daemon asked for with --fabric, with its reactor adapter.
//   ofi:   libfabric with --provider (tcp here; verbs on RDMA hardware)
//   verbs: rdma-core on the RDMA device that owns `address` (InfiniBand, RoCE; not iWARP)
#pragma once

#include <memory>
#include <string>

#include "fabric/fabric.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::daemon {

// Connections a listener accepted that have not sent their connect request yet (libfabric tcp
// keeps them without limits of its own: fabric/ofi/ofi_fabric.hpp, PENDING CONNECTIONS).
// 0 turns a bound off. Ignored by verbs, where the kernel's rdma_cm has them.
struct PendingBounds {
    std::size_t limit = 256;
    fabric::Nanos timeout = 10'000'000'000;
};

struct OpenedFabric {
    std::unique_ptr<fabric::Fabric> fabric;
    std::unique_ptr<runtime::Pollable> pollable;
};

// Whether --fabric `kind` --provider `provider` can carry RTRS at all; daemons check it before
// anything else. Refused: libfabric's verbs provider (any "verbs..." provider name). It keeps one
// byte of the CM's 56 bytes of connect private data for a header of its own, so it takes at most
// 55 (VERBS_CM_DATA_SIZE) and refuses RTRS's 56-byte connect request; and that header would
// shift every byte a kernel peer sends or reads. Use --fabric verbs (rdma-core) instead.
// Errors: a sentence saying so and what to use.
Status<std::string> check_fabric_choice(const std::string& kind, const std::string& provider);

// Errors: a sentence saying what failed and what to check (check_fabric_choice's too).
Expected<OpenedFabric, std::string> open_fabric(const std::string& kind, const std::string& provider,
                                                const std::string& address, const PendingBounds& pending = {});

}  // namespace ibnbd::daemon
