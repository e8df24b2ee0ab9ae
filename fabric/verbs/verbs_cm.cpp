// RdmaDevice: the RDMA CM event channel. An event names its object through rdma_cm_id::context (a
// CmOwner); a listener that is gone leaves a null context behind, and its connect requests are
// rejected. A detached connect request's id has a null context too until a fabric accepts it
// (librdmacm drops the events of an id not accepted yet anyway). Every event is acknowledged right
// after its dispatch, before any id is destroyed: rdma_destroy_id() and rdma_migrate_id() wait
// for the acknowledgement of every event reported for their id.
#include <cerrno>

#include "fabric/verbs/verbs_connection.hpp"
#include "fabric/verbs/verbs_device.hpp"
#include "fabric/verbs/verbs_errors.hpp"
#include "fabric/verbs/verbs_listener.hpp"
#include "fabric/verbs/verbs_log.hpp"

namespace ibnbd::fabric::verbs {

std::size_t RdmaDevice::poll_cm(std::size_t budget) {
    std::size_t delivered = 0;
    dispatching_ = true;
    while (delivered < budget) {
        rdma_cm_event* event = nullptr;
        if (rdma_get_cm_event(cm_channel_, &event) != 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                verbs_log().error("rdma_get_cm_event: {}", errno_text(errno));
            }
            break;
        }
        delivered += dispatch(event);
    }
    dispatching_ = false;
    for (rdma_cm_id* id : doomed_ids_) rdma_destroy_id(id);
    doomed_ids_.clear();
    return delivered;
}

std::size_t RdmaDevice::dispatch(rdma_cm_event* event) {
    verbs_log().trace("cm event {} (status {})", cm_event_name(event->event), event->status);
    if (event->event == RDMA_CM_EVENT_CONNECT_REQUEST) return dispatch_connect_request(event);
    auto* owner = static_cast<CmOwner*>(event->id->context);
    std::size_t delivered = 0;
    if (owner != nullptr && owner->kind == CmOwner::Kind::connection) {
        delivered = static_cast<Connection*>(owner)->on_cm_event(*event) ? 1 : 0;
    } else if (owner != nullptr && owner->kind == CmOwner::Kind::listener) {
        static_cast<VerbsListener*>(owner)->on_cm_event(*event);
    }
    rdma_ack_cm_event(event);
    return delivered;
}

std::size_t RdmaDevice::dispatch_connect_request(rdma_cm_event* event) {
    rdma_cm_id* request_id = event->id;
    auto* owner = static_cast<CmOwner*>(event->listen_id->context);
    bool adopted = false;
    std::size_t delivered = 0;
    if (owner != nullptr && owner->kind == CmOwner::Kind::listener) {
        delivered = 1;
        adopted = static_cast<VerbsListener*>(owner)->on_connect_request(*event);
    } else {
        rdma_reject(request_id, nullptr, 0);
    }
    rdma_ack_cm_event(event);
    // A request neither accepted nor detached keeps no connection: its id goes now.
    if (!adopted) rdma_destroy_id(request_id);
    return delivered;
}

}  // namespace ibnbd::fabric::verbs
