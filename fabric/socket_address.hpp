// Socket addresses for the backends that speak IP (libfabric, verbs).
#pragma once

#include <sys/socket.h>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric {

// The Address of a sockaddr (numeric host and port); an empty Address for null or families
// other than AF_INET and AF_INET6.
Address to_address(const sockaddr* address);

}  // namespace ibnbd::fabric
