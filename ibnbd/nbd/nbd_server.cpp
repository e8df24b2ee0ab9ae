#include "ibnbd/nbd/nbd_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "ibnbd/nbd/unix_listener.hpp"

namespace ibnbd::nbd {

namespace {

int listen_socket(int fd, const sockaddr* address, socklen_t length) {
    if (::bind(fd, address, length) != 0 || ::listen(fd, 64) != 0) {
        const int error = errno;
        ::close(fd);
        return -error;
    }
    return fd;
}

}  // namespace

Expected<std::unique_ptr<NbdServer>, int> NbdServer::listen_unix(const std::string& path) {
    auto listening = listen_unix_socket(path, 64);
    if (!listening) return unexpected(listening.error());
    std::unique_ptr<NbdServer> server(new NbdServer(*listening, path, 0));
    server->unlink_on_close_ = true;
    return server;
}

Expected<std::unique_ptr<NbdServer>, int> NbdServer::listen_tcp(const std::string& host, std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) return unexpected(-EINVAL);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return unexpected(-errno);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const int listening = listen_socket(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    if (listening < 0) return unexpected(listening);
    socklen_t length = sizeof address;
    ::getsockname(listening, reinterpret_cast<sockaddr*>(&address), &length);
    return std::unique_ptr<NbdServer>(new NbdServer(listening, host, ntohs(address.sin_port)));
}

std::unique_ptr<NbdServer> NbdServer::host(std::string name) {
    return std::unique_ptr<NbdServer>(new NbdServer(-1, std::move(name), 0));
}

NbdServer::NbdServer(int listen_fd, std::string address, std::uint16_t port)
    : listen_fd_(listen_fd), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)), address_(std::move(address)), port_(port) {
    if (listen_fd_ < 0) return;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listen_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
}

NbdServer::~NbdServer() {
    connections_.clear();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    ::close(epoll_fd_);
    if (unlink_on_close_) ::unlink(address_.c_str());
}

void NbdServer::add_export(const std::string& name, block::ExportTarget& target) { exports_[name] = &target; }

Status<int> NbdServer::remove_export(const std::string& name, bool force) {
    if (!exports_.contains(name)) return unexpected(-ENOENT);
    if (connections_of(name) != 0) {
        if (!force) return unexpected(-EBUSY);
        for (auto& connection : connections_) {
            if (connection->export_name() == name) connection->close();
        }
    }
    exports_.erase(name);
    return {};
}

block::ExportTarget* NbdServer::find_export(const std::string& name) const {
    const auto found = exports_.find(name);
    return found == exports_.end() ? nullptr : found->second;
}

std::vector<std::string> NbdServer::export_names() const {
    std::vector<std::string> names;
    for (const auto& [name, target] : exports_) names.push_back(name);
    return names;
}

std::size_t NbdServer::connections_of(const std::string& name) const {
    return static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(), [&](const auto& c) {
        return c->export_name() == name && !c->finished();
    }));
}

void NbdServer::watch(const NbdConnection& connection, bool add) {
    epoll_event event{};
    event.events = EPOLLIN | (connection.wants_output() ? EPOLLOUT : 0u);
    event.data.fd = connection.fd();
    epoll_ctl(epoll_fd_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, connection.fd(), &event);
}

std::size_t NbdServer::accept_connections() {
    std::size_t accepted = 0;
    while (listen_fd_ >= 0) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on unix sockets
        ++accepted;
        if (hand_off_ && hand_off_(fd)) continue;
        adopt(fd);
    }
    return accepted;
}

void NbdServer::adopt(int fd) {
    connections_.push_back(std::make_unique<NbdConnection>(*this, fd));
    watch(*connections_.back(), true);
}

std::size_t NbdServer::poll(std::size_t) {
    std::array<epoll_event, 32> drained{};
    (void)epoll_wait(epoll_fd_, drained.data(), static_cast<int>(drained.size()), 0);  // level-triggered: just clear
    std::size_t work = accept_connections();
    for (auto& connection : connections_) {
        const bool wanted = connection->wants_output();
        work += connection->progress();
        if (wanted != connection->wants_output()) watch(*connection, false);
    }
    std::erase_if(connections_, [](const auto& connection) { return connection->finished(); });
    return work;
}

}  // namespace ibnbd::nbd
