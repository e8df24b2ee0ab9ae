#include "fabric/ofi/ofi_fabric.hpp"

#include <algorithm>
#include <optional>

#include "fabric/ofi/ofi_address.hpp"
#include "fabric/ofi/ofi_detached_request.hpp"
#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_endpoint.hpp"
#include "fabric/ofi/ofi_listener.hpp"
#include "fabric/ofi/ofi_memory.hpp"

namespace ibnbd::fabric::ofi {

Expected<std::unique_ptr<OfiFabric>, Errc> OfiFabric::create(const OfiConfig& config) {
    auto domain = Domain::open(config);
    if (!domain) return unexpected(domain.error());
    std::string name = "ofi:" + (*domain)->traits().provider;
    return std::unique_ptr<OfiFabric>(new OfiFabric(std::move(*domain), std::move(name)));
}

OfiFabric::OfiFabric(std::unique_ptr<Domain> domain, std::string name)
    : domain_(std::move(domain)), name_(std::move(name)) {}

OfiFabric::~OfiFabric() {
    if (sweep_timer_ != 0) cancel_timer(sweep_timer_);
}

bool OfiFabric::imm_consumes_recv() const {
    return domain_->traits().imm_consumes_recv;
}

Expected<std::unique_ptr<Listener>, Errc> OfiFabric::listen(const Address& address,
                                                            ListenerHandler& handler) {
    auto listener = OfiListener::create(*domain_, address, handler);
    if (!listener) return unexpected(listener.error());
    if (sweep_timer_ == 0 && domain_->sweeps()) arm_sweep(0);
    return std::unique_ptr<Listener>(std::move(*listener));
}

void OfiFabric::arm_sweep(Nanos delay) {
    sweep_timer_ = start_timer(delay, *this, 0);
}

void OfiFabric::on_timer(std::uint64_t) {
    sweep_timer_ = 0;
    if (!domain_->sweeps()) return;  // the last listener is gone; listen() starts again
    const std::size_t waiting = domain_->sweep_pending(now());
    constexpr Nanos kShortest = 100'000'000;
    constexpr Nanos kLongest = 1'000'000'000;
    const PendingSweeper& sweeper = *domain_->sweeper();
    Nanos period = sweeper.timeout() != 0 ? std::clamp(sweeper.timeout() / 4, kShortest, kLongest) : kLongest;
    // Filling up: look again soon, so that a flood stays near the limit.
    if (sweeper.limit() != 0 && 2 * waiting >= sweeper.limit()) period = kShortest;
    arm_sweep(period);
}

Expected<std::unique_ptr<Endpoint>, Errc> OfiFabric::connect(const Address& destination,
                                                             const Address& source,
                                                             std::span<const std::byte> private_data,
                                                             EndpointHandler& handler,
                                                             QueueSizes queues) {
    if (private_data.size() > kMaxConnectPrivateData) return unexpected(Errc::private_data_too_long);
    auto resolved_destination = resolve_address(destination);
    if (!resolved_destination) return unexpected(resolved_destination.error());
    std::optional<SocketAddress> resolved_source;
    if (!source.host.empty()) {
        auto resolved = resolve_address(source);
        if (!resolved) return unexpected(resolved.error());
        resolved_source = *resolved;
    }
    auto endpoint = OfiEndpoint::connect(*domain_, *resolved_destination,
                                         resolved_source ? &*resolved_source : nullptr, private_data,
                                         handler, queues);
    if (!endpoint) return unexpected(endpoint.error());
    return std::unique_ptr<Endpoint>(std::move(*endpoint));
}

Expected<std::unique_ptr<Endpoint>, Errc> OfiFabric::accept(DetachedConnectRequest& request,
                                                            std::span<const std::byte> private_data,
                                                            EndpointHandler& handler,
                                                            QueueSizes queues) {
    auto* detached = dynamic_cast<OfiDetachedRequest*>(&request);
    if (detached == nullptr) return unexpected(Errc::invalid_argument);  // another backend's
    return detached->accept_on(*domain_, private_data, handler, queues);
}

Expected<std::unique_ptr<MemoryRegion>, Errc> OfiFabric::register_memory(std::byte* data, std::size_t size,
                                                                         std::uint32_t access) {
    if (access & access_window_bind) return unexpected(Errc::not_supported);  // see KEY INVALIDATION
    auto region = OfiMemoryRegion::create(*domain_, data, size, access);
    if (!region) return unexpected(region.error());
    return std::unique_ptr<MemoryRegion>(std::move(*region));
}

Expected<std::unique_ptr<MemoryWindow>, Errc> OfiFabric::allocate_window() {
    return unexpected(Errc::not_supported);
}

int OfiFabric::wait_fd() const { return domain_->wait_fd(); }

bool OfiFabric::prepare_sleep() { return domain_->prepare_sleep(); }

std::size_t OfiFabric::poll(std::size_t budget) {
    std::size_t delivered = fire_timers(budget);
    if (delivered < budget) delivered += domain_->poll_cm(budget - delivered);
    if (delivered < budget) delivered += domain_->poll_endpoints(budget - delivered);
    return delivered;
}

}  // namespace ibnbd::fabric::ofi
