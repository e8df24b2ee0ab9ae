// A connect request taken out of ListenerHandler::on_connect_request() (ConnectRequest::detach()),
// answered later: accepted by any OfiFabric of the same provider and domain, on that fabric's
// thread, or rejected on the thread of the fabric that received it.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include <rdma/fabric.h>
#include <rdma/fi_endpoint.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::ofi {

class Domain;

class OfiDetachedRequest final : public DetachedConnectRequest {
public:
    // Takes ownership of `request` (the FI_CONNREQ's fi_info with its handle); copies the data.
    OfiDetachedRequest(Domain& receiver, std::weak_ptr<fid_pep> pep, fi_info* request,
                       std::span<const std::byte> private_data, const Address& peer,
                       const Address& local);
    // Unanswered: rejected with empty private data (dropped if its listener is gone).
    ~OfiDetachedRequest() override;
    OfiDetachedRequest(const OfiDetachedRequest&) = delete;
    OfiDetachedRequest& operator=(const OfiDetachedRequest&) = delete;

    std::span<const std::byte> private_data() const override { return private_data_; }
    const Address& peer_address() const override { return peer_; }
    const Address& local_address() const override { return local_; }
    bool answered() const override { return answered_; }
    Status<Errc> reject(std::span<const std::byte> private_data) override;

    // ---- for OfiFabric::accept() ----
    // Accepts on `target`, whose thread this runs on. Errors: as OfiConnectRequest::accept(), and
    // invalid_argument when answered already or when `target` has another provider or domain
    // (the request's handle belongs to that provider's domain: a tcp socket, a verbs cm id).
    Expected<std::unique_ptr<Endpoint>, Errc> accept_on(Domain& target,
                                                        std::span<const std::byte> private_data,
                                                        EndpointHandler& handler, QueueSizes queues);

private:
    bool fits(const Domain& target) const;

    Domain& receiver_;  // rejects and drops go through it, on its thread
    std::weak_ptr<fid_pep> pep_;
    fi_info* request_;
    std::vector<std::byte> private_data_;
    Address peer_;
    Address local_;
    bool answered_ = false;
};

}  // namespace ibnbd::fabric::ofi
