// A passive endpoint (fi_passive_ep + fi_listen) and the connect requests it produces.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include <rdma/fabric.h>
#include <rdma/fi_endpoint.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::ofi {

class Domain;

class OfiListener final : public Listener {
public:
    // Errors: address_invalid, address_in_use, backend_error.
    static Expected<std::unique_ptr<OfiListener>, Errc> create(Domain& domain, const Address& address,
                                                               ListenerHandler& handler);
    ~OfiListener() override;

    const Address& address() const override { return address_; }
    std::uint64_t dropped_connections() const override { return dropped_; }

    // ---- for the Domain ----
    const fid* provider_fid() const { return pep_ ? &pep_->fid : nullptr; }
    // Presents one FI_CONNREQ to the handler; takes ownership of `request`. An unanswered
    // request is rejected when the handler returns.
    void on_connect_request(fi_info* request, std::span<const std::byte> private_data);
    // The domain's sweep closed a connection accepted on this listener (ofi_pending.hpp).
    void count_dropped() { ++dropped_; }

private:
    OfiListener(Domain& domain, ListenerHandler& handler);
    Status<Errc> open(const Address& address);

    Domain& domain_;
    ListenerHandler& handler_;
    // The only owner: the pep closes with this listener. Requests hold weak references, so that
    // one whose listener is gone (destroyed inside the callback, or before a detached request is
    // answered) finds that out instead of rejecting through a closed pep.
    std::shared_ptr<fid_pep> pep_;
    Address address_;
    std::uint64_t dropped_ = 0;
};

// Valid only during ListenerHandler::on_connect_request().
class OfiConnectRequest final : public ConnectRequest {
public:
    OfiConnectRequest(Domain& domain, std::weak_ptr<fid_pep> pep, fi_info* request,
                      std::span<const std::byte> private_data, const Address& local);
    ~OfiConnectRequest() override;

    std::span<const std::byte> private_data() const override { return private_data_; }
    const Address& peer_address() const override { return peer_; }
    const Address& local_address() const override { return local_; }
    Expected<std::unique_ptr<Endpoint>, Errc> accept(std::span<const std::byte> private_data,
                                                     EndpointHandler& handler,
                                                     QueueSizes queues) override;
    Status<Errc> reject(std::span<const std::byte> private_data) override;
    // Hands the fi_info (with its handle) over to an OfiDetachedRequest.
    Expected<std::unique_ptr<DetachedConnectRequest>, Errc> detach() override;

    bool answered() const { return answered_; }

private:
    Domain& domain_;
    std::weak_ptr<fid_pep> pep_;
    fi_info* request_;  // null once detached
    std::span<const std::byte> private_data_;
    Address peer_;
    Address local_;
    bool answered_ = false;
};

// ---- answering a FI_CONNREQ, shared by OfiConnectRequest and OfiDetachedRequest ----
// `request` is the FI_CONNREQ's fi_info; it stays owned by the caller. Its handle is consumed
// by the provider when the request is answered (fi_accept or fi_reject), never by fi_freeinfo.

// Accepts on `domain` (the receiving one or, for a detached request, any of the same provider).
// Sets `answered` unless the arguments were refused (private_data_too_long, invalid_argument):
// after a provider failure the connection went with the endpoint that could not be set up.
Expected<std::unique_ptr<Endpoint>, Errc> accept_request(Domain& domain, fi_info* request,
                                                         std::span<const std::byte> private_data,
                                                         EndpointHandler& handler, QueueSizes queues,
                                                         const Address& peer, bool& answered);
// Rejects through `pep` with tagged private data (see ofi_fabric.hpp); with a null pep (its
// listener is gone) drops the request instead, on `domain`, the receiving one. Sets `answered`
// unless the data is too long. Errors: private_data_too_long, backend_error.
Status<Errc> reject_request(Domain& domain, fid_pep* pep, fi_info* request,
                            std::span<const std::byte> private_data, const Address& peer,
                            bool& answered);
// Gives up a request that can no longer be rejected (its listener is gone) on `domain`, the
// receiving one. The client sees its connect fail (tcp: its socket closes) rather than waiting
// for an answer that never comes.
void drop_request(Domain& domain, fi_info* request);

}  // namespace ibnbd::fabric::ofi
