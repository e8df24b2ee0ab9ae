#include "fabric/ofi/ofi_domain.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "fabric/ofi/ofi_endpoint.hpp"
#include "fabric/ofi/ofi_errors.hpp"
#include "fabric/ofi/ofi_listener.hpp"
#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

namespace {

constexpr std::uint32_t kApiVersion = FI_VERSION(1, 17);
constexpr std::uint64_t kCaps = FI_MSG | FI_RMA | FI_SEND | FI_RECV | FI_READ | FI_WRITE |
                                FI_REMOTE_READ | FI_REMOTE_WRITE;
// Write-after-write and send-after-write: an IMM (or a send) at the target implies that every
// earlier write of the connection has landed. Send-after-send keeps messages in order.
constexpr std::uint64_t kOrder = FI_ORDER_WAW | FI_ORDER_SAW | FI_ORDER_SAS;
constexpr int kWantedMrMode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED;

struct InfoDeleter {
    void operator()(fi_info* info) const { fi_freeinfo(info); }
};
using InfoPtr = std::unique_ptr<fi_info, InfoDeleter>;

InfoPtr make_hints(const OfiConfig& config, fi_progress progress) {
    InfoPtr hints(fi_allocinfo());
    if (!hints) return hints;
    hints->ep_attr->type = FI_EP_MSG;
    hints->caps = kCaps;
    hints->mode = FI_CONTEXT | FI_CONTEXT2 | FI_RX_CQ_DATA;
    hints->domain_attr->mr_mode = kWantedMrMode;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->domain_attr->data_progress = progress;
    hints->domain_attr->control_progress = progress;
    hints->tx_attr->msg_order = kOrder;
    hints->rx_attr->msg_order = kOrder;
    hints->fabric_attr->prov_name = strdup(config.provider.c_str());
    return hints;
}

// The first info of exactly the wanted provider (not a utility provider layered on it).
fi_info* pick_provider(fi_info* list, const std::string& provider) {
    for (fi_info* info = list; info != nullptr; info = info->next) {
        if (info->fabric_attr->prov_name && provider == info->fabric_attr->prov_name) return info;
    }
    return nullptr;
}

// Asks for manual progress first (the backend polls anyway); falls back to what the provider
// offers when it cannot do manual progress.
Expected<InfoPtr, Errc> get_info(const OfiConfig& config) {
    for (const fi_progress progress : {FI_PROGRESS_MANUAL, FI_PROGRESS_UNSPEC}) {
        InfoPtr hints = make_hints(config, progress);
        if (!hints) return unexpected(Errc::no_resources);
        const char* node = config.domain_node.empty() ? nullptr : config.domain_node.c_str();
        fi_info* list = nullptr;
        const int ret = fi_getinfo(kApiVersion, node, nullptr, node ? FI_SOURCE : 0, hints.get(), &list);
        if (ret == -FI_ENODATA) continue;
        if (ret != 0) {
            ofi_log().error("fi_getinfo({}): {}", config.provider, fi_error_text(ret));
            return unexpected(Errc::backend_error);
        }
        InfoPtr all(list);
        fi_info* chosen = pick_provider(list, config.provider);
        if (chosen) return InfoPtr(fi_dupinfo(chosen));
    }
    ofi_log().error("libfabric provider '{}' offers no FI_EP_MSG endpoint with FI_MSG | FI_RMA, "
                    "remote CQ data and write-after-write ordering", config.provider);
    return unexpected(Errc::backend_error);
}

}  // namespace

Expected<std::unique_ptr<Domain>, Errc> Domain::open(const OfiConfig& config) {
    std::unique_ptr<Domain> domain(new Domain());
    domain->delivery_complete_ = config.delivery_complete;
    if (auto opened = domain->open_resources(config); !opened) return unexpected(opened.error());
    return domain;
}

Status<Errc> Domain::open_resources(const OfiConfig& config) {
    auto info = get_info(config);
    if (!info) return unexpected(info.error());
    info_ = info->release();
    if ((info_->tx_attr->msg_order & kOrder) != kOrder || info_->domain_attr->cq_data_size < 4) {
        ofi_log().error("provider {} lacks ordering or CQ data", config.provider);
        return unexpected(Errc::backend_error);
    }
    int ret = fi_fabric(info_->fabric_attr, &fabric_, nullptr);
    if (ret == 0) ret = fi_domain(fabric_, info_, &domain_, nullptr);
    if (ret == 0) ret = open_event_queue();
    if (ret != 0) {
        ofi_log().error("opening libfabric {} resources: {}", config.provider, fi_error_text(ret));
        return unexpected(errc_from_fi_return(ret));
    }
    learn_traits();
    start_sweeper(config);
    if (!traits_.mr_prov_key) {
        ret = fi_mr_reg(domain_, &null_byte_, 1, FI_REMOTE_WRITE, 0, kNullKey, 0, &null_mr_, nullptr);
        if (ret != 0) {
            ofi_log().error("registering the empty-write region: {}", fi_error_text(ret));
            return unexpected(errc_from_fi_return(ret));
        }
    }
    return {};
}

