// OfiEndpoint: creation, connection management and teardown.
#include "fabric/ofi/ofi_endpoint.hpp"

#include <algorithm>
#include <cassert>
#include <cstdlib>

#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_errors.hpp"
#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

namespace {

struct InfoDeleter {
    void operator()(fi_info* info) const { fi_freeinfo(info); }
};

std::size_t connect_data_limit(const Domain& domain) {
    return std::min(kMaxConnectPrivateData, domain.traits().cm_data_size);
}

std::size_t accept_data_limit(const Domain& domain) {
    return std::min(kMaxAcceptPrivateData, domain.traits().cm_data_size);
}

}  // namespace

OfiEndpoint::OfiEndpoint(Domain& domain, EndpointHandler& handler, QueueSizes queues)
    : domain_(domain),
      handler_(handler),
      state_(State::closed),
      send_queue_(queues.max_send_wr),
      recv_queue_(queues.max_recv_wr) {
    domain_.add(this);
}

OfiEndpoint::~OfiEndpoint() {
    domain_.remove(this);
    // Closing the endpoint closes its socket: the peer sees a disconnect, we see no callback.
    if (ep_) fi_close(&ep_->fid);
    if (cq_) {
        if (cq_watched_) domain_.unwatch(&cq_->fid);
        fi_close(&cq_->fid);
    }
}

const fid* OfiEndpoint::provider_fid() const {
    return ep_ ? &ep_->fid : nullptr;
}

Status<Errc> OfiEndpoint::open(fi_info* info, QueueSizes queues) {
    // The provider has its own limit (tcp: 256); our posted-work tables keep the sizes asked for,
    // and a provider queue that is full answers -FI_EAGAIN, which becomes queue_full.
    const auto clamp = [](std::size_t provider_max, std::uint32_t wanted) {
        return provider_max != 0 ? std::min<std::size_t>(provider_max, wanted) : wanted;
    };
    info->tx_attr->size = clamp(info->tx_attr->size, queues.max_send_wr);
    info->rx_attr->size = clamp(info->rx_attr->size, queues.max_recv_wr);
    fi_cq_attr cq_attr{};
    // Remote write-with-imm completions need no receive on tcp, so leave room beyond the queues;
    // the provider also buffers overflow itself.
    cq_attr.size = 2 * (std::size_t{queues.max_send_wr} + queues.max_recv_wr);
    cq_attr.format = FI_CQ_FORMAT_DATA;
    cq_attr.wait_obj = domain_.cq_wait_obj();
    int ret = fi_cq_open(domain_.domain(), &cq_attr, &cq_, nullptr);
    if (ret == 0) ret = fi_endpoint(domain_.domain(), info, &ep_, nullptr);
    if (ret == 0) ret = fi_ep_bind(ep_, &domain_.eq()->fid, 0);
    if (ret == 0) ret = fi_ep_bind(ep_, &cq_->fid, FI_TRANSMIT | FI_RECV);
    if (ret == 0) ret = fi_enable(ep_);
    if (ret == 0 && cq_attr.wait_obj == FI_WAIT_FD) {
        domain_.watch(&cq_->fid);
        cq_watched_ = true;
    }
    if (ret != 0) {
        ofi_log().error("creating an endpoint: {}", fi_error_text(ret));
        const Errc errc = errc_from_fi_return(ret);
        return unexpected(errc == Errc::backend_error || errc == Errc::invalid_argument
                              ? Errc::no_resources
                              : errc);
    }
    return {};
}

Expected<std::unique_ptr<OfiEndpoint>, Errc> OfiEndpoint::connect(
    Domain& domain, const SocketAddress& destination, const SocketAddress* source,
    std::span<const std::byte> private_data, EndpointHandler& handler, QueueSizes queues) {
    if (private_data.size() > connect_data_limit(domain)) {
        return unexpected(Errc::private_data_too_long);
    }
    if (queues.max_send_wr == 0 || queues.max_recv_wr == 0) return unexpected(Errc::invalid_argument);
    std::unique_ptr<fi_info, InfoDeleter> info(domain.duplicate_info());
    if (!info) return unexpected(Errc::no_resources);
    info->addr_format = destination.fi_format;
    std::free(info->src_addr);
    info->src_addr = nullptr;
    info->src_addrlen = 0;
    if (source) {
        info->src_addr = malloc_copy(*source);
        info->src_addrlen = source->length;
    }
    info->dest_addr = malloc_copy(destination);
    info->dest_addrlen = destination.length;
    std::unique_ptr<OfiEndpoint> endpoint(new OfiEndpoint(domain, handler, queues));
    endpoint->peer_ = to_address(destination.get());
    if (auto opened = endpoint->open(info.get(), queues); !opened) return unexpected(opened.error());
    endpoint->state_ = State::connecting;
    const int ret = fi_connect(endpoint->ep_, destination.get(), private_data.data(), private_data.size());
    if (ret != 0) {
        ofi_log().debug("connect to {} failed at once: {}", endpoint->peer_.to_string(), fi_error_text(ret));
        endpoint->pending_outcome_ = CmEventType::unreachable;
    } else {
        // The socket is bound once the connect is issued: local_address() is known while the
        // request waits for its answer (a listener may hold it detached for a while).
        endpoint->learn_local_address();
    }
    return endpoint;
}

