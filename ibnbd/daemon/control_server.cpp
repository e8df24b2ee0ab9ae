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
#include <utility>

#include "ibnbd/nbd/unix_listener.hpp"

namespace ibnbd::daemon {

namespace {

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

std::string errno_text(int error) { return std::strerror(-error); }

struct ControlServer::Connection {
    int fd = -1;
    int epoll_fd = -1;
    bool open = true;      // false: the peer is gone or failed; nothing more is sent
    bool eof = false;      // the peer sent everything it will; answer what is pending
    bool closing = false;  // refused an overlong line; close once what is queued is sent
    std::size_t pending = 0;      // requests handed to the handler, not answered yet
    std::uint32_t watched = 0;    // the epoll interest registered (0: not registered)
    std::string in;
    std::string out;

    ~Connection() {
        if (fd >= 0) ::close(fd);
    }
    bool reading() const { return open && !eof && !closing; }
    bool paused() const { return pending >= kMaxPending || out.size() >= kMaxBuffered; }
    bool finished() const { return !open || ((eof || closing) && pending == 0 && out.empty()); }

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
    // Readable only while taking requests, writable only while answers wait: a paused or
    // half-closed connection is out of the epoll set, so it cannot keep the reactor awake.
    void watch() {
        const std::uint32_t wanted = (reading() && !paused() ? EPOLLIN : 0u) | (open && !out.empty() ? EPOLLOUT : 0u);
        if (wanted == watched || epoll_fd < 0) return;
        epoll_event event{};
        event.events = wanted;
        event.data.fd = fd;
        const int op = wanted == 0 ? EPOLL_CTL_DEL : watched == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        epoll_ctl(epoll_fd, op, fd, &event);
        watched = wanted;
    }
    void answer(const Json& response) {
        --pending;
        if (!open) return;
        out += response.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
        flush();
        watch();
    }
    // Reads one chunk; false when there is nothing more now (or ever).
    bool receive() {
        std::array<char, 16384> chunk;
        const ssize_t got = ::recv(fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (got > 0) {
            in.append(chunk.data(), static_cast<std::size_t>(got));
            return true;
        }
        if (got == 0) eof = true;
        else if (errno != EAGAIN && errno != EINTR) open = false;
        return false;
    }
};

Expected<std::unique_ptr<ControlServer>, int> ControlServer::listen(const std::string& path, RequestHandler handler) {
    auto fd = nbd::listen_unix_socket(path, 16);  // a second daemon must not take over a live socket
    if (!fd) return unexpected(fd.error());
    return std::unique_ptr<ControlServer>(new ControlServer(*fd, path, std::move(handler)));
}

ControlServer::ControlServer(int fd, std::string path, RequestHandler handler)
    : listen_fd_(fd), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)), path_(std::move(path)), handler_(std::move(handler)) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listen_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
}

ControlServer::~ControlServer() {
    for (auto& connection : connections_) {
        connection->open = false;
        connection->epoll_fd = -1;
    }
    connections_.clear();
    ::close(listen_fd_);
    ::close(epoll_fd_);
    ::unlink(path_.c_str());
}

std::size_t ControlServer::buffered_bytes() const {
    std::size_t total = 0;
    for (const auto& connection : connections_) total += connection->in.size() + connection->out.size();
    return total;
}

void ControlServer::dispatch(const std::shared_ptr<Connection>& connection, const std::string& line) {
    ++connection->pending;
    // Answers exactly once, and only while the connection (hence this server) exists.
    auto answered = std::make_shared<bool>(false);
    Responder respond = [weak = std::weak_ptr<Connection>(connection), answered](Json response) {
        if (std::exchange(*answered, true)) return;
        if (auto alive = weak.lock()) alive->answer(response);
    };
    const Json request = Json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object() || !request.contains("cmd")) {
        return respond(error_response(-EINVAL, "the request is not a JSON object with a 'cmd' (e.g. {\"cmd\": \"list\"})"));
    }
    try {
        handler_(request, respond);
    } catch (const Json::exception& error) {
        // The boundary where a request's JSON is read: a handler reading a field it did not check
        // costs that request, not the daemon.
        respond(error_response(-EINVAL, std::string("bad request: ") + error.what()));
    }
}

std::size_t ControlServer::serve(const std::shared_ptr<Connection>& owner) {
    Connection& connection = *owner;
    std::size_t work = 0;
    connection.flush();  // room for answers may resume reading
    std::size_t start = 0;  // `in` before it is handled (erased once, not line by line)
    while (connection.reading() && !connection.paused()) {
        const std::size_t newline = connection.in.find('\n', start);
        const std::size_t length = (newline == std::string::npos ? connection.in.size() : newline) - start;
        if (length > kMaxLine) {
            // Answered first, so that the client learns why its connection ends.
            ++connection.pending;
            connection.answer(error_response(-E2BIG, "the request line is over " + std::to_string(kMaxLine / 1024) +
                                                         " KiB; closing the connection"));
            connection.closing = true;
            connection.in.clear();
            start = 0;
            break;
        }
        if (newline == std::string::npos) {
            connection.in.erase(0, std::exchange(start, 0));
            if (!connection.receive()) break;
            continue;
        }
        const std::string line = connection.in.substr(start, newline - start);
        start = newline + 1;
        ++work;
        dispatch(owner, line);
    }
    connection.in.erase(0, start);
    connection.flush();
    connection.watch();
    return work;
}

void ControlServer::accept_connections() {
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        auto connection = std::make_shared<Connection>();
        connection->fd = fd;
        connection->epoll_fd = epoll_fd_;
        connection->watch();
        connections_.push_back(std::move(connection));
    }
}

std::size_t ControlServer::poll(std::size_t) {
    std::array<epoll_event, 16> drained{};
    (void)epoll_wait(epoll_fd_, drained.data(), static_cast<int>(drained.size()), 0);  // level-triggered: just clear
    const std::size_t before = connections_.size();
    accept_connections();
    std::size_t work = connections_.size() - before;
    // serve() may call handlers that answer at once; iterate over a snapshot.
    const auto snapshot = connections_;
    for (const auto& connection : snapshot) {
        if (!connection->finished()) work += serve(connection);
    }
    std::erase_if(connections_, [](const auto& connection) { return connection->finished(); });
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
