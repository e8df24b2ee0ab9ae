#include "fabric/ofi/ofi_memory.hpp"

#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>

#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_errors.hpp"
#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

namespace {

constexpr std::uint32_t kKnownAccess = access_local_write | access_remote_read | access_remote_write;
// Without FI_MR_PROV_KEY a key may collide with one still registered; try the next ones.
constexpr int kKeyAttempts = 64;

std::uint64_t provider_access(std::uint32_t access) {
    // Any region may be the source of a send or a write and the target of a receive or a read;
    // the interface's access_local_write is checked by the backend when posting.
    std::uint64_t flags = FI_SEND | FI_RECV | FI_READ | FI_WRITE;
    if (access & access_remote_read) flags |= FI_REMOTE_READ;
    if (access & access_remote_write) flags |= FI_REMOTE_WRITE;
    return flags;
}

}  // namespace

OfiMemoryRegion::OfiMemoryRegion(Domain& domain, std::byte* data, std::size_t size, std::uint32_t access)
    : domain_(domain), data_(data), size_(size), access_(access) {
    domain_.count_memory_region(+1);
}

OfiMemoryRegion::~OfiMemoryRegion() {
    if (mr_) {
        const int ret = fi_close(&mr_->fid);
        if (ret != 0) ofi_log().error("deregistering memory: {}", fi_error_text(ret));
    }
    domain_.count_memory_region(-1);
}

Expected<std::unique_ptr<OfiMemoryRegion>, Errc> OfiMemoryRegion::create(Domain& domain, std::byte* data,
                                                                         std::size_t size,
                                                                         std::uint32_t access) {
    if (data == nullptr || size == 0 || access == 0 || (access & ~kKnownAccess) != 0) {
        return unexpected(Errc::invalid_argument);
    }
    std::unique_ptr<OfiMemoryRegion> region(new OfiMemoryRegion(domain, data, size, access));
    if (auto registered = region->register_with_provider(); !registered) {
        return unexpected(registered.error());
    }
    return region;
}

Status<Errc> OfiMemoryRegion::register_with_provider() {
    const bool provider_keys = domain_.traits().mr_prov_key;
    int ret = -FI_ENOKEY;
    for (int attempt = 0; attempt < kKeyAttempts && ret == -FI_ENOKEY; ++attempt) {
        const std::uint64_t requested = provider_keys ? 0 : domain_.next_mr_key();
        ret = fi_mr_reg(domain_.domain(), data_, size_, provider_access(access_), 0, requested, 0,
                        &mr_, nullptr);
        if (provider_keys) break;
    }
    if (ret != 0) {
        mr_ = nullptr;
        ofi_log().warn("fi_mr_reg of {} bytes: {}", size_, fi_error_text(ret));
        return unexpected(Errc::registration_failed);
    }
    const std::uint64_t key = fi_mr_key(mr_);
    if (key > UINT32_MAX) {
        ofi_log().warn("provider key {:#x} does not fit the 32-bit rkey of the wire", key);
        return unexpected(Errc::registration_failed);
    }
    descriptor_ = fi_mr_desc(mr_);
    remote_key_.rkey = static_cast<std::uint32_t>(key);
    // Without FI_MR_VIRT_ADDR the provider takes offsets into the region, starting at 0.
    remote_key_.addr = domain_.traits().mr_virt_addr ? reinterpret_cast<std::uintptr_t>(data_) : 0;
    return {};
}

}  // namespace ibnbd::fabric::ofi