Expected<std::unique_ptr<OfiEndpoint>, Errc> OfiEndpoint::accept(
    Domain& domain, fi_info* request, std::span<const std::byte> private_data,
    EndpointHandler& handler, QueueSizes queues, const Address& peer) {
    if (private_data.size() > accept_data_limit(domain)) return unexpected(Errc::private_data_too_long);
    if (queues.max_send_wr == 0 || queues.max_recv_wr == 0) return unexpected(Errc::invalid_argument);
    std::unique_ptr<OfiEndpoint> endpoint(new OfiEndpoint(domain, handler, queues));
    endpoint->peer_ = peer;
    if (auto opened = endpoint->open(request, queues); !opened) return unexpected(opened.error());
    const int ret = fi_accept(endpoint->ep_, private_data.data(), private_data.size());
    if (ret != 0) {
        ofi_log().warn("fi_accept from {}: {}", peer.to_string(), fi_error_text(ret));
        return unexpected(Errc::no_resources);
    }
    endpoint->state_ = State::accepting;
    return endpoint;
}

void OfiEndpoint::learn_local_address() {
    sockaddr_storage address{};
    std::size_t length = sizeof(address);
    if (fi_getname(&ep_->fid, &address, &length) == 0) {
        local_ = to_address(reinterpret_cast<const sockaddr*>(&address));
    }
}

void OfiEndpoint::learn_addresses() {
    learn_local_address();
    sockaddr_storage address{};
    std::size_t length = sizeof(address);
    if (fi_getpeer(ep_, &address, &length) == 0) {
        peer_ = to_address(reinterpret_cast<const sockaddr*>(&address));
    }
}

bool OfiEndpoint::on_cm_connected(std::span<const std::byte> private_data) {
    if (state_ != State::connecting && state_ != State::accepting) return false;
    const bool active = state_ == State::connecting;
    state_ = State::connected;
    learn_addresses();
    ofi_log().debug("connected {} -> {}", local_.to_string(), peer_.to_string());
    CmEvent event{CmEventType::established, {}};
    if (active) event.private_data = private_data;
    handler_.on_cm_event(event);
    return true;
}

void OfiEndpoint::on_cm_shutdown() {
    switch (state_) {
        case State::connecting: pending_outcome_ = CmEventType::unreachable; break;
        case State::accepting: state_ = State::flushing; break;
        case State::connected: state_ = State::draining; break;
        default: break;
    }
}

bool OfiEndpoint::on_cm_error(int error, std::span<const std::byte> error_data) {
    if (state_ != State::connecting) {
        ofi_log().debug("connection to {} failed: {}", peer_.to_string(), fi_error_text(error));
        if (state_ == State::connected) break_connection();
        if (state_ == State::accepting) state_ = State::flushing;
        return false;
    }
    state_ = State::closed;
    pending_outcome_.reset();
    // Refused with data: a reject (tagged by this backend, see ofi_fabric.hpp); refused without
    // data: nobody listened.
    CmEvent event{CmEventType::unreachable, {}};
    if (error == FI_ECONNREFUSED && !error_data.empty()) {
        event.type = CmEventType::rejected;
        event.private_data = error_data.front() == kRejectTag ? error_data.subspan(1) : error_data;
    }
    ofi_log().debug("connect to {}: {} ({})", peer_.to_string(), to_string(event.type), fi_error_text(error));
    handler_.on_cm_event(event);
    return true;
}

void OfiEndpoint::break_connection() {
    if (state_ != State::connected) return;
    state_ = State::draining;
    // Tells the peer; on tcp this also flushes the provider's queues into our CQ at once.
    const int ret = fi_shutdown(ep_, 0);
    if (ret != 0) ofi_log().debug("fi_shutdown: {}", fi_error_text(ret));
}

void OfiEndpoint::disconnect() {
    switch (state_) {
        case State::connected: break_connection(); break;
        case State::connecting:
        case State::accepting:
            fi_shutdown(ep_, 0);
            pending_outcome_.reset();
            state_ = State::flushing;
            break;
        default: break;
    }
}

}  // namespace ibnbd::fabric::ofi
