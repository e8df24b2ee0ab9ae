#include "fabric/verbs/verbs_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace ibnbd::fabric::verbs {

Expected<SocketAddress, Errc> resolve_address(const Address& address) {
    addrinfo hints{};
    hints.ai_family = address.host.empty() ? AF_INET : AF_UNSPEC;
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
    const bool usable = chosen->ai_addrlen <= sizeof(resolved.storage) &&
                        (chosen->ai_family == AF_INET || chosen->ai_family == AF_INET6);
    if (usable) {
        std::memcpy(&resolved.storage, chosen->ai_addr, chosen->ai_addrlen);
        resolved.length = chosen->ai_addrlen;
    }
    freeaddrinfo(results);
    if (!usable) return unexpected(Errc::address_invalid);
    return resolved;
}

}  // namespace ibnbd::fabric::verbs
