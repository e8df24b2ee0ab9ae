#include "fabric/ofi/ofi_detached_request.hpp"

#include <cstring>

#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_listener.hpp"
#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

namespace {

bool same_name(const char* a, const char* b) {
    return (a == nullptr && b == nullptr) || (a != nullptr && b != nullptr && std::strcmp(a, b) == 0);
}

}  // namespace

OfiDetachedRequest::OfiDetachedRequest(Domain& receiver, std::weak_ptr<fid_pep> pep, fi_info* request,
                                       std::span<const std::byte> private_data, const Address& peer,
                                       const Address& local)
    : receiver_(receiver),
      pep_(std::move(pep)),
      request_(request),
      private_data_(private_data.begin(), private_data.end()),
      peer_(peer),
      local_(local) {}

OfiDetachedRequest::~OfiDetachedRequest() {
    if (!answered_) (void)reject({});
    fi_freeinfo(request_);
}

Status<Errc> OfiDetachedRequest::reject(std::span<const std::byte> private_data) {
    if (answered_) return unexpected(Errc::invalid_argument);
    const std::shared_ptr<fid_pep> pep = pep_.lock();
    return reject_request(receiver_, pep.get(), request_, private_data, peer_, answered_);
}

bool OfiDetachedRequest::fits(const Domain& target) const {
    // The handle is the provider's (tcp: the accepted socket; verbs: a cm id on one device):
    // only a domain of the same provider and the same name can take it over.
    const fi_info* info = target.info();
    if (!request_->fabric_attr || !request_->domain_attr || !info->fabric_attr || !info->domain_attr) {
        return false;
    }
    return same_name(request_->fabric_attr->prov_name, info->fabric_attr->prov_name) &&
           same_name(request_->domain_attr->name, info->domain_attr->name);
}

Expected<std::unique_ptr<Endpoint>, Errc> OfiDetachedRequest::accept_on(Domain& target,
                                                                        std::span<const std::byte> private_data,
                                                                        EndpointHandler& handler,
                                                                        QueueSizes queues) {
    if (answered_) return unexpected(Errc::invalid_argument);
    if (!fits(target)) {
        ofi_log().debug("a connect request from {} cannot be accepted on another provider or domain",
                        peer_.to_string());
        return unexpected(Errc::invalid_argument);
    }
    // The endpoint is created on `target` from the request's info: it takes the handle over and
    // binds to the target's event queue and CQ, so its events and completions are that fabric's.
    return accept_request(target, request_, private_data, handler, queues, peer_, answered_);
}

}  // namespace ibnbd::fabric::ofi
