// A listening rdma_cm id and the connect requests it produces, in the callback and detached.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include <rdma/rdma_cma.h>

#include "fabric/fabric.hpp"
#include "fabric/verbs/verbs_device.hpp"

namespace ibnbd::fabric::verbs {

class VerbsListener final : public Listener, public CmOwner {
public:
    // Errors: address_invalid (unparsable, or an address of another RDMA device), address_in_use,
    // backend_error.
    static Expected<std::unique_ptr<VerbsListener>, Errc> create(RdmaDevice& device, const Address& address,
                                                                 ListenerHandler& handler);
    ~VerbsListener() override;

    const Address& address() const override { return address_; }

    // ---- for the RdmaDevice ----
    // Presents one CONNECT_REQUEST to the handler. Returns whether a connection or a detached
    // request took ownership of the request's id (the RdmaDevice destroys it otherwise, after the
    // acknowledgement).
    bool on_connect_request(const rdma_cm_event& event);
    // Other events of the listening id (DEVICE_REMOVAL, ADDR_CHANGE) are logged.
    void on_cm_event(const rdma_cm_event& event);

private:
    VerbsListener(RdmaDevice& device, ListenerHandler& handler);
    Status<Errc> open(const Address& address);

    RdmaDevice& device_;
    ListenerHandler& handler_;
    rdma_cm_id* id_ = nullptr;
    Address address_;
};

// A connect request as both of its forms hold it: the request's id, the active side's connection
// parameters (with private_data cleared: it points into the CM event), the addresses and whether
// the request was answered. The accept and reject logic of both forms.
class IncomingRequest {
public:
    explicit IncomingRequest(const rdma_cm_event& event);

    rdma_cm_id* id() const { return id_; }
    const Address& peer() const { return peer_; }
    const Address& local() const { return local_; }
    bool answered() const { return answered_; }
    // What accept() refuses before answering: invalid_argument (answered already, a queue size of
    // 0), private_data_too_long.
    Status<Errc> check_accept(std::span<const std::byte> private_data, QueueSizes queues) const;
    // Accepts on `device`, whose CM event channel the id must be on; check_accept() first. Answers
    // the request: the connection takes the id even when it fails (no_resources).
    Expected<std::unique_ptr<Endpoint>, Errc> accept(RdmaDevice& device, std::span<const std::byte> private_data,
                                                     EndpointHandler& handler, QueueSizes queues);
    // Sends the REJ; the id stays with the caller. Errors: invalid_argument (answered already),
    // private_data_too_long (both leave it unanswered), backend_error (answered nevertheless).
    Status<Errc> reject(std::span<const std::byte> private_data);
    // The request was handed on (ConnectRequest::detach()): this copy no longer answers it.
    void hand_over() { answered_ = true; }

private:
    rdma_cm_id* id_;
    rdma_conn_param param_;
    Address peer_;
    Address local_;
    bool answered_ = false;
};

// Valid only during ListenerHandler::on_connect_request().
class VerbsConnectRequest final : public ConnectRequest {
public:
    VerbsConnectRequest(RdmaDevice& device, const rdma_cm_event& event);

    std::span<const std::byte> private_data() const override { return private_data_; }
    const Address& peer_address() const override { return request_.peer(); }
    const Address& local_address() const override { return request_.local(); }
    Expected<std::unique_ptr<Endpoint>, Errc> accept(std::span<const std::byte> private_data,
                                                     EndpointHandler& handler, QueueSizes queues) override;
    Status<Errc> reject(std::span<const std::byte> private_data) override;
    Expected<std::unique_ptr<DetachedConnectRequest>, Errc> detach() override;

    bool answered() const { return request_.answered(); }
    // Whether a connection or a detached request took the id (else the RdmaDevice destroys it).
    bool id_adopted() const { return id_adopted_; }

private:
    RdmaDevice& device_;
    IncomingRequest request_;
    std::span<const std::byte> private_data_;  // in the CM event
    bool id_adopted_ = false;
};

// A connect request taken out of the listener callback (fabric.hpp). Its id stays on the receiving
// ("home") RdmaDevice's CM event channel, with a null context, until it is answered:
//   - accept_on() the home RdmaDevice creates the connection as VerbsConnectRequest::accept() does;
//   - accept_on() another RdmaDevice (a sibling fabric, on that fabric's thread) first moves the id to
//     that RdmaDevice's event channel with rdma_migrate_id(), so its CM events are read there, then
//     creates the QP on that RdmaDevice's PD and CQ and sends the REP. rdma_migrate_id() waits until
//     every event the home channel reported for the id was acknowledged: the home RdmaDevice does that
//     right after each dispatch, and the CONNECT_REQUEST itself counts on the listening id (the
//     kernel reports it there and librdmacm acknowledges it there), so the wait is short and does
//     not depend on the home thread's callback having returned. The id's context is set only
//     after the migration, so the home RdmaDevice never dispatches to the connection.
//   - reject() or the destructor (on the home fabric's thread) send the REJ and destroy the id.
// Only the ibv_context must match: librdmacm opens each device once per process, so every fabric
// on the same device shares it (and the id's QP may use any of their PDs and CQs).
class VerbsDetachedRequest final : public DetachedConnectRequest {
public:
    VerbsDetachedRequest(RdmaDevice& home, const IncomingRequest& request, std::span<const std::byte> private_data);
    ~VerbsDetachedRequest() override;
    VerbsDetachedRequest(const VerbsDetachedRequest&) = delete;
    VerbsDetachedRequest& operator=(const VerbsDetachedRequest&) = delete;

    std::span<const std::byte> private_data() const override { return private_data_; }
    const Address& peer_address() const override { return request_.peer(); }
    const Address& local_address() const override { return request_.local(); }
    bool answered() const override { return request_.answered(); }
    Status<Errc> reject(std::span<const std::byte> private_data) override;

    // VerbsFabric::accept() on the fabric of `device`, on its thread. Errors: those of
    // VerbsConnectRequest::accept(); invalid_argument also for a RdmaDevice on another RDMA device, and
    // no_resources when the migration fails - both leave the request unanswered.
    Expected<std::unique_ptr<Endpoint>, Errc> accept_on(RdmaDevice& device, std::span<const std::byte> private_data,
                                                        EndpointHandler& handler, QueueSizes queues);

private:
    RdmaDevice& home_;
    IncomingRequest request_;
    std::vector<std::byte> private_data_;
};

}  // namespace ibnbd::fabric::verbs
