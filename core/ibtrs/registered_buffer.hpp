// A page-aligned buffer registered with a fabric, allocated once at setup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class RegisteredBuffer {
public:
    RegisteredBuffer() = default;
    // Errors: the fabric's registration errors.
    static Expected<RegisteredBuffer, fabric::Errc> create(fabric::Fabric& fabric, std::size_t size,
                                                           std::uint32_t access);
    // Registers memory owned by someone else (e.g. a server session's chunks, per path).
    static Expected<RegisteredBuffer, fabric::Errc> register_external(fabric::Fabric& fabric,
                                                                      std::span<std::byte> memory,
                                                                      std::uint32_t access);

    std::byte* data() const { return memory_.data(); }
    std::size_t size() const { return memory_.size(); }
    std::span<std::byte> span() const { return memory_; }
    const fabric::MemoryRegion* mr() const { return mr_.get(); }
    bool valid() const { return mr_ != nullptr; }
    fabric::Sge sge(std::size_t offset, std::uint32_t length) const {
        return fabric::Sge{mr_.get(), memory_.data() + offset, length};
    }
    void reset() {
        mr_.reset();
        owned_.reset();
        memory_ = {};
    }

private:
    struct FreeAligned {
        void operator()(std::byte* p) const;
    };
    std::unique_ptr<std::byte, FreeAligned> owned_;
    std::span<std::byte> memory_;
    std::unique_ptr<fabric::MemoryRegion> mr_;
};

}  // namespace ibnbd::ibtrs
