// Opens the fabric a daemon asked for with --fabric, with its reactor adapter.
//   ofi:   libfabric with --provider (tcp here; verbs on RDMA hardware)
//   verbs: rdma-core on the RDMA device that owns `address` (InfiniBand, RoCE; not iWARP)
#pragma once

#include <memory>
#include <string>

#include "fabric/fabric.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::daemon {

struct OpenedFabric {
    std::unique_ptr<fabric::Fabric> fabric;
    std::unique_ptr<runtime::Pollable> pollable;
};

// Errors: a sentence saying what failed and what to check.
Expected<OpenedFabric, std::string> open_fabric(const std::string& kind, const std::string& provider,
                                                const std::string& address);

}  // namespace ibnbd::daemon
