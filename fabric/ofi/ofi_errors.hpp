// Translation of libfabric error numbers into the fabric interface's error values.
//
// Work completion errors (fi_cq_err_entry.err, a positive FI_E* number) map to WcStatus:
//
//   FI_ECANCELED                                  flushed (the provider discarded posted work
//                                                 because the endpoint was shut down)
//   FI_EACCES, FI_EKEYREJECTED, FI_EPERM,
//   FI_EFAULT                                     remote_access_error (bad key, range, access)
//   FI_EREMOTEIO                                  remote_operation_error
//   FI_ENORX                                      rnr_retry_exceeded
//   FI_ETRUNC, FI_EMSGSIZE, FI_EINVAL, FI_ENOMEM,
//   FI_EOVERFLOW, FI_ETOOSMALL                    local_error (local length or argument problem)
//   FI_ECONNRESET, FI_ECONNABORTED, FI_ENOTCONN,
//   FI_EPIPE, FI_ETIMEDOUT, FI_EHOSTUNREACH,
//   FI_ENETUNREACH, FI_ENETDOWN, FI_ESHUTDOWN,
//   FI_ECONNREFUSED, FI_EIO                       transport_retry_exceeded (connection lost)
//   anything else                                 general_error
//
// Call errors (negative return values of fi_* calls) map to Errc:
//
//   -FI_EAGAIN                                    queue_full (provider queue has no room now)
//   -FI_EADDRINUSE                                address_in_use
//   -FI_EADDRNOTAVAIL, -FI_ENODATA                address_invalid
//   -FI_ENOMEM, -FI_ENOSPC, -FI_EMFILE            no_resources
//   -FI_ENOTCONN, -FI_ESHUTDOWN                   not_connected
//   -FI_EINVAL                                    invalid_argument
//   anything else                                 backend_error
#pragma once

#include <string>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::ofi {

// `error` is a positive FI_E* value as found in fi_cq_err_entry.err.
WcStatus wc_status_from_fi_error(int error);

// `ret` is the (negative) return value of a failed fi_* call; positive values are accepted too.
Errc errc_from_fi_return(long ret);

// Human text for logs: "<fi_strerror> (<number>)".
std::string fi_error_text(long ret);

}  // namespace ibnbd::fabric::ofi
