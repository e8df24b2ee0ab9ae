// A file or block device open on an UringBackend (see uring_backend.hpp for the operations).
#pragma once

#include <cstdint>

#include "ibnbd/storage/device.hpp"
#include "ibnbd/storage/uring/open_store.hpp"

namespace ibnbd::storage::uring {

class UringBackend;

class UringDevice final : public Device {
public:
    // Takes the descriptors of `store`; counts itself on the backend, which must outlive it.
    UringDevice(UringBackend& backend, OpenStore store);
    // Asserts that no operation is in flight (the kernel would still use the buffers).
    ~UringDevice() override;
    UringDevice(const UringDevice&) = delete;
    UringDevice& operator=(const UringDevice&) = delete;

    const Geometry& geometry() const override { return store_.geometry; }
    Identity identity() const override { return store_.identity; }
    Status<int> submit(const Request& request, CompletionHandler& handler, std::uint64_t cookie) override;
    std::uint32_t inflight() const override { return inflight_; }

    bool block_device() const { return store_.block_device; }
    bool has_direct() const { return store_.direct_fd >= 0; }
    int buffered_fd() const { return store_.buffered_fd; }
    // The O_DIRECT descriptor if this range and buffer suit it, else the buffered one.
    int fd_for(std::uint64_t offset, std::uint64_t length, const std::byte* buffer) const;
    // Its backend counts the operations it started and finished for this device.
    void operation_started() { ++inflight_; }
    void operation_finished() { --inflight_; }

private:
    UringBackend& backend_;
    OpenStore store_;
    std::uint32_t inflight_ = 0;
};

}  // namespace ibnbd::storage::uring
