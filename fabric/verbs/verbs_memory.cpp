#include "fabric/verbs/verbs_memory.hpp"

#include <cerrno>

#include "fabric/verbs/verbs_device.hpp"
#include "fabric/verbs/verbs_errors.hpp"
#include "fabric/verbs/verbs_log.hpp"

namespace ibnbd::fabric::verbs {

namespace {

constexpr std::uint32_t kKnownAccess =
    access_local_write | access_remote_read | access_remote_write | access_window_bind;

int ibv_access(std::uint32_t access) {
    int flags = 0;
    if (access & access_window_bind) flags |= IBV_ACCESS_MW_BIND;
    // Verbs refuses remote write access without local write access.
    if (access & (access_local_write | access_remote_write)) flags |= IBV_ACCESS_LOCAL_WRITE;
    if (access & access_remote_write) flags |= IBV_ACCESS_REMOTE_WRITE;
    if (access & access_remote_read) flags |= IBV_ACCESS_REMOTE_READ;
    return flags;
}

}  // namespace

VerbsMemoryRegion::VerbsMemoryRegion(RdmaDevice& device, std::byte* data, std::size_t size, std::uint32_t access,
                                     ibv_mr* mr)
    : device_(device), data_(data), size_(size), access_(access), mr_(mr) {
    device_.count_memory_region(+1);
}

VerbsMemoryRegion::~VerbsMemoryRegion() {
    const int ret = ibv_dereg_mr(mr_);
    if (ret != 0) verbs_log().error("ibv_dereg_mr: {}", errno_text(ret));
    device_.count_memory_region(-1);
}

Expected<std::unique_ptr<VerbsMemoryRegion>, Errc> VerbsMemoryRegion::create(RdmaDevice& device, std::byte* data,
                                                                             std::size_t size,
                                                                             std::uint32_t access) {
    if (data == nullptr || size == 0 || access == 0 || (access & ~kKnownAccess) != 0) {
        return unexpected(Errc::invalid_argument);
    }
    if ((access & access_window_bind) && !device.windows_supported()) return unexpected(Errc::not_supported);
    ibv_mr* mr = ibv_reg_mr(device.pd(), data, size, ibv_access(access));
    if (mr == nullptr) {
        const int error = errno;
        verbs_log().warn("ibv_reg_mr of {} bytes on {}: {}{}", size, device.name(), errno_text(error),
                         error == ENOMEM ? " (pinned memory is limited by RLIMIT_MEMLOCK: ulimit -l)" : "");
        return unexpected(Errc::registration_failed);
    }
    return std::unique_ptr<VerbsMemoryRegion>(new VerbsMemoryRegion(device, data, size, access, mr));
}

VerbsMemoryWindow::VerbsMemoryWindow(RdmaDevice& device, ibv_mw* mw) : device_(device), mw_(mw) {
    device_.count_memory_window(+1);
}

VerbsMemoryWindow::~VerbsMemoryWindow() {
    const int ret = ibv_dealloc_mw(mw_);
    if (ret != 0) verbs_log().error("ibv_dealloc_mw: {}", errno_text(ret));
    device_.count_memory_window(-1);
}

Expected<std::unique_ptr<VerbsMemoryWindow>, Errc> VerbsMemoryWindow::create(RdmaDevice& device,
                                                                             bool fabric_wide) {
    if (!(fabric_wide ? device.type1_windows_supported() : device.windows_supported())) {
        return unexpected(Errc::not_supported);
    }
    ibv_mw* mw = ibv_alloc_mw(device.pd(), fabric_wide ? IBV_MW_TYPE_1 : IBV_MW_TYPE_2);
    if (mw == nullptr) {
        verbs_log().warn("ibv_alloc_mw(type {}) on {}: {} (max_mw {})", fabric_wide ? 1 : 2, device.name(),
                         errno_text(errno), device.attr().max_mw);
        return unexpected(Errc::no_resources);
    }
    return std::unique_ptr<VerbsMemoryWindow>(new VerbsMemoryWindow(device, mw));
}

}  // namespace ibnbd::fabric::verbs
