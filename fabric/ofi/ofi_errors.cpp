#include "fabric/ofi/ofi_errors.hpp"

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>
#include <rdma/fi_errno.h>

namespace ibnbd::fabric::ofi {

WcStatus wc_status_from_fi_error(int error) {
    switch (std::abs(error)) {
        case FI_ECANCELED: return WcStatus::flushed;
        case FI_EACCES:
        case FI_EKEYREJECTED:
        case FI_EPERM:
        case FI_EFAULT: return WcStatus::remote_access_error;
        case FI_EREMOTEIO: return WcStatus::remote_operation_error;
        case FI_ENORX: return WcStatus::rnr_retry_exceeded;
        case FI_ETRUNC:
        case FI_EMSGSIZE:
        case FI_EINVAL:
        case FI_ENOMEM:
        case FI_EOVERFLOW:
        case FI_ETOOSMALL: return WcStatus::local_error;
        case FI_ECONNRESET:
        case FI_ECONNABORTED:
        case FI_ENOTCONN:
        case EPIPE:  // FI_EPIPE is commented out in fi_errno.h; FI_E* values equal errno
        case FI_ETIMEDOUT:
        case FI_EHOSTUNREACH:
        case FI_ENETUNREACH:
        case FI_ENETDOWN:
        case FI_ESHUTDOWN:
        case FI_ECONNREFUSED:
        case FI_EIO: return WcStatus::transport_retry_exceeded;
        default: return WcStatus::general_error;
    }
}

Errc errc_from_fi_return(long ret) {
    switch (std::labs(ret)) {
        case FI_EAGAIN: return Errc::queue_full;
        case FI_EADDRINUSE: return Errc::address_in_use;
        case FI_EADDRNOTAVAIL:
        case FI_ENODATA: return Errc::address_invalid;
        case FI_ENOMEM:
        case FI_ENOSPC:
        case FI_EMFILE: return Errc::no_resources;
        case FI_ENOTCONN:
        case FI_ESHUTDOWN: return Errc::not_connected;
        case FI_EINVAL: return Errc::invalid_argument;
        default: return Errc::backend_error;
    }
}

std::string fi_error_text(long ret) {
    const int error = static_cast<int>(std::labs(ret));
    return fmt::format("{} ({})", fi_strerror(error), error);
}

}  // namespace ibnbd::fabric::ofi