// With a wait fd where the provider has one (then CQs get them too), else without.
int Domain::open_event_queue() {
    wait_fd_ = epoll_create1(EPOLL_CLOEXEC);
    fi_eq_attr eq_attr{};
    eq_attr.wait_obj = FI_WAIT_FD;
    if (wait_fd_ >= 0 && fi_eq_open(fabric_, &eq_attr, &eq_, nullptr) == 0) {
        watch(&eq_->fid);
        if (wait_fd_ >= 0) return 0;
        fi_close(&eq_->fid);  // it has no usable wait fd after all
        eq_ = nullptr;
    }
    ofi_log().debug("event queue without a wait fd: the reactor polls when idle");
    stop_waiting();
    eq_attr.wait_obj = FI_WAIT_NONE;
    return fi_eq_open(fabric_, &eq_attr, &eq_, nullptr);
}

// The EQ's wait set holds the sockets the provider accepted until their CM request is complete.
void Domain::start_sweeper(const OfiConfig& config) {
    int eq_wait = -1;
    // Only an FI_WAIT_FD queue answers FI_GETWAIT with an int (a POLLFD one expects a struct).
    if (wait_fd_ < 0 || fi_control(&eq_->fid, FI_GETWAIT, &eq_wait) != 0) eq_wait = -1;
    sweeper_.emplace(eq_wait, PendingLimits{config.pending_limit, config.pending_timeout});
}

std::size_t Domain::sweep_pending(Nanos now) {
    if (!sweeps()) return 0;
    std::vector<std::uint16_t> ports;
    for (const OfiListener* listener : listeners_) ports.push_back(listener->address().port);
    std::vector<std::uint16_t> dropped;
    if (sweeper_->sweep(now, ports, &dropped) != 0) {
        ofi_log().debug("closed {} of {} connections waiting for their CM request", dropped.size(),
                        sweeper_->waiting());
    }
    // Counted once, on the first listener of that port (listeners on several addresses may share
    // one port; the sweep knows only the port).
    for (const std::uint16_t port : dropped) {
        const auto on_port = [port](const OfiListener* listener) { return listener->address().port == port; };
        const auto owner = std::find_if(listeners_.begin(), listeners_.end(), on_port);
        if (owner != listeners_.end()) (*owner)->count_dropped();
    }
    return sweeper_->waiting();
}

// No wait fd from here on: wait_fd() is -1 and the reactor polls this domain when idle.
void Domain::stop_waiting() {
    if (wait_fd_ >= 0) ::close(wait_fd_);
    wait_fd_ = -1;
    waited_.clear();
}

