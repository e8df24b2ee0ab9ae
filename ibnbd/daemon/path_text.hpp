// Paths as operators write them: "[SRC@]DST[:PORT]", IPv6 in brackets when a port
// follows ("[fd00::1]:1234"). The daemon takes IP addresses only, as the kernel's rnbd does: a
// host name would need a DNS lookup on a reactor thread, and an address nobody can resolve would
// be accepted and then retried forever. The ibnbd CLI resolves names before it sends a path.
#pragma once

#include <cstdint>
#include <string>

#include "core/ibtrs/client_session.hpp"
#include "fabric/expected.hpp"

namespace ibnbd::daemon {

// Errors: what is wrong with `text`, for a message ("'nonsense' is not an IP address").
Expected<ibtrs::PathSpec, std::string> parse_path(const std::string& text, std::uint16_t default_port);

// `text` with every host name replaced by its first address (getaddrinfo; may block on DNS, so
// for tools, never for a reactor thread). Errors: what could not be parsed or resolved.
Expected<std::string, std::string> resolve_path_names(const std::string& text);

}  // namespace ibnbd::daemon
