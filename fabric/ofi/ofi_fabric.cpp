#include "fabric/ofi/ofi_fabric.hpp"

#include <chrono>
#include <optional>
#include <random>

#include "fabric/ofi/ofi_address.hpp"
#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_endpoint.hpp"
#include "fabric/ofi/ofi_listener.hpp"
#include "fabric/ofi/ofi_memory.hpp"

namespace ibnbd::fabric::ofi {

namespace {

std::uint64_t os_seed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) | device();
}

}  // namespace

Expected<std::unique_ptr<OfiFabric>, Errc> OfiFabric::create(const OfiConfig& config) {
    auto domain = Domain::open(config);
    if (!domain) return unexpected(domain.error());
    std::string name = "ofi:" + (*domain)->traits().provider;
    return std::unique_ptr<OfiFabric>(new OfiFabric(std::move(*domain), std::move(name)));
}

OfiFabric::OfiFabric(std::unique_ptr<Domain> domain, std::string name)
    : domain_(std::move(domain)), name_(std::move(name)), random_(os_seed()) {}

OfiFabric::~OfiFabric() = default;

bool OfiFabric::imm_consumes_recv() const {
    return domain_->traits().imm_consumes_recv;
}

Nanos OfiFabric::now() const {
    const auto since_epoch = std::chrono::steady_clock::now().time_since_epoch();
    return static_cast<Nanos>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count());
}

TimerId OfiFabric::start_timer(Nanos delay, TimerHandler& handler, std::uint64_t cookie) {
    return timers_.start(now() + delay, handler, cookie);
}

bool OfiFabric::cancel_timer(TimerId id) {
    return timers_.cancel(id);
}

std::uint64_t OfiFabric::random_u64() {
    return random_();
}

Nanos OfiFabric::next_timer_deadline() {
    return timers_.next_deadline();
}

Expected<std::unique_ptr<Listener>, Errc> OfiFabric::listen(const Address& address,
                                                            ListenerHandler& handler) {
    auto listener = OfiListener::create(*domain_, address, handler);
    if (!listener) return unexpected(listener.error());
    return std::unique_ptr<Listener>(std::move(*listener));
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

Expected<std::unique_ptr<MemoryRegion>, Errc> OfiFabric::register_memory(std::byte* data, std::size_t size,
                                                                         std::uint32_t access) {
    auto region = OfiMemoryRegion::create(*domain_, data, size, access);
    if (!region) return unexpected(region.error());
    return std::unique_ptr<MemoryRegion>(std::move(*region));
}

std::size_t OfiFabric::poll(std::size_t budget) {
    std::size_t delivered = timers_.fire_expired(now(), budget);
    if (delivered < budget) delivered += domain_->poll_cm(budget - delivered);
    if (delivered < budget) delivered += domain_->poll_endpoints(budget - delivered);
    return delivered;
}

}  // namespace ibnbd::fabric::ofi
