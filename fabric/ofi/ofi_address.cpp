#include "fabric/ofi/ofi_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <rdma/fabric.h>

namespace ibnbd::fabric::ofi {

Expected<SocketAddress, Errc> resolve_address(const Address& address) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (address.host.empty() ? AI_PASSIVE : 0);
    const std::string service = std::to_string(address.port);
    addrinfo* results = nullptr;
    const char* node = address.host.empty() ? nullptr : address.host.c_str();
    if (getaddrinfo(node, service.c_str(), &hints, &results) != 0 || results == nullptr) {
        return unexpected(Errc::address_invalid);
    }
    SocketAddress resolved;
    const addrinfo* chosen = results;
    if (chosen->ai_addrlen > sizeof(resolved.storage) ||
        (chosen->ai_family != AF_INET && chosen->ai_family != AF_INET6)) {
        freeaddrinfo(results);
        return unexpected(Errc::address_invalid);
    }
    std::memcpy(&resolved.storage, chosen->ai_addr, chosen->ai_addrlen);
    resolved.length = chosen->ai_addrlen;
    resolved.fi_format = chosen->ai_family == AF_INET ? FI_SOCKADDR_IN : FI_SOCKADDR_IN6;
    freeaddrinfo(results);
    return resolved;
}

void* malloc_copy(const SocketAddress& address) {
    void* copy = std::malloc(address.length);
    if (copy != nullptr) std::memcpy(copy, &address.storage, address.length);
    return copy;
}

}  // namespace ibnbd::fabric::ofi
