#include "fabric/verbs/verbs_device.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <chrono>

#include "fabric/verbs/verbs_address.hpp"
#include "fabric/verbs/verbs_connection.hpp"
#include "fabric/verbs/verbs_errors.hpp"
#include "fabric/verbs/verbs_log.hpp"

namespace ibnbd::fabric::verbs {

namespace {

bool set_nonblocking(int fd) {
    const int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

bool epoll_add(int epoll_fd, int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0;
}

// rxe's ibv_device_attr.vendor_id (RXE_VENDOR_ID in the kernel).
constexpr std::uint32_t kRxeVendorId = 0xFFFFFF;
// IB_WC_WITH_INVALIDATE of the kernel's enum ib_wc_flags.
constexpr unsigned kKernelWcWithInvalidate = 1u << 2;

struct DeviceList {
    ibv_context** list = nullptr;
    int count = 0;
    DeviceList() { list = rdma_get_devices(&count); }
    ~DeviceList() {
        if (list) rdma_free_devices(list);
    }
    DeviceList(const DeviceList&) = delete;
    DeviceList& operator=(const DeviceList&) = delete;
};

}  // namespace

RdmaDevice::RdmaDevice(const VerbsConfig& config) : config_(config) {}

Expected<std::unique_ptr<RdmaDevice>, Errc> RdmaDevice::open(const VerbsConfig& config) {
    std::unique_ptr<RdmaDevice> device(new RdmaDevice(config));
    if (auto opened = device->open_channels(); !opened) return unexpected(opened.error());
    if (auto chosen = device->choose_context(); !chosen) return unexpected(chosen.error());
    if (auto opened = device->open_resources(); !opened) return unexpected(opened.error());
    verbs_log().debug("using RDMA device {} (max_qp_wr {}, max_sge {}, max_cqe {})", device->name(),
                      device->attr_.max_qp_wr, device->attr_.max_sge, device->attr_.max_cqe);
    return device;
}

Status<Errc> RdmaDevice::open_channels() {
    cm_channel_ = rdma_create_event_channel();
    if (cm_channel_ == nullptr) {
        const int error = errno;
        verbs_log().error("rdma_create_event_channel: {} (is rdma_ucm loaded?)", errno_text(error));
        return unexpected(Errc::backend_error);
    }
    if (!set_nonblocking(cm_channel_->fd)) return unexpected(Errc::backend_error);
    return {};
}

ibv_context* RdmaDevice::context_for_address(ibv_context** list, int count) {
    auto resolved = resolve_address(Address{config_.address, 0});
    if (!resolved) {
        verbs_log().error("VerbsConfig::address '{}' is not an IP address", config_.address);
        return nullptr;
    }
    rdma_cm_id* probe = nullptr;
    if (rdma_create_id(cm_channel_, &probe, nullptr, RDMA_PS_TCP) != 0) return nullptr;
    ibv_context* found = nullptr;
    if (rdma_bind_addr(probe, resolved->get()) == 0) found = probe->verbs;
    const int error = errno;
    rdma_destroy_id(probe);
    if (found == nullptr) {
        verbs_log().error("no RDMA device has the address {} ({}); check `rdma link show` and `ip addr`",
                          config_.address, errno_text(error));
        return nullptr;
    }
    const bool listed = std::find(list, list + count, found) != list + count;
    return listed ? found : nullptr;
}

Status<Errc> RdmaDevice::choose_context() {
    DeviceList devices;
    if (devices.list == nullptr || devices.count == 0) {
        verbs_log().error("no RDMA device (no driver loaded, or no rxe/siw link: `rdma link show`)");
        return unexpected(Errc::backend_error);
    }
    if (!config_.device.empty()) {
        for (int i = 0; i < devices.count; ++i) {
            if (config_.device == ibv_get_device_name(devices.list[i]->device)) context_ = devices.list[i];
        }
        if (context_ == nullptr) verbs_log().error("no RDMA device named '{}'", config_.device);
    } else if (!config_.address.empty()) {
        context_ = context_for_address(devices.list, devices.count);
    } else if (devices.count == 1) {
        context_ = devices.list[0];
    } else {
        verbs_log().error("{} RDMA devices: choose one with VerbsConfig::device or ::address", devices.count);
    }
    if (context_ == nullptr) return unexpected(Errc::backend_error);
    if (context_->device->transport_type == IBV_TRANSPORT_IWARP) {
        verbs_log().error("{} is an iWARP device: iWARP has no immediate data, which IBTRS needs", name());
        return unexpected(Errc::backend_error);
    }
    return {};
}

Status<Errc> RdmaDevice::open_resources() {
    if (ibv_query_device(context_, &attr_) != 0) {
        verbs_log().error("ibv_query_device({}): {}", name(), errno_text(errno));
        return unexpected(Errc::backend_error);
    }
    sge_limit_ = static_cast<std::uint32_t>(std::clamp<int>(attr_.max_sge, 1, static_cast<int>(kMaxSge)));
    pd_ = ibv_alloc_pd(context_);
    if (pd_ == nullptr) {
        verbs_log().error("ibv_alloc_pd({}): {}", name(), errno_text(errno));
        return unexpected(Errc::no_resources);
    }
    completion_channel_ = ibv_create_comp_channel(context_);
    if (completion_channel_ == nullptr || !set_nonblocking(completion_channel_->fd)) {
        verbs_log().error("ibv_create_comp_channel({}): {}", name(), errno_text(errno));
        return unexpected(Errc::no_resources);
    }
    probe_windows();
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0 || !epoll_add(epoll_fd_, cm_channel_->fd) || !epoll_add(epoll_fd_, completion_channel_->fd)) {
        verbs_log().error("epoll over the event channels: {}", errno_text(errno));
        return unexpected(Errc::no_resources);
    }
    return {};
}

// Type-2 windows - and with them SEND_WITH_INV and LOCAL_INV, which the same generation of
// devices brings - are used only where one can be allocated: the capability flags alone do not
// say whether the provider library implements alloc_mw.
void RdmaDevice::probe_windows() {
    // rxe writes the kernel's struct ib_wc flags into the user's completion queue unchanged, and
    // its provider copies them into ibv_wc: the kernel's IB_WC_WITH_INVALIDATE (1 << 2) arrives
    // where libibverbs has IBV_WC_IP_CSUM_OK, which rxe never reports. Seen on Linux 6.1.
    if (attr_.vendor_id == kRxeVendorId) invalidation_wc_flags_ |= kKernelWcWithInvalidate;
    const auto flags = attr_.device_cap_flags;
    ibv_mw* probe = ibv_alloc_mw(pd_, IBV_MW_TYPE_2);
    const int error = errno;
    if (probe != nullptr) ibv_dealloc_mw(probe);
    windows_supported_ = probe != nullptr;
    ibv_mw* type1_probe = ibv_alloc_mw(pd_, IBV_MW_TYPE_1);
    if (type1_probe != nullptr) ibv_dealloc_mw(type1_probe);
    type1_windows_supported_ = type1_probe != nullptr;
    verbs_log().debug("{} (vendor {:#x}): type-1 memory windows {}", name(), attr_.vendor_id,
                      type1_windows_supported_ ? "usable" : "not usable");
    verbs_log().debug("{} (vendor {:#x}): type-2 memory windows {} (cap flags: window {}, type 2A {}, 2B {}, "
                      "mem mgt ext {}; max_mw {}){}{}", name(), attr_.vendor_id, windows_supported_ ? "usable" : "not usable",
                      (flags & IBV_DEVICE_MEM_WINDOW) != 0, (flags & IBV_DEVICE_MEM_WINDOW_TYPE_2A) != 0,
                      (flags & IBV_DEVICE_MEM_WINDOW_TYPE_2B) != 0, (flags & IBV_DEVICE_MEM_MGT_EXTENSIONS) != 0,
                      attr_.max_mw, windows_supported_ ? "" : ": ibv_alloc_mw ",
                      windows_supported_ ? std::string() : errno_text(error));
}

RdmaDevice::~RdmaDevice() {
    assert(endpoints_ == 0 && "every Endpoint must be destroyed before its VerbsFabric");
    assert(listeners_.empty() && "every Listener must be destroyed before its VerbsFabric");
    assert(memory_regions_ == 0 && "every MemoryRegion must be destroyed before its VerbsFabric");
    assert(memory_windows_ == 0 && "every MemoryWindow must be destroyed before its VerbsFabric");
    // Their ids are on this RdmaDevice's event channel, which goes now.
    assert(detached_requests_ == 0 &&
           "every detached request this VerbsFabric received must be answered before it is destroyed");
    // Connections still waiting for TIMEWAIT_EXIT are released now (see verbs_fabric.hpp).
    connections_.clear();
    for (rdma_cm_id* id : doomed_ids_) rdma_destroy_id(id);
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (completion_channel_) ibv_destroy_comp_channel(completion_channel_);
    if (pd_) {
        const int ret = ibv_dealloc_pd(pd_);
        if (ret != 0) verbs_log().error("ibv_dealloc_pd: {}", errno_text(ret));
    }
    if (cm_channel_) rdma_destroy_event_channel(cm_channel_);
}

std::string RdmaDevice::name() const {
    return context_ ? ibv_get_device_name(context_->device) : "";
}

Connection* RdmaDevice::adopt(std::unique_ptr<Connection> connection) {
    connections_.push_back(std::move(connection));
    return connections_.back().get();
}

void RdmaDevice::add(VerbsListener* listener) {
    listeners_.push_back(listener);
}

void RdmaDevice::remove(VerbsListener* listener) {
    std::erase(listeners_, listener);
}

void RdmaDevice::destroy_unowned_id(rdma_cm_id* id) {
    id->context = nullptr;
    if (dispatching_) {
        doomed_ids_.push_back(id);
        return;
    }
    rdma_destroy_id(id);
}

bool RdmaDevice::events_pending() const {
    std::array<epoll_event, 2> events{};
    return epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 0) > 0;
}

