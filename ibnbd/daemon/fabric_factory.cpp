#include "ibnbd/daemon/fabric_factory.hpp"

#include "fabric/ofi/ofi_fabric.hpp"
#include "fabric/verbs/verbs_fabric.hpp"
#include "ibnbd/daemon/pollables.hpp"

namespace ibnbd::daemon {

Status<std::string> check_fabric_choice(const std::string& kind, const std::string& provider) {
    if (kind == "ofi" && provider.starts_with("verbs")) {
        return unexpected("--fabric ofi --provider " + provider +
                          " cannot speak RTRS: libfabric's verbs provider takes at most 55 bytes of private data in a "
                          "connect request (it keeps one of the RDMA CM's 56 for its own header) and an RTRS connect "
                          "request is 56 bytes; use --fabric verbs (rdma-core) on InfiniBand or RoCE");
    }
    return {};
}

Expected<OpenedFabric, std::string> open_fabric(const std::string& kind, const std::string& provider,
                                                const std::string& address, const PendingBounds& pending) {
    if (auto usable = check_fabric_choice(kind, provider); !usable) return unexpected(usable.error());
    // The fabric is heap-allocated and owned by the result; the adapter keeps a reference to it.
    if (kind == "verbs") {
        fabric::verbs::VerbsConfig config;
        config.address = address;
        auto opened = fabric::verbs::VerbsFabric::create(config);
        if (!opened) {
            return unexpected(std::string("no usable RDMA device") + (address.empty() ? "" : " for " + address) +
                              " (" + std::string(fabric::to_string(opened.error())) +
                              "); check ibv_devinfo and that the address is on an RDMA interface");
        }
        auto pollable = std::make_unique<FabricPollable<fabric::verbs::VerbsFabric>>(**opened);
        return OpenedFabric{std::move(opened.value()), std::move(pollable)};
    }
    fabric::ofi::OfiConfig config;
    config.provider = provider;
    // Transmit completion: IBTRS never takes a local completion as proof that the peer has the
    // data (a request is done when the response arrives, and failover waits for the drain), so
    // it does not need the tcp provider's extra acknowledgement per operation (a third of the
    // round trip on loopback, bench/README.md).
    config.delivery_complete = false;
    config.pending_limit = pending.limit;
    config.pending_timeout = pending.timeout;
    auto opened = fabric::ofi::OfiFabric::create(config);
    if (!opened) {
        return unexpected("cannot open libfabric provider '" + provider + "' (" +
                          std::string(fabric::to_string(opened.error())) + "); see fi_info -l");
    }
    auto pollable = std::make_unique<FabricPollable<fabric::ofi::OfiFabric>>(**opened);
    return OpenedFabric{std::move(opened.value()), std::move(pollable)};
}

}  // namespace ibnbd::daemon
