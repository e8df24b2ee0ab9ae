#include "fabric/ofi/ofi_listener.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#include <rdma/fi_cm.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "fabric/ofi/ofi_address.hpp"
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
    if (pep_) fi_close(&pep_->fid);
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
    int ret = fi_passive_ep(domain_.fabric(), info, &pep_, nullptr);
    fi_freeinfo(info);
    if (ret == 0) ret = fi_pep_bind(pep_, &domain_.eq()->fid, 0);
    if (ret == 0) ret = fi_listen(pep_);
    if (ret != 0) {
        ofi_log().debug("listen on {}: {}", address.to_string(), fi_error_text(ret));
        const Errc errc = errc_from_fi_return(ret);
        return unexpected(errc == Errc::address_in_use || errc == Errc::address_invalid
                              ? errc
                              : Errc::backend_error);
    }
    sockaddr_storage bound{};
    std::size_t length = sizeof(bound);
    ret = fi_getname(&pep_->fid, &bound, &length);
    address_ = ret == 0 ? to_address(reinterpret_cast<const sockaddr*>(&bound)) : address;
    ofi_log().debug("listening on {}", address_.to_string());
    return {};
}

void OfiListener::on_connect_request(fi_info* request, std::span<const std::byte> private_data) {
    OfiConnectRequest connect_request(domain_, pep_, request, private_data, address_);
    fid_pep* pep = pep_;
    Domain& domain = domain_;
    handler_.on_connect_request(connect_request);
    // The handler may have destroyed this listener; then the request can no longer be rejected
    // through it and is simply dropped (the client sees the connection fail).
    if (!connect_request.answered() && domain.contains(this) && pep == pep_) {
        (void)connect_request.reject({});
    }
}

OfiConnectRequest::OfiConnectRequest(Domain& domain, fid_pep* pep, fi_info* request,
                                     std::span<const std::byte> private_data, const Address& local)
    : domain_(domain),
      pep_(pep),
      request_(request),
      private_data_(private_data),
      peer_(to_address(static_cast<const sockaddr*>(request->dest_addr))),
      local_(local) {}

OfiConnectRequest::~OfiConnectRequest() {
    fi_freeinfo(request_);
}

Expected<std::unique_ptr<Endpoint>, Errc> OfiConnectRequest::accept(std::span<const std::byte> private_data,
                                                                    EndpointHandler& handler,
                                                                    QueueSizes queues) {
    if (answered_) return unexpected(Errc::invalid_argument);
    auto endpoint = OfiEndpoint::accept(domain_, request_, private_data, handler, queues, peer_);
    if (!endpoint) {
        // Argument errors leave the request untouched; after a provider failure its connection
        // went with the endpoint that could not be set up, so it cannot be answered again.
        const Errc error = endpoint.error();
        if (error != Errc::private_data_too_long && error != Errc::invalid_argument) answered_ = true;
        return unexpected(error);
    }
    answered_ = true;
    return std::unique_ptr<Endpoint>(std::move(*endpoint));
}

Status<Errc> OfiConnectRequest::reject(std::span<const std::byte> private_data) {
    if (answered_) return unexpected(Errc::invalid_argument);
    // kMaxRejectPrivateData as on InfiniBand and RoCE, so that no backend accepts more.
    const std::size_t limit = std::min(kMaxRejectPrivateData, domain_.traits().cm_data_size);
    if (private_data.size() > limit) return unexpected(Errc::private_data_too_long);
    std::array<std::byte, kMaxAcceptPrivateData + 1> tagged{};
    std::size_t length = 0;
    // Tag the data so the active side can tell a reject from a refused connection.
    if (private_data.size() + 1 <= domain_.traits().cm_data_size) tagged[length++] = kRejectTag;
    if (!private_data.empty()) std::memcpy(tagged.data() + length, private_data.data(), private_data.size());
    length += private_data.size();
    answered_ = true;
    const int ret = fi_reject(pep_, request_->handle, tagged.data(), length);
    if (ret != 0) {
        ofi_log().warn("fi_reject from {}: {}", peer_.to_string(), fi_error_text(ret));
        return unexpected(Errc::backend_error);
    }
    return {};
}

}  // namespace ibnbd::fabric::ofi
