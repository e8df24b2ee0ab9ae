// A memory region registered with a libfabric domain (fi_mr_reg). See "MEMORY REGISTRATION" in
// ofi_fabric.hpp for how keys and remote addresses are chosen.
#pragma once

#include <cstdint>
#include <memory>

#include <rdma/fabric.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::ofi {

class Domain;

class OfiMemoryRegion final : public MemoryRegion {
public:
    // Errors: invalid_argument (null data, size 0, access 0 or unknown bits),
    // registration_failed.
    static Expected<std::unique_ptr<OfiMemoryRegion>, Errc> create(Domain& domain, std::byte* data,
                                                                   std::size_t size,
                                                                   std::uint32_t access);
    ~OfiMemoryRegion() override;

    std::byte* data() const override { return data_; }
    std::size_t size() const override { return size_; }
    std::uint32_t access() const override { return access_; }
    RemoteKey remote_key() const override { return remote_key_; }
    // The local descriptor (fi_mr_desc) passed with posts when the provider needs FI_MR_LOCAL.
    void* descriptor() const { return descriptor_; }

private:
    OfiMemoryRegion(Domain& domain, std::byte* data, std::size_t size, std::uint32_t access);
    Status<Errc> register_with_provider();

    Domain& domain_;
    std::byte* data_;
    std::size_t size_;
    std::uint32_t access_;
    fid_mr* mr_ = nullptr;
    void* descriptor_ = nullptr;
    RemoteKey remote_key_;
};

}  // namespace ibnbd::fabric::ofi
