#include "fabric/ofi/ofi_listener.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#include <rdma/fi_cm.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "fabric/ofi/ofi_address.hpp"
#include "fabric/ofi/ofi_detached_request.hpp"
#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_endpoint.hpp"
#include "fabric/ofi/ofi_errors.hpp"
#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

OfiListener::OfiListener(Domain& domain, ListenerHandler& handler) : domain_(domain), handler_(handler) {
    domain_.add(this);
}

OfiListener::~OfiListener() {
    domain_.remove(this);
    // Closes the pep: requests still holding a weak reference now drop instead of rejecting.
    pep_.reset();
}

Expected<std::unique_ptr<OfiListener>, Errc> OfiListener::create(Domain& domain, const Address& address,
                                                                 ListenerHandler& handler) {
    std::unique_ptr<OfiListener> listener(new OfiListener(domain, handler));
    if (auto opened = listener->open(address); !opened) return unexpected(opened.error());
    return listener;
}

Status<Errc> OfiListener::open(const Address& address) {
    auto resolved = resolve_address(address);
    if (!resolved) return unexpected(resolved.error());
    fi_info* info = domain_.duplicate_info();
    if (info == nullptr) return unexpected(Errc::no_resources);
    info->addr_format = resolved->fi_format;
    std::free(info->src_addr);
    info->src_addr = malloc_copy(*resolved);
    info->src_addrlen = resolved->length;
    fid_pep* pep = nullptr;
    int ret = fi_passive_ep(domain_.fabric(), info, &pep, nullptr);
    fi_freeinfo(info);
    if (ret == 0) pep_.reset(pep, [](fid_pep* closing) { fi_close(&closing->fid); });
    if (ret == 0) ret = fi_pep_bind(pep, &domain_.eq()->fid, 0);
    if (ret == 0) ret = fi_listen(pep);
    if (ret != 0) {
        ofi_log().debug("listen on {}: {}", address.to_string(), fi_error_text(ret));
        const Errc errc = errc_from_fi_return(ret);
        return unexpected(errc == Errc::address_in_use || errc == Errc::address_invalid
                              ? errc
                              : Errc::backend_error);
    }
    sockaddr_storage bound{};
    std::size_t length = sizeof(bound);
    ret = fi_getname(&pep->fid, &bound, &length);
    address_ = ret == 0 ? to_address(reinterpret_cast<const sockaddr*>(&bound)) : address;
    ofi_log().debug("listening on {}", address_.to_string());
    return {};
}

void OfiListener::on_connect_request(fi_info* request, std::span<const std::byte> private_data) {
    OfiConnectRequest connect_request(domain_, pep_, request, private_data, address_);
    handler_.on_connect_request(connect_request);
    // The handler may have destroyed this listener (do not touch `this`); the request then finds
    // its pep gone and is dropped rather than rejected.
    if (!connect_request.answered()) (void)connect_request.reject({});
}

OfiConnectRequest::OfiConnectRequest(Domain& domain, std::weak_ptr<fid_pep> pep, fi_info* request,
                                     std::span<const std::byte> private_data, const Address& local)
    : domain_(domain),
      pep_(std::move(pep)),
      request_(request),
      private_data_(private_data),
      peer_(to_address(static_cast<const sockaddr*>(request->dest_addr))),
      local_(local) {}

OfiConnectRequest::~OfiConnectRequest() {
    fi_freeinfo(request_);  // null once detached
}

Expected<std::unique_ptr<Endpoint>, Errc> OfiConnectRequest::accept(std::span<const std::byte> private_data,
                                                                    EndpointHandler& handler,
                                                                    QueueSizes queues) {
    if (answered_) return unexpected(Errc::invalid_argument);
    return accept_request(domain_, request_, private_data, handler, queues, peer_, answered_);
}

Status<Errc> OfiConnectRequest::reject(std::span<const std::byte> private_data) {
    if (answered_) return unexpected(Errc::invalid_argument);
    const std::shared_ptr<fid_pep> pep = pep_.lock();
    return reject_request(domain_, pep.get(), request_, private_data, peer_, answered_);
}

Expected<std::unique_ptr<DetachedConnectRequest>, Errc> OfiConnectRequest::detach() {
    if (answered_) return unexpected(Errc::invalid_argument);
    auto detached = std::make_unique<OfiDetachedRequest>(domain_, pep_, request_, private_data_, peer_, local_);
    request_ = nullptr;  // owned by the detached request now
    answered_ = true;
    return std::unique_ptr<DetachedConnectRequest>(std::move(detached));
}

Expected<std::unique_ptr<Endpoint>, Errc> accept_request(Domain& domain, fi_info* request,
                                                         std::span<const std::byte> private_data,
                                                         EndpointHandler& handler, QueueSizes queues,
                                                         const Address& peer, bool& answered) {
    auto endpoint = OfiEndpoint::accept(domain, request, private_data, handler, queues, peer);
    if (!endpoint) {
        // Argument errors leave the request untouched; after a provider failure its connection
        // went with the endpoint that could not be set up, so it cannot be answered again.
        const Errc error = endpoint.error();
        if (error != Errc::private_data_too_long && error != Errc::invalid_argument) answered = true;
        return unexpected(error);
    }
    answered = true;
    return std::unique_ptr<Endpoint>(std::move(*endpoint));
}

Status<Errc> reject_request(Domain& domain, fid_pep* pep, fi_info* request,
                            std::span<const std::byte> private_data, const Address& peer,
                            bool& answered) {
    // kMaxRejectPrivateData as on InfiniBand and RoCE, so that no backend accepts more.
    const std::size_t cm_data_size = domain.traits().cm_data_size;
    if (private_data.size() > std::min(kMaxRejectPrivateData, cm_data_size)) {
        return unexpected(Errc::private_data_too_long);
    }
    answered = true;
    if (pep == nullptr) {
        ofi_log().debug("dropping the request from {}: its listener is gone", peer.to_string());
        drop_request(domain, request);
        return {};
    }
    std::array<std::byte, kMaxAcceptPrivateData + 1> tagged{};
    std::size_t length = 0;
    // Tag the data so the active side can tell a reject from a refused connection.
    if (private_data.size() + 1 <= cm_data_size) tagged[length++] = kRejectTag;
    if (!private_data.empty()) std::memcpy(tagged.data() + length, private_data.data(), private_data.size());
    length += private_data.size();
    const int ret = fi_reject(pep, request->handle, tagged.data(), length);
    if (ret != 0) {
        ofi_log().warn("fi_reject from {}: {}", peer.to_string(), fi_error_text(ret));
        return unexpected(Errc::backend_error);
    }
    return {};
}

void drop_request(Domain& domain, fi_info* request) {
    // fi_freeinfo() leaves the handle alone, and on tcp the handle holds the accepted socket: the
    // client would wait for an answer forever. An endpoint made from the request takes that
    // socket over, and closing the endpoint closes it. (tcp still keeps the handle's own small
    // allocation: only fi_accept() and fi_reject() free it, and the latter needs a pep.)
    if (request == nullptr || request->handle == nullptr) return;
    fid_ep* endpoint = nullptr;
    const int ret = fi_endpoint(domain.domain(), request, &endpoint, nullptr);
    if (ret != 0) {
        ofi_log().warn("dropping a connect request: {}", fi_error_text(ret));
        return;
    }
    fi_close(&endpoint->fid);
}

}  // namespace ibnbd::fabric::ofi
