// Socket addresses for librdmacm: resolving an Address ("host" + port) into a sockaddr, and back.
//
// Hosts are IPv4 or IPv6 literals or names; names go through getaddrinfo(3), which may block on
// DNS: use literals on reactor threads. An empty host means "any" (the IPv4 wildcard).
#pragma once

#include <sys/socket.h>

#include "fabric/fabric.hpp"
#include "fabric/socket_address.hpp"

namespace ibnbd::fabric::verbs {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Errors: address_invalid (cannot be parsed or resolved, or not IPv4/IPv6).
Expected<SocketAddress, Errc> resolve_address(const Address& address);

using fabric::to_address;  // fabric/socket_address.hpp

}  // namespace ibnbd::fabric::verbs
