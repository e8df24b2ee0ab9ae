#include "ibnbd/nbd/unix_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ibnbd::nbd {

namespace {

// Whether a process accepts connections on the socket at `address`. A non-blocking connect never
// waits: a listener with a full backlog answers EAGAIN, which still means someone is there.
bool someone_listens(const sockaddr_un& address) {
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) return true;  // cannot tell: do not take the path over
    const bool refused = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
                         (errno == ECONNREFUSED || errno == ENOENT);
    ::close(probe);
    return !refused;
}

// 0 when the path is free or held by a stale socket (removed here), else the error.
int clear_path(const std::string& path, const sockaddr_un& address) {
    struct stat info{};
    if (::lstat(path.c_str(), &info) != 0) return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(info.st_mode)) return -EEXIST;
    if (someone_listens(address)) return -EADDRINUSE;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return -errno;
    return 0;
}

}  // namespace

Expected<int, int> listen_unix_socket(const std::string& path, int backlog) {
    sockaddr_un address{};
    if (path.size() >= sizeof(address.sun_path)) return unexpected(-ENAMETOOLONG);
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (const int error = clear_path(path, address); error != 0) return unexpected(error);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return unexpected(-errno);
    // bind() fails with EADDRINUSE if another process created the path since clear_path().
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, backlog) != 0) {
        const int error = errno;
        ::close(fd);
        return unexpected(-error);
    }
    return fd;
}

std::string unix_listen_error_text(const std::string& path, int error) {
    switch (error) {
        case -ENAMETOOLONG:
            return "the socket path '" + path + "' is too long (at most " +
                   std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)";
        case -EEXIST: return "'" + path + "' exists and is not a socket; remove it or choose another path";
        case -EADDRINUSE: return "another process serves the socket '" + path + "'; stop it or choose another path";
        default: return "cannot listen on '" + path + "': " + std::strerror(-error);
    }
}

}  // namespace ibnbd::nbd
