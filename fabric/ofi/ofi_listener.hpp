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

    // ---- for the Domain ----
    const fid* provider_fid() const { return pep_ ? &pep_->fid : nullptr; }
    // Presents one FI_CONNREQ to the handler; takes ownership of `request`. An unanswered
    // request is rejected when the handler returns.
    void on_connect_request(fi_info* request, std::span<const std::byte> private_data);

private:
    OfiListener(Domain& domain, ListenerHandler& handler);
    Status<Errc> open(const Address& address);

    Domain& domain_;
    ListenerHandler& handler_;
    fid_pep* pep_ = nullptr;
    Address address_;
};

// Valid only during ListenerHandler::on_connect_request().
class OfiConnectRequest final : public ConnectRequest {
public:
    OfiConnectRequest(Domain& domain, fid_pep* pep, fi_info* request,
                      std::span<const std::byte> private_data, const Address& local);
    ~OfiConnectRequest() override;

    std::span<const std::byte> private_data() const override { return private_data_; }
    const Address& peer_address() const override { return peer_; }
    const Address& local_address() const override { return local_; }
    Expected<std::unique_ptr<Endpoint>, Errc> accept(std::span<const std::byte> private_data,
                                                     EndpointHandler& handler,
                                                     QueueSizes queues) override;
    Status<Errc> reject(std::span<const std::byte> private_data) override;

    bool answered() const { return answered_; }

private:
    Domain& domain_;
    fid_pep* pep_;
    fi_info* request_;
    std::span<const std::byte> private_data_;
    Address peer_;
    Address local_;
    bool answered_ = false;
};

}  // namespace ibnbd::fabric::ofi
