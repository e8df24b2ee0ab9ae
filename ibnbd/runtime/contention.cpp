#include "ibnbd/runtime/contention.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

namespace ibnbd::runtime {

ContentionMonitor::ContentionMonitor(ContentionConfig config) : config_(std::move(config)) {}

ContentionMonitor::~ContentionMonitor() {
    if (schedstat_fd_ >= 0) ::close(schedstat_fd_);
}

// schedstat: "<ns on a CPU> <ns waiting on a run queue> <timeslices>".
std::uint64_t ContentionMonitor::read_wait() {
    if (config_.runqueue_wait_ns) return config_.runqueue_wait_ns();
    if (schedstat_fd_ < 0) return last_wait_;
    char text[96] = {};
    const ssize_t length = ::pread(schedstat_fd_, text, sizeof text - 1, 0);
    if (length <= 0) return last_wait_;
    char* rest = nullptr;
    (void)std::strtoull(text, &rest, 10);
    return std::strtoull(rest, nullptr, 10);
}

void ContentionMonitor::tick() {
    if (config_.wait_fraction <= 0) return;
    const Clock::time_point now = clock_now();
    if (!started_) {  // on the thread that runs the reactor, which need not be the one that made it
        started_ = true;
        if (!config_.runqueue_wait_ns) schedstat_fd_ = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        window_start_ = now;
        last_wait_ = read_wait();
        return;
    }
    const auto elapsed = now - window_start_;
    if (elapsed < config_.window) return;
    const std::uint64_t wait = read_wait();
    const auto waited = std::chrono::nanoseconds(wait - last_wait_);
    last_wait_ = wait;
    window_start_ = now;
    if (waited.count() >= config_.wait_fraction * static_cast<double>(std::chrono::nanoseconds(elapsed).count())) {
        if (!contended_) ++periods_;
        contended_until_ = now + config_.hold;
    }
    contended_ = now < contended_until_;
}

}  // namespace ibnbd::runtime
