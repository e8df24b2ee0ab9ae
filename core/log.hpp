// The project's logger. Everything logs through one spdlog logger named "ibnbd"; state
// transitions at debug level, protocol violations by peers at warn, local failures at error.
// The level comes from the IBNBD_LOG environment variable (trace, debug, info, warn, error, off;
// default warn) so that tests stay quiet unless asked.
#pragma once

#include <spdlog/spdlog.h>

namespace ibnbd {

spdlog::logger& log();

}  // namespace ibnbd
