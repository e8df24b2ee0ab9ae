// The verbs backend's logger: spdlog, logger name "ibnbd.verbs", level from the IBNBD_LOG
// environment variable (trace, debug, info, warn, error, off; default warn), as ofi_log.hpp.
#pragma once

#include <spdlog/spdlog.h>

namespace ibnbd::fabric::verbs {

spdlog::logger& verbs_log();

}  // namespace ibnbd::fabric::verbs
