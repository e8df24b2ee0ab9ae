#include "fabric/verbs/verbs_errors.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ibnbd::fabric::verbs {

WcStatus wc_status_from_ibv(ibv_wc_status status) {
    switch (status) {
        case IBV_WC_SUCCESS: return WcStatus::success;
        case IBV_WC_WR_FLUSH_ERR: return WcStatus::flushed;
        case IBV_WC_LOC_LEN_ERR:
        case IBV_WC_LOC_QP_OP_ERR:
        case IBV_WC_LOC_EEC_OP_ERR:
        case IBV_WC_LOC_PROT_ERR:
        case IBV_WC_LOC_ACCESS_ERR:
        case IBV_WC_LOC_RDD_VIOL_ERR:
        case IBV_WC_MW_BIND_ERR:
        case IBV_WC_BAD_RESP_ERR: return WcStatus::local_error;
        case IBV_WC_REM_ACCESS_ERR: return WcStatus::remote_access_error;
        case IBV_WC_REM_INV_REQ_ERR:
        case IBV_WC_REM_OP_ERR:
        case IBV_WC_REM_ABORT_ERR:
        case IBV_WC_REM_INV_RD_REQ_ERR: return WcStatus::remote_operation_error;
        case IBV_WC_RNR_RETRY_EXC_ERR: return WcStatus::rnr_retry_exceeded;
        case IBV_WC_RETRY_EXC_ERR: return WcStatus::transport_retry_exceeded;
        default: return WcStatus::general_error;
    }
}

Errc errc_from_errno(int error) {
    switch (error) {
        case ENOMEM:
        case ENOSPC:
        case EMFILE:
        case ENFILE:
        case EAGAIN: return Errc::no_resources;
        case EADDRINUSE: return Errc::address_in_use;
        case EADDRNOTAVAIL:
        case ENODEV:
        case EAFNOSUPPORT: return Errc::address_invalid;
        case EINVAL: return Errc::invalid_argument;
        case ENOTCONN: return Errc::not_connected;
        default: return Errc::backend_error;
    }
}

std::string errno_text(int error) {
    return fmt::format("{} ({})", std::strerror(error), error);
}

const char* cm_event_name(rdma_cm_event_type type) {
    return rdma_event_str(type);
}

}  // namespace ibnbd::fabric::verbs
