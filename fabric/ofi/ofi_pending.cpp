#include "fabric/ofi/ofi_pending.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <string>

#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

namespace {

// The descriptors registered in epoll `epoll_fd`: the "tfd:" entries of /proc/self/fdinfo/FD.
std::optional<std::vector<int>> epoll_targets(int epoll_fd) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epoll_fd);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char buffer[4096];
    for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;) {
        text.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    std::vector<int> targets;
    for (std::size_t at = text.find("tfd:"); at != std::string::npos; at = text.find("tfd:", at + 4)) {
        targets.push_back(static_cast<int>(std::strtol(text.c_str() + at + 4, nullptr, 10)));
    }
    return targets;
}

// A connection with a whole CM header readable is one the provider has not got to yet: it reads
// (and answers, or closes) it at its next round. Only silent and partial ones are swept.
constexpr int kCmHeaderSize = 32;  // struct ofi_ctrl_hdr

bool request_arrived(int fd) {
    int readable = 0;
    return ::ioctl(fd, FIONREAD, &readable) == 0 && readable >= kCmHeaderSize;
}

// The local port of `fd` when it is a connected (not listening) IP socket, else 0.
std::uint16_t accepted_port(int fd) {
    int listening = 0;
    socklen_t length = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || listening != 0) return 0;
    sockaddr_storage address{};
    length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
    if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    return 0;
}

}  // namespace

void PendingSweeper::refresh(Nanos now, std::span<const std::uint16_t> ports) {
    auto targets = epoll_targets(wait_fd_);
    if (!targets) {
        if (!warned_) ofi_log().debug("no /proc/self/fdinfo: connections waiting for their CM request are not bounded");
        warned_ = true;
        seen_.clear();
        return;
    }
    std::sort(targets->begin(), targets->end());
    std::vector<Seen> next;
    next.reserve(targets->size());
    for (const int fd : *targets) {
        const std::uint16_t port = accepted_port(fd);
        if (port == 0 || std::find(ports.begin(), ports.end(), port) == ports.end() || request_arrived(fd)) continue;
        struct stat status {};
        if (::fstat(fd, &status) != 0) continue;
        // seen_ is sorted by fd: a socket seen before keeps its first time and its shut mark.
        const auto old = std::lower_bound(seen_.begin(), seen_.end(), fd,
                                          [](const Seen& seen, int wanted) { return seen.fd < wanted; });
        const bool known = old != seen_.end() && old->fd == fd && old->inode == status.st_ino;
        next.push_back({fd, status.st_ino, port, known ? old->since : now, known && old->shut});
    }
    seen_ = std::move(next);
}

std::size_t PendingSweeper::sweep(Nanos now, std::span<const std::uint16_t> ports,
                                  std::vector<std::uint16_t>* dropped_port) {
    if (!enabled()) return 0;
    refresh(now, ports);
    // Oldest first: over the limit, the longest-waiting go. One seen for the first time now is
    // never taken for the limit: it may be a real client whose request is on its way (they send
    // it at once, so by the next sweep it is no longer here); only silence until then counts.
    std::vector<std::size_t> order;
    std::size_t fresh = 0;
    for (std::size_t i = 0; i < seen_.size(); ++i) {
        if (seen_[i].shut) continue;
        if (seen_[i].since == now) {
            ++fresh;
        } else {
            order.push_back(i);
        }
    }
    std::stable_sort(order.begin(), order.end(),
                     [this](std::size_t a, std::size_t b) { return seen_[a].since < seen_[b].since; });
    const std::size_t waiting = order.size() + fresh;
    const std::size_t excess =
        limits_.limit != 0 && waiting > limits_.limit ? std::min(order.size(), waiting - limits_.limit) : 0;
    std::size_t dropped = 0;
    for (std::size_t rank = 0; rank < order.size(); ++rank) {
        Seen& seen = seen_[order[rank]];
        const bool expired = limits_.timeout != 0 && now - seen.since >= limits_.timeout;
        if (rank >= excess && !expired) break;  // younger ones are neither over the limit nor expired
        // Not close(): the descriptor stays the provider's, which reads end-of-file and closes it.
        ::shutdown(seen.fd, SHUT_RDWR);
        seen.shut = true;
        ++dropped;
        if (dropped_port) dropped_port->push_back(seen.port);
    }
    return dropped;
}

}  // namespace ibnbd::fabric::ofi
