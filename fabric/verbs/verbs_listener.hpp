// A listening rdma_cm id and the connect requests it produces.
#pragma once

#include <memory>
#include <span>

#include <rdma/rdma_cma.h>

#include "fabric/fabric.hpp"
#include "fabric/verbs/verbs_device.hpp"

namespace ibnbd::fabric::verbs {

class VerbsListener final : public Listener, public CmOwner {
public:
    // Errors: address_invalid (unparsable, or an address of another RDMA device), address_in_use,
    // backend_error.
    static Expected<std::unique_ptr<VerbsListener>, Errc> create(Device& device, const Address& address,
                                                                 ListenerHandler& handler);
    ~VerbsListener() override;

    const Address& address() const override { return address_; }

    // ---- for the Device ----
    // Presents one CONNECT_REQUEST to the handler. Returns whether a connection took ownership
    // of the request's id (the Device destroys it otherwise, after the acknowledgement).
    bool on_connect_request(const rdma_cm_event& event);
    // Other events of the listening id (DEVICE_REMOVAL, ADDR_CHANGE) are logged.
    void on_cm_event(const rdma_cm_event& event);

private:
    VerbsListener(Device& device, ListenerHandler& handler);
    Status<Errc> open(const Address& address);

    Device& device_;
    ListenerHandler& handler_;
    rdma_cm_id* id_ = nullptr;
    Address address_;
};

// Valid only during ListenerHandler::on_connect_request().
class VerbsConnectRequest final : public ConnectRequest {
public:
    VerbsConnectRequest(Device& device, const rdma_cm_event& event);

    std::span<const std::byte> private_data() const override { return private_data_; }
    const Address& peer_address() const override { return peer_; }
    const Address& local_address() const override { return local_; }
    Expected<std::unique_ptr<Endpoint>, Errc> accept(std::span<const std::byte> private_data,
                                                     EndpointHandler& handler, QueueSizes queues) override;
    Status<Errc> reject(std::span<const std::byte> private_data) override;

    bool answered() const { return answered_; }
    bool id_adopted() const { return id_adopted_; }

private:
    Device& device_;
    rdma_cm_id* id_;
    rdma_conn_param param_;
    std::span<const std::byte> private_data_;
    Address peer_;
    Address local_;
    bool answered_ = false;
    bool id_adopted_ = false;
};

}  // namespace ibnbd::fabric::verbs
