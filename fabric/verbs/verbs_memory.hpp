// A memory region registered with the fabric's protection domain (ibv_reg_mr), and a type-2
// memory window allocated on it (ibv_alloc_mw). See "MEMORY REGISTRATION" and "KEY INVALIDATION
// AND MEMORY WINDOWS" in verbs_fabric.hpp.
#pragma once

#include <cstdint>
#include <memory>

#include <infiniband/verbs.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::verbs {

class RdmaDevice;

class VerbsMemoryRegion final : public MemoryRegion {
public:
    // Errors: invalid_argument (null data, size 0, access 0 or unknown bits), registration_failed.
    static Expected<std::unique_ptr<VerbsMemoryRegion>, Errc> create(RdmaDevice& device, std::byte* data,
                                                                     std::size_t size, std::uint32_t access);
    ~VerbsMemoryRegion() override;

    std::byte* data() const override { return data_; }
    std::size_t size() const override { return size_; }
    std::uint32_t access() const override { return access_; }
    RemoteKey remote_key() const override {
        return RemoteKey{reinterpret_cast<std::uintptr_t>(data_), mr_->rkey};
    }
    std::uint32_t lkey() const { return mr_->lkey; }
    ibv_mr* mr() const { return mr_; }
    const RdmaDevice& device() const { return device_; }

private:
    VerbsMemoryRegion(RdmaDevice& device, std::byte* data, std::size_t size, std::uint32_t access, ibv_mr* mr);

    RdmaDevice& device_;
    std::byte* data_;
    std::size_t size_;
    std::uint32_t access_;
    ibv_mr* mr_;
};

class VerbsMemoryWindow final : public MemoryWindow {
public:
    // A type-2 window, or with `fabric_wide` a type-1 window. Errors: not_supported (the device
    // has no windows of that type), no_resources (ibv_alloc_mw failed).
    static Expected<std::unique_ptr<VerbsMemoryWindow>, Errc> create(RdmaDevice& device, bool fabric_wide);
    // ibv_dealloc_mw: invalidates the key at once.
    ~VerbsMemoryWindow() override;

    std::uint32_t rkey() const override { return bound_once_ ? mw_->rkey : 0; }
    ibv_mw* mw() const { return mw_; }
    const RdmaDevice& device() const { return device_; }
    bool fabric_wide() const { return mw_->type == IBV_MW_TYPE_1; }
    // The key the next bind gets: ibv_inc_rkey() of the newest bind's (or the initial) key.
    std::uint32_t next_key() const { return ibv_inc_rkey(mw_->rkey); }
    // A bind to `key` was posted. Providers name the window by mw->rkey in the next bind (rxe
    // checks it against the kernel's key of the window), so it follows the posted binds, as
    // ibv_bind_mw() keeps it for type-1 windows.
    void bind_posted(std::uint32_t key) {
        mw_->rkey = key;
        bound_once_ = true;
    }

private:
    VerbsMemoryWindow(RdmaDevice& device, ibv_mw* mw);

    RdmaDevice& device_;
    ibv_mw* mw_;
    bool bound_once_ = false;
};

}  // namespace ibnbd::fabric::verbs
