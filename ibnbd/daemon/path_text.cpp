#include "ibnbd/daemon/path_text.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <optional>
#include <string_view>

namespace ibnbd::daemon {

namespace {

// IPv4 in dotted-quad form (inet_pton: not "127.1"), or IPv6 with an optional "%scope".
bool is_ip_literal(const std::string& host) {
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return true;
    const auto percent = host.find('%');
    if (percent != std::string::npos && percent + 1 == host.size()) return false;
    return ::inet_pton(AF_INET6, host.substr(0, percent).c_str(), &v6) == 1;
}

Expected<fabric::Address, std::string> parse_endpoint(std::string_view text, std::uint16_t default_port) {
    auto address = fabric::Address::parse(text, default_port);
    if (!address) return unexpected("'" + std::string(text) + "' is not ADDRESS[:PORT]");
    if (!is_ip_literal(address->host)) return unexpected("'" + address->host + "' is not an IP address");
    return *address;
}

// "HOST[:PORT]" with HOST resolved; the port stays as written (or absent).
Expected<std::string, std::string> resolve_endpoint(std::string_view text) {
    auto address = fabric::Address::parse(text, 0);
    if (!address) return unexpected("'" + std::string(text) + "' is not HOST[:PORT]");
    if (is_ip_literal(address->host)) return std::string(text);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* results = nullptr;
    if (::getaddrinfo(address->host.c_str(), nullptr, &hints, &results) != 0 || results == nullptr) {
        return unexpected("cannot resolve '" + address->host + "'");
    }
    char host[NI_MAXHOST];
    const int named = ::getnameinfo(results->ai_addr, results->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
    const bool v6 = results->ai_family == AF_INET6;
    ::freeaddrinfo(results);
    if (named != 0) return unexpected("cannot resolve '" + address->host + "'");
    std::string resolved = v6 ? "[" + std::string(host) + "]" : std::string(host);
    if (address->port != 0) resolved += ":" + std::to_string(address->port);
    return resolved;
}

}  // namespace

Expected<ibtrs::PathSpec, std::string> parse_path(const std::string& text, std::uint16_t default_port) {
    ibtrs::PathSpec spec;
    std::string_view destination = text;
    if (const auto at = text.find('@'); at != std::string::npos) {
        auto source = parse_endpoint(std::string_view(text).substr(0, at), 0);
        if (!source) return unexpected(source.error());
        spec.source = *source;
        destination.remove_prefix(at + 1);
    }
    auto parsed = parse_endpoint(destination, default_port);
    if (!parsed) return unexpected(parsed.error());
    spec.destination = *parsed;
    return spec;
}

Expected<std::string, std::string> resolve_path_names(const std::string& text) {
    const auto at = text.find('@');
    if (at == std::string::npos) return resolve_endpoint(text);
    auto source = resolve_endpoint(std::string_view(text).substr(0, at));
    if (!source) return source;
    auto destination = resolve_endpoint(std::string_view(text).substr(at + 1));
    if (!destination) return destination;
    return *source + "@" + *destination;
}

}  // namespace ibnbd::daemon