void Domain::watch(fid* queue) {
    if (wait_fd_ < 0) return;
    int fd = -1;
    if (fi_control(queue, FI_GETWAIT, &fd) != 0 || fd < 0) {
        ofi_log().warn("a queue without a wait fd: the reactor falls back to polling when idle");
        stop_waiting();
        return;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    epoll_ctl(wait_fd_, EPOLL_CTL_ADD, fd, &event);
    waited_.push_back(queue);
}

void Domain::unwatch(fid* queue) {
    if (wait_fd_ < 0) return;
    int fd = -1;
    if (fi_control(queue, FI_GETWAIT, &fd) == 0 && fd >= 0) epoll_ctl(wait_fd_, EPOLL_CTL_DEL, fd, nullptr);
    std::erase(waited_, queue);
}

bool Domain::prepare_sleep() {
    if (wait_fd_ < 0) return true;
    errno = 0;  // fi_trywait runs the tcp connection manager too: see poll_cm()
    return fi_trywait(fabric_, waited_.data(), static_cast<int>(waited_.size())) == FI_SUCCESS;
}

void Domain::learn_traits() {
    traits_.provider = info_->fabric_attr->prov_name;
    const int mr_mode = info_->domain_attr->mr_mode;
    traits_.mr_local = (mr_mode & FI_MR_LOCAL) != 0 || (info_->mode & FI_LOCAL_MR) != 0;
    traits_.mr_virt_addr = (mr_mode & FI_MR_VIRT_ADDR) != 0;
    traits_.mr_prov_key = (mr_mode & FI_MR_PROV_KEY) != 0;
    traits_.imm_consumes_recv = (info_->mode & FI_RX_CQ_DATA) != 0;
    traits_.length_in_cq_data = info_->domain_attr->cq_data_size >= sizeof(std::uint64_t);
    traits_.iov_limit = std::min<std::size_t>(
        {kMaxSge, info_->tx_attr->iov_limit, info_->rx_attr->iov_limit});
    // The CM data limit is an endpoint option; ask a passive endpoint that is never used.
    traits_.cm_data_size = kMaxAcceptPrivateData;
    fid_pep* probe = nullptr;
    if (fi_passive_ep(fabric_, info_, &probe, nullptr) == 0) {
        std::size_t size = 0;
        std::size_t length = sizeof(size);
        if (fi_getopt(&probe->fid, FI_OPT_ENDPOINT, FI_OPT_CM_DATA_SIZE, &size, &length) == 0) {
            traits_.cm_data_size = size;
        }
        fi_close(&probe->fid);
    }
    ofi_log().debug("provider {}: mr_local={} virt_addr={} prov_key={} imm_consumes_recv={} "
                    "cm_data_size={} iov_limit={}", traits_.provider, traits_.mr_local,
                    traits_.mr_virt_addr, traits_.mr_prov_key, traits_.imm_consumes_recv,
                    traits_.cm_data_size, traits_.iov_limit);
}

Domain::~Domain() {
    assert(empty());
    assert(memory_regions_ == 0);
    if (null_mr_) fi_close(&null_mr_->fid);
    if (eq_) {
        unwatch(&eq_->fid);
        fi_close(&eq_->fid);
    }
    if (wait_fd_ >= 0) ::close(wait_fd_);
    if (domain_) {
        const int ret = fi_close(&domain_->fid);
        if (ret != 0) ofi_log().error("closing the libfabric domain: {}", fi_error_text(ret));
    }
    if (fabric_) fi_close(&fabric_->fid);
    if (info_) fi_freeinfo(info_);
}

fi_info* Domain::duplicate_info() const {
    return fi_dupinfo(info_);
}

std::uint64_t Domain::next_mr_key() {
    ++last_mr_key_;
    if (last_mr_key_ == 0 || last_mr_key_ == kNullKey) last_mr_key_ = 1;
    return last_mr_key_;
}

void Domain::add(OfiEndpoint* endpoint) {
    endpoints_.push_back(endpoint);
}

void Domain::remove(OfiEndpoint* endpoint) {
    auto found = std::find(endpoints_.begin(), endpoints_.end(), endpoint);
    assert(found != endpoints_.end());
    *found = nullptr;
    if (!polling_) compact_endpoints();
}

void Domain::add(OfiListener* listener) {
    listeners_.push_back(listener);
}

void Domain::remove(OfiListener* listener) {
    std::erase(listeners_, listener);
}

bool Domain::empty() const {
    const bool no_endpoints = std::all_of(endpoints_.begin(), endpoints_.end(),
                                          [](const OfiEndpoint* e) { return e == nullptr; });
    return no_endpoints && listeners_.empty();
}

void Domain::compact_endpoints() {
    std::erase(endpoints_, nullptr);
}

std::size_t Domain::poll_endpoints(std::size_t budget) {
    assert(!polling_ && "poll() must not be called from inside a callback");
    compact_endpoints();
    const std::size_t count = endpoints_.size();
    if (count == 0) return 0;
    polling_ = true;
    std::size_t delivered = 0;
    // Indexes stay valid: endpoints created meanwhile are appended, destroyed ones become holes.
    for (std::size_t step = 0; step < count && delivered < budget; ++step) {
        const std::size_t index = (cursor_ + step) % count;
        while (delivered < budget && endpoints_[index] != nullptr && endpoints_[index]->deliver_one()) {
            ++delivered;
        }
    }
    cursor_ = (cursor_ + 1) % count;
    polling_ = false;
    return delivered;
}

OfiEndpoint* Domain::endpoint_of(const fid* provider_fid) const {
    for (OfiEndpoint* endpoint : endpoints_) {
        if (endpoint != nullptr && endpoint->provider_fid() == provider_fid) return endpoint;
    }
    return nullptr;
}

}  // namespace ibnbd::fabric::ofi
