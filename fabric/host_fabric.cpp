#include "fabric/host_fabric.hpp"

#include <chrono>

namespace ibnbd::fabric {

namespace {

std::uint64_t os_seed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) | device();
}

}  // namespace

Nanos monotonic_now() {
    const auto since_epoch = std::chrono::steady_clock::now().time_since_epoch();
    return static_cast<Nanos>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count());
}

HostFabric::HostFabric() : random_(os_seed()) {}

}  // namespace ibnbd::fabric
