// The libfabric backend's logger. fabric/ sits below core/, so it cannot use core/log.hpp; this
// logger follows the same conventions: spdlog, level from the IBNBD_LOG environment variable
// (trace, debug, info, warn, error, off; default warn), logger name "ibnbd.ofi".
#pragma once

#include <spdlog/spdlog.h>

namespace ibnbd::fabric::ofi {

spdlog::logger& ofi_log();

}  // namespace ibnbd::fabric::ofi
