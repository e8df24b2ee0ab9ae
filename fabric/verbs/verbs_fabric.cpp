#include "fabric/verbs/verbs_fabric.hpp"

#include <cassert>
#include <optional>

#include "fabric/verbs/verbs_address.hpp"
#include "fabric/verbs/verbs_connection.hpp"
#include "fabric/verbs/verbs_device.hpp"
#include "fabric/verbs/verbs_endpoint.hpp"
#include "fabric/verbs/verbs_listener.hpp"
#include "fabric/verbs/verbs_memory.hpp"

namespace ibnbd::fabric::verbs {

namespace {

// While polls deliver full budgets the event channels are looked at every this many polls.
constexpr unsigned kBusyEventCheckInterval = 16;

}  // namespace

Expected<std::unique_ptr<VerbsFabric>, Errc> VerbsFabric::create(const VerbsConfig& config) {
    auto device = RdmaDevice::open(config);
    if (!device) return unexpected(device.error());
    return std::unique_ptr<VerbsFabric>(new VerbsFabric(std::move(*device)));
}

VerbsFabric::VerbsFabric(std::unique_ptr<RdmaDevice> device) : device_(std::move(device)) {}

VerbsFabric::~VerbsFabric() = default;

int VerbsFabric::wait_fd() const {
    return device_->wait_fd();
}

int VerbsFabric::cm_fd() const {
    return device_->cm_channel()->fd;
}

int VerbsFabric::completion_fd() const {
    return device_->completion_channel()->fd;
}

std::string VerbsFabric::device_name() const {
    return device_->name();
}

VerbsStats VerbsFabric::stats() const {
    return device_->stats();
}

Expected<std::unique_ptr<Listener>, Errc> VerbsFabric::listen(const Address& address, ListenerHandler& handler) {
    auto listener = VerbsListener::create(*device_, address, handler);
    if (!listener) return unexpected(listener.error());
    return std::unique_ptr<Listener>(std::move(*listener));
}

Expected<std::unique_ptr<Endpoint>, Errc> VerbsFabric::connect(const Address& destination, const Address& source,
                                                               std::span<const std::byte> private_data,
                                                               EndpointHandler& handler, QueueSizes queues) {
    if (private_data.size() > kMaxConnectPrivateData) return unexpected(Errc::private_data_too_long);
    auto resolved_destination = resolve_address(destination);
    if (!resolved_destination) return unexpected(resolved_destination.error());
    std::optional<SocketAddress> resolved_source;
    if (!source.host.empty()) {
        auto resolved = resolve_address(source);
        if (!resolved) return unexpected(resolved.error());
        resolved_source = *resolved;
    }
    auto connection = Connection::connect(*device_, *resolved_destination,
                                          resolved_source ? &*resolved_source : nullptr, private_data, handler,
                                          queues);
    if (!connection) return unexpected(connection.error());
    return std::unique_ptr<Endpoint>(std::make_unique<VerbsEndpoint>(*device_, **connection));
}

Expected<std::unique_ptr<Endpoint>, Errc> VerbsFabric::accept(DetachedConnectRequest& request,
                                                              std::span<const std::byte> private_data,
                                                              EndpointHandler& handler, QueueSizes queues) {
    auto* detached = dynamic_cast<VerbsDetachedRequest*>(&request);
    if (detached == nullptr) return unexpected(Errc::invalid_argument);  // another backend's
    return detached->accept_on(*device_, private_data, handler, queues);
}

Expected<std::unique_ptr<MemoryRegion>, Errc> VerbsFabric::register_memory(std::byte* data, std::size_t size,
                                                                           std::uint32_t access) {
    auto region = VerbsMemoryRegion::create(*device_, data, size, access);
    if (!region) return unexpected(region.error());
    return std::unique_ptr<MemoryRegion>(std::move(*region));
}

bool VerbsFabric::supports_invalidation() const {
    return device_->windows_supported();
}

Expected<std::unique_ptr<MemoryWindow>, Errc> VerbsFabric::allocate_window() {
    auto window = VerbsMemoryWindow::create(*device_, false);
    if (!window) return unexpected(window.error());
    return std::unique_ptr<MemoryWindow>(std::move(*window));
}

bool VerbsFabric::supports_fabric_windows() const {
    return device_->type1_windows_supported();
}

Expected<std::unique_ptr<MemoryWindow>, Errc> VerbsFabric::allocate_fabric_window() {
    auto window = VerbsMemoryWindow::create(*device_, true);
    if (!window) return unexpected(window.error());
    return std::unique_ptr<MemoryWindow>(std::move(*window));
}

std::size_t VerbsFabric::poll(std::size_t budget) {
    assert(!polling_ && "poll() must not be called from inside a callback");
    polling_ = true;
    std::size_t delivered = fire_timers(budget);
    const bool check_events = !last_poll_full_ || ++busy_polls_ >= kBusyEventCheckInterval;
    if (check_events && delivered < budget) {
        busy_polls_ = 0;
        if (device_->events_pending()) {
            // The completion channel first: CQs that fired are re-armed when found empty below.
            device_->drain_completion_channel();
            delivered += device_->poll_cm(budget - delivered);
        }
    }
    if (delivered < budget) delivered += device_->poll_connections(budget - delivered);
    device_->reap();
    last_poll_full_ = delivered >= budget;
    polling_ = false;
    return delivered;
}

}  // namespace ibnbd::fabric::verbs