void RdmaDevice::drain_completion_channel() {
    for (;;) {
        ibv_cq* cq = nullptr;
        void* cq_context = nullptr;
        if (ibv_get_cq_event(completion_channel_, &cq, &cq_context) != 0) return;
        ibv_ack_cq_events(cq, 1);
        static_cast<Connection*>(cq_context)->on_cq_event();
    }
}

std::size_t RdmaDevice::poll_connections(std::size_t budget) {
    std::size_t delivered = 0;
    const std::size_t count = connections_.size();
    if (count == 0) return 0;
    // Round robin between calls. Connections created by callbacks meanwhile are appended (and
    // wait for the next call); none is removed before reap().
    for (std::size_t step = 0; step < count && delivered < budget; ++step) {
        Connection& connection = *connections_[(cursor_ + step) % count];
        while (delivered < budget && connection.deliver_one()) ++delivered;
    }
    cursor_ = (cursor_ + 1) % count;
    return delivered;
}

void RdmaDevice::reap() {
    const Nanos now = monotonic_now();
    std::erase_if(connections_, [this, now](const std::unique_ptr<Connection>& connection) {
        if (!connection->reapable(now)) return false;
        if (connection->timewait_missed()) ++stats_.timewait_limit_hits;
        return true;
    });
}

VerbsStats RdmaDevice::stats() const {
    VerbsStats stats = stats_;
    stats.connections = connections_.size();
    stats.lingering = static_cast<std::size_t>(std::count_if(
        connections_.begin(), connections_.end(), [](const auto& connection) { return connection->lingering(); }));
    return stats;
}

}  // namespace ibnbd::fabric::verbs
