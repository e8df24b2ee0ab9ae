// Translation of rdma-core results into the fabric interface's values, and names for logs.
// The work completion mapping is the table in verbs_fabric.hpp ("POSTING AND COMPLETIONS").
//
// Call errors (errno of a failed ibv_* / rdma_* call) map to Errc:
//   ENOMEM, ENOSPC, EMFILE, ENFILE, EAGAIN   no_resources
//   EADDRINUSE                               address_in_use
//   EADDRNOTAVAIL, ENODEV, EAFNOSUPPORT      address_invalid
//   EINVAL                                   invalid_argument
//   ENOTCONN                                 not_connected
//   anything else                            backend_error
#pragma once

#include <string>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::verbs {

WcStatus wc_status_from_ibv(ibv_wc_status status);
Errc errc_from_errno(int error);
// "<strerror> (<number>)".
std::string errno_text(int error);
const char* cm_event_name(rdma_cm_event_type type);

// IB CM REJ reason of a reject sent by a consumer (rdma_reject); others mean "not reached".
inline constexpr int kConsumerRejectReason = 28;  // IB_CM_REJ_CONSUMER_DEFINED

}  // namespace ibnbd::fabric::verbs
