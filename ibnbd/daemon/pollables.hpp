// Reactor adapters for the real backends: a libfabric fabric, an io_uring storage ring, and
// SIGINT/SIGTERM delivered through a signalfd.
#pragma once

#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <functional>

#include "fabric/ofi/ofi_fabric.hpp"
#include "ibnbd/runtime/reactor.hpp"
#include "ibnbd/storage/uring/uring_backend.hpp"

namespace ibnbd::daemon {

// Drives a real fabric (libfabric or verbs) from a reactor. F needs poll(), now() and
// next_timer_deadline() (0: none); wait_fd() and prepare_sleep() are used when F has them (both
// backends; a libfabric provider without wait objects reports -1 and is polled at max_sleep).
template <class F>
class FabricPollable : public runtime::Pollable {
public:
    explicit FabricPollable(F& fabric) : fabric_(fabric) {}
    std::size_t poll(std::size_t budget) override { return fabric_.poll(budget); }
    int wait_fd() const override {
        if constexpr (requires(const F& f) { f.wait_fd(); }) {
            return fabric_.wait_fd();
        } else {
            return -1;
        }
    }
    bool prepare_sleep() override {
        if constexpr (requires(F& f) { f.prepare_sleep(); }) {
            return fabric_.prepare_sleep();
        } else {
            return true;
        }
    }
    std::int64_t next_deadline_ns() const override {
        const fabric::Nanos deadline = fabric_.next_timer_deadline();
        if (deadline == 0) return -1;
        const fabric::Nanos now = fabric_.now();
        return deadline > now ? static_cast<std::int64_t>(deadline - now) : 0;
    }

private:
    F& fabric_;
};

class UringPollable : public runtime::Pollable {
public:
    explicit UringPollable(storage::uring::UringBackend& backend) : backend_(backend) {}
    std::size_t poll(std::size_t budget) override { return backend_.poll(budget); }
    int wait_fd() const override { return backend_.event_fd(); }
    // With UringConfig::defer_submit, what was queued since the last poll() goes to the kernel.
    bool prepare_sleep() override {
        backend_.flush();
        return true;
    }

private:
    storage::uring::UringBackend& backend_;
};

inline sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later, and drops any
// handler a library installed for them. A daemon calls it first thing in main(): libinfinipath
// (under libfabric's psm provider) installs, when it is loaded, SIGINT/SIGTERM handlers that call
// exit(), which deadlocks on libfabric's own lock when the signal lands inside fi_getinfo().
// Blocked, a stop signal waits for the SignalPollable. (Before main() that handler still exits 1.)
inline void block_stop_signals() {
    const sigset_t set = stop_signals();
    sigprocmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
}

// Reports SIGINT and SIGTERM from the reactor (blocking them, if block_stop_signals() did not).
class SignalPollable : public runtime::Pollable {
public:
    explicit SignalPollable(std::function<void(int)> on_signal) : on_signal_(std::move(on_signal)) {
        block_stop_signals();
        const sigset_t set = stop_signals();
        fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    }
    ~SignalPollable() override { ::close(fd_); }
    std::size_t poll(std::size_t) override {
        signalfd_siginfo info{};
        if (::read(fd_, &info, sizeof info) != sizeof info) return 0;
        on_signal_(static_cast<int>(info.ssi_signo));
        return 1;
    }
    int wait_fd() const override { return fd_; }
    std::uint32_t poll_every() const override { return 64; }

private:
    std::function<void(int)> on_signal_;
    int fd_ = -1;
};

}  // namespace ibnbd::daemon
