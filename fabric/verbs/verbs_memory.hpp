// A memory region registered with the fabric's protection domain (ibv_reg_mr). See "MEMORY
// REGISTRATION" in verbs_fabric.hpp.
#pragma once

#include <cstdint>
#include <memory>

#include <infiniband/verbs.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::verbs {

class Device;

class VerbsMemoryRegion final : public MemoryRegion {
public:
    // Errors: invalid_argument (null data, size 0, access 0 or unknown bits), registration_failed.
    static Expected<std::unique_ptr<VerbsMemoryRegion>, Errc> create(Device& device, std::byte* data,
                                                                     std::size_t size, std::uint32_t access);
    ~VerbsMemoryRegion() override;

    std::byte* data() const override { return data_; }
    std::size_t size() const override { return size_; }
    std::uint32_t access() const override { return access_; }
    RemoteKey remote_key() const override {
        return RemoteKey{reinterpret_cast<std::uintptr_t>(data_), mr_->rkey};
    }
    std::uint32_t lkey() const { return mr_->lkey; }
    const Device& device() const { return device_; }

private:
    VerbsMemoryRegion(Device& device, std::byte* data, std::size_t size, std::uint32_t access, ibv_mr* mr);

    Device& device_;
    std::byte* data_;
    std::size_t size_;
    std::uint32_t access_;
    ibv_mr* mr_;
};

}  // namespace ibnbd::fabric::verbs
