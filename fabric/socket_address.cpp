#include "fabric/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace ibnbd::fabric {

Address to_address(const sockaddr* address) {
    Address result;
    char text[INET6_ADDRSTRLEN] = {};
    if (address == nullptr) return result;
    if (address->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
        result.port = ntohs(in->sin_port);
    } else if (address->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
        result.port = ntohs(in6->sin6_port);
    } else {
        return result;
    }
    result.host = text;
    return result;
}

}  // namespace ibnbd::fabric
