#include "ibnbd/daemon/control_server.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace ibnbd::daemon {

namespace {

constexpr std::size_t kMaxLine = 64 * 1024;

bool make_address(const std::string& path, sockaddr_un& address) {
    if (path.size() >= sizeof(address.sun_path)) return false;
    address = {};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return true;
}

}  // namespace

Json error_response(int error, const std::string& message) {
    return Json{{"ok", false}, {"errno", -error}, {"error", message}};
}

struct ControlServer::Connection {
    int fd = -1;
    bool open = true;
    std::string in;
    std::string out;
    ~Connection() {
        if (fd >= 0) ::close(fd);
    }
    void flush() {
        while (open && !out.empty()) {
            const ssize_t sent = ::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (sent > 0) {
                out.erase(0, static_cast<std::size_t>(sent));
            } else {
                if (sent < 0 && (errno == EAGAIN || errno == EINTR)) return;
                open = false;
            }
        }
    }
};

Expected<std::unique_ptr<ControlServer>, int> ControlServer::listen(const std::string& path, RequestHandler handler) {
    sockaddr_un address;
    if (!make_address(path, address)) return unexpected(-ENAMETOOLONG);
    ::unlink(path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return unexpected(-errno);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 16) != 0) {
        const int error = errno;
        ::close(fd);
        return unexpected(-error);
    }
    return std::unique_ptr<ControlServer>(new ControlServer(fd, path, std::move(handler)));
}

ControlServer::ControlServer(int fd, std::string path, RequestHandler handler)
    : listen_fd_(fd), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)), path_(std::move(path)), handler_(std::move(handler)) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listen_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
}

ControlServer::~ControlServer() {
    for (auto& connection : connections_) connection->open = false;
    connections_.clear();
    ::close(listen_fd_);
    ::close(epoll_fd_);
    ::unlink(path_.c_str());
}

std::size_t ControlServer::serve(Connection& connection) {
    std::size_t work = 0;
    std::array<char, 4096> chunk;
    for (;;) {
        const ssize_t got = ::recv(connection.fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (got > 0) {
            connection.in.append(chunk.data(), static_cast<std::size_t>(got));
            continue;
        }
        if (got == 0 || (errno != EAGAIN && errno != EINTR)) connection.open = false;
        break;
    }
    std::size_t newline;
    while (connection.open && (newline = connection.in.find('\n')) != std::string::npos) {
        const std::string line = connection.in.substr(0, newline);
        connection.in.erase(0, newline + 1);
        ++work;
        Json request = Json::parse(line, nullptr, false);
        std::weak_ptr<Connection> weak;
        for (auto& entry : connections_) {
            if (entry.get() == &connection) weak = entry;
        }
        Responder respond = [weak](Json response) {
            if (auto alive = weak.lock(); alive && alive->open) {
                alive->out += response.dump() + "\n";
                alive->flush();
            }
        };
        if (request.is_discarded() || !request.is_object() || !request.contains("cmd")) {
            respond(error_response(-EINVAL, "the request is not a JSON object with a \"cmd\""));
            continue;
        }
        handler_(request, std::move(respond));
    }
    if (connection.in.size() > kMaxLine) connection.open = false;
    connection.flush();
    return work;
}

std::size_t ControlServer::poll(std::size_t) {
    std::array<epoll_event, 16> drained{};
    (void)epoll_wait(epoll_fd_, drained.data(), static_cast<int>(drained.size()), 0);
    std::size_t work = 0;
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        auto connection = std::make_shared<Connection>();
        connection->fd = fd;
        connections_.push_back(connection);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
        ++work;
    }
    // serve() may call handlers that answer at once; iterate over a snapshot.
    const auto snapshot = connections_;
    for (const auto& connection : snapshot) {
        if (connection->open) work += serve(*connection);
    }
    std::erase_if(connections_, [](const auto& connection) { return !connection->open && connection->out.empty(); });
    return work;
}

Expected<Json, int> control_call(const std::string& path, const Json& request, int timeout_ms) {
    sockaddr_un address;
    if (!make_address(path, address)) return unexpected(-ENAMETOOLONG);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return unexpected(-errno);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        ::close(fd);
        return unexpected(-error);
    }
    const std::string line = request.dump() + "\n";
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
        ::close(fd);
        return unexpected(-EPIPE);
    }
    std::string in;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (in.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd waiting{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) {
            ::close(fd);
            return unexpected(-ETIMEDOUT);
        }
        std::array<char, 4096> chunk;
        const ssize_t got = ::recv(fd, chunk.data(), chunk.size(), 0);
        if (got <= 0) {
            ::close(fd);
            return unexpected(-ECONNRESET);
        }
        in.append(chunk.data(), static_cast<std::size_t>(got));
    }
    ::close(fd);
    Json response = Json::parse(in.substr(0, in.find('\n')), nullptr, false);
    if (response.is_discarded()) return unexpected(-EPROTO);
    return response;
}

}  // namespace ibnbd::daemon
