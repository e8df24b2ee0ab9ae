// A listening unix stream socket at a path that may already exist. Only a stale socket (one
// nobody listens on any more: a daemon that died without removing it) is replaced; a regular
// file, a directory or the socket of a process that still serves it is left alone. Used for the
// NBD exports and the daemons' control sockets, whose paths come from users.
//
// ERRORS  -ENAMETOOLONG  longer than sun_path allows (107 bytes);
//         -EEXIST        something other than a socket is there;
//         -EADDRINUSE    a process accepts connections on that socket;
//         -errno of socket/bind/listen otherwise.
#pragma once

#include <string>

#include "fabric/expected.hpp"

namespace ibnbd::nbd {

// A non-blocking, close-on-exec listening descriptor; the caller closes it and removes the path.
Expected<int, int> listen_unix_socket(const std::string& path, int backlog);

// What to tell a user about one of listen_unix_socket()'s errors at `path`.
std::string unix_listen_error_text(const std::string& path, int error);

}  // namespace ibnbd::nbd
