#include "ibnbd/runtime/reactor.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>

namespace ibnbd::runtime {

Reactor::Reactor(ReactorConfig config)
    : config_(config), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)), wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      spin_limit_(config_.spin_polls), spin_budget_(config_.spin_polls), contention_(config_.contention) {
    assert(epoll_fd_ >= 0 && wake_fd_ >= 0);
}

Reactor::~Reactor() {
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Reactor::add(Pollable& pollable) {
    pollables_.push_back(&pollable);
    epoll_dirty_ = true;
}

void Reactor::remove(Pollable& pollable) {
    // A pollable may remove itself or another one from inside poll(): leave a hole until the
    // round is over, so that the loop in run_once() keeps valid positions.
    if (polling_) {
        std::replace(pollables_.begin(), pollables_.end(), &pollable, static_cast<Pollable*>(nullptr));
        holes_ = true;
    } else {
        std::erase(pollables_, &pollable);
    }
    epoll_dirty_ = true;
}

Status<int> Reactor::post(Task task) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return unexpected(-ESHUTDOWN);
        if (tasks_.size() >= config_.task_queue) return unexpected(-EAGAIN);
        tasks_.push_back(std::move(task));
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    return {};
}

void Reactor::post_message(Task task) {
    {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
}

void Reactor::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
}

bool Reactor::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

std::size_t Reactor::run_tasks() {
    std::deque<Task> ready;
    {
        std::lock_guard lock(mutex_);
        ready.swap(tasks_);
    }
    for (auto& task : ready) task();
    stats_.tasks += ready.size();
    return ready.size();
}

std::size_t Reactor::run_once(bool may_sleep) {
    ++stats_.rounds;
    std::size_t events = run_tasks();
    // By index: a poll() may add pollables (the vector may grow) or remove them (a hole).
    polling_ = true;
    for (std::size_t i = 0; i < pollables_.size(); ++i) {
        Pollable* pollable = pollables_[i];
        if (pollable == nullptr) continue;
        if (!woke_ && stats_.rounds % pollable->poll_every() != 0) continue;
        events += pollable->poll(config_.poll_budget);
    }
    woke_ = false;
    polling_ = false;
    if (holes_) std::erase(pollables_, nullptr);
    holes_ = false;
    stats_.events += events;
    if (stats_.rounds % 64 == 0) tick_contention();  // a clock read: a busy loop makes millions of rounds
    const std::uint32_t spin_limit = contention_.contended() ? 0 : spin_limit_;
    if (events != 0) {
        if (spinning_ && idle_rounds_ != 0) end_spin(true);
        if (idle_rounds_ != 0 || !spinning_) start_spin();
        idle_rounds_ = 0;
    } else if (may_sleep && ++idle_rounds_ > spin_limit) {
        if (spinning_) end_spin(false);
        sleep();
    }
    return events;
}

void Reactor::start_spin() {
    spinning_ = true;
    constexpr std::uint32_t kProbeEvery = 16;
    spin_limit_ = !config_.adaptive_spin || ++spins_ % kProbeEvery == 0 ? config_.spin_polls : spin_budget_;
}

void Reactor::end_spin(bool paid) {
    spinning_ = false;
    if (paid) {
        ++stats_.spins_paid;
        const std::uint64_t enough = std::max<std::uint64_t>(spin_budget_, 2 * std::uint64_t{idle_rounds_});
        spin_budget_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(config_.spin_polls, enough));
    } else {
        ++stats_.spins_wasted;
        spin_budget_ /= 2;
    }
}

void Reactor::rebuild_epoll() {
    ::close(epoll_fd_);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = wake_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);
    for (Pollable* pollable : pollables_) {
        const int fd = pollable->wait_fd();
        if (fd < 0) continue;
        event.data.fd = fd;
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    }
    epoll_dirty_ = false;
}

void Reactor::sleep() {
    for (Pollable* pollable : pollables_) {
        if (!pollable->prepare_sleep()) return;  // something is pending: poll again
    }
    if (epoll_dirty_) rebuild_epoll();
    const int timeout_ms = sleep_timeout_ms();
    std::array<epoll_event, 16> ready{};
    ++stats_.sleeps;
    const int count = epoll_wait(epoll_fd_, ready.data(), static_cast<int>(ready.size()), timeout_ms);
    for (int i = 0; i < count; ++i) {
        if (ready[i].data.fd != wake_fd_) continue;
        std::uint64_t drained = 0;
        (void)!::read(wake_fd_, &drained, sizeof drained);
    }
    // The next round polls everything; if it finds nothing, sleep again at once.
    idle_rounds_ = config_.spin_polls;
    tick_contention();
    woke_ = true;
}

void Reactor::tick_contention() {
    contention_.tick();
    stats_.contended_periods = contention_.contended_periods();
}

int Reactor::sleep_timeout_ms() const {
    using std::chrono::duration_cast;
    using std::chrono::nanoseconds;
    const std::int64_t fdless_ns = duration_cast<nanoseconds>(config_.fdless_poll).count();
    std::int64_t timeout_ns = duration_cast<nanoseconds>(config_.max_sleep).count();
    for (const Pollable* pollable : pollables_) {
        if (pollable->wait_fd() < 0) timeout_ns = std::min(timeout_ns, fdless_ns);
        const std::int64_t deadline = pollable->next_deadline_ns();
        if (deadline >= 0) timeout_ns = std::min(timeout_ns, deadline);
    }
    // Rounded up: waking before a deadline would only find it not yet due and sleep again.
    return static_cast<int>((timeout_ns + 999'999) / 1'000'000);
}

void Reactor::run() {
    while (!stopping()) run_once(true);
    run_tasks();  // what was posted before stop() still runs
}

}  // namespace ibnbd::runtime
