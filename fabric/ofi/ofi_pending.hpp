// Connections the tcp provider accepted that have not become a connect request (FI_CONNREQ) yet:
// the provider accepts every TCP connection to a listener at once and waits for its CM request
// with no limit and no timeout. A peer that connects and stays silent, or sends part of a request,
// holds a socket (and file descriptor) of this process for as long as it likes; a flood of them
// exhausts descriptors and slows every connect-manager round.
//
// The provider offers no way to list or close them, but each one sits in the event queue's wait
// set (an epoll descriptor, FI_GETWAIT) until its request is complete. The sweeper lists that set
// from /proc/self/fdinfo, keeps the sockets accepted on a listener's port (not listening, local
// port a listener's) that have no whole CM header readable (those the provider reads at its next
// round), with the time it first saw each, and shuts down those waiting longer than the timeout,
// and the oldest beyond the limit. One seen for the first time is never taken for the limit: a
// real client sends its request at once, so only silence until the next sweep counts.
// shutdown(), never close(): the socket stays the provider's, which sees end-of-file on its next
// event-queue read, closes it and frees its state. (The provider's own end-of-file handling needs
// errno cleared first: see Domain::poll_cm.)
//
// Linux only; without /proc the sweeper does nothing (a debug log line says so).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::ofi {

struct PendingLimits {
    std::size_t limit = 0;  // at most this many wait at once (0: no limit)
    Nanos timeout = 0;      // each waits at most this long (0: no timeout)
};

class PendingSweeper {
public:
    PendingSweeper(int cm_wait_fd, PendingLimits limits) : wait_fd_(cm_wait_fd), limits_(limits) {}

    // Lists the waiting connections accepted on `ports` and shuts down the ones over the limits.
    // Returns how many it shut down; `dropped_port` (if not null) gets each one's local port.
    std::size_t sweep(Nanos now, std::span<const std::uint16_t> ports, std::vector<std::uint16_t>* dropped_port);
    // How many were waiting at the last sweep (those it shut down included).
    std::size_t waiting() const { return seen_.size(); }
    std::size_t limit() const { return limits_.limit; }
    Nanos timeout() const { return limits_.timeout; }
    bool enabled() const { return wait_fd_ >= 0 && (limits_.limit != 0 || limits_.timeout != 0); }

private:
    struct Seen {
        int fd;
        ino_t inode;  // the fd number may be reused by a newer socket between sweeps
        std::uint16_t port;
        Nanos since;
        bool shut;  // shut down, not yet closed by the provider: counted once
    };
    void refresh(Nanos now, std::span<const std::uint16_t> ports);

    int wait_fd_;
    PendingLimits limits_;
    std::vector<Seen> seen_;  // sorted by fd
    bool warned_ = false;
};

}  // namespace ibnbd::fabric::ofi
