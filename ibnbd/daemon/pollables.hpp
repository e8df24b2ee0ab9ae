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

private:
    storage::uring::UringBackend& backend_;
};

// Blocks SIGINT and SIGTERM for the process and reports them from the reactor.
class SignalPollable : public runtime::Pollable {
public:
    explicit SignalPollable(std::function<void(int)> on_signal) : on_signal_(std::move(on_signal)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, nullptr);
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

private:
    std::function<void(int)> on_signal_;
    int fd_ = -1;
};

}  // namespace ibnbd::daemon
