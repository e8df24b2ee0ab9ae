#include "ibnbd/storage/uring/uring_device.hpp"

#include <cassert>
#include <utility>

#include "ibnbd/storage/uring/uring_backend.hpp"

namespace ibnbd::storage::uring {

UringDevice::UringDevice(UringBackend& backend, OpenStore store) : backend_(backend), store_(std::move(store)) {
    backend_.device_opened();
}

UringDevice::~UringDevice() {
    assert(inflight_ == 0);
    backend_.device_closed();
    close_store(store_);
}

Status<int> UringDevice::submit(const Request& request, CompletionHandler& handler, std::uint64_t cookie) {
    return backend_.submit(*this, request, handler, cookie);
}

int UringDevice::fd_for(std::uint64_t offset, std::uint64_t length, const std::byte* buffer) const {
    if (store_.direct_fd < 0) return store_.buffered_fd;
    const auto address = reinterpret_cast<std::uintptr_t>(buffer);
    const bool aligned = offset % store_.direct_offset_align == 0 && length % store_.direct_offset_align == 0 &&
                         address % store_.direct_memory_align == 0;
    return aligned ? store_.direct_fd : store_.buffered_fd;
}

}  // namespace ibnbd::storage::uring
