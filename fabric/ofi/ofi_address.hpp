// Socket addresses for libfabric endpoints: resolving an Address ("host" + port) into the
// sockaddr that fi_info's src_addr/dest_addr carry, and back.
//
// Hosts are IPv4 or IPv6 literals or names; names are resolved with getaddrinfo(3), which may
// block on DNS: use literals on reactor threads. An empty host means "any" (INADDR_ANY).
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "fabric/fabric.hpp"
#include "fabric/socket_address.hpp"

namespace ibnbd::fabric::ofi {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    std::uint32_t fi_format = 0;  // FI_SOCKADDR_IN or FI_SOCKADDR_IN6

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Errors: address_invalid (cannot be parsed or resolved).
Expected<SocketAddress, Errc> resolve_address(const Address& address);

using fabric::to_address;  // fabric/socket_address.hpp

// A malloc'ed copy, as fi_info's src_addr/dest_addr must be (fi_freeinfo frees them).
void* malloc_copy(const SocketAddress& address);

}  // namespace ibnbd::fabric::ofi
