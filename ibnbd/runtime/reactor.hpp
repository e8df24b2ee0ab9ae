// A reactor: one thread that drives everything it owns (fabrics, io_uring rings, sockets) by
// polling, and sleeps when idle (ARCHITECTURE.md, "Threads in the daemons").
//
// LOOP
//   Poll every Pollable and run queued tasks. While there is work, keep polling. After
//   spin_polls empty rounds in a row (a bounded busy-poll: work that follows work closely is
//   seen without a wake-up), sleep in epoll_wait on the pollables' wait fds and the reactor's
//   own eventfd, until the nearest deadline a pollable asked for (at most max_sleep), unless a
//   pollable's prepare_sleep() says work is pending. A pollable without a wait fd caps the sleep
//   at fdless_poll, so it is still polled that often. Busy periods never sleep.
//   Adaptive, twice over:
//   - The spin follows its payoff. A spin that work ends after k empty rounds was worth it: the
//     budget becomes at least 2k (at most spin_polls). A spin that runs out and sleeps was not:
//     the budget halves. Every 16th spin probes with the whole spin_polls, so that a budget
//     worn down to nothing can come back. A reactor thus spins across the short gaps of its
//     traffic (the next request of a queue) and sleeps at once across the long ones (a whole
//     round trip away), where spinning only burns a CPU that a server and a client sharing a
//     machine both need (bench/README.md, "Same medium").
//   - While the thread competes for its CPU (ContentionMonitor: the kernel preempts it often),
//     the reactor does not spin at all and sleeps after the first empty round, since a spinning
//     thread that shares a core is served only in its scheduler slices, and a sleeping one is
//     woken at once.
//   A wake-up that brings no work (a timeout, a signal for something already handled) goes back
//   to sleep after one round instead of spinning again: an idle reactor makes a few system calls
//   per wake-up, and wakes only for its sources and deadlines.
// THREADING
//   Everything added to a reactor belongs to its thread. post() and stop() may be called from any
//   thread; post() hands a task over through a bounded queue (never blocks: -EAGAIN when full) and
//   wakes the reactor. Tasks are for control work (map, unmap, stats); the IO path of a device runs
//   entirely on its reactor and takes no lock shared with other threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "fabric/expected.hpp"
#include "ibnbd/runtime/contention.hpp"

namespace ibnbd::runtime {

class Pollable {
public:
    virtual ~Pollable() = default;
    // Makes progress without blocking; returns how many events it handled.
    virtual std::size_t poll(std::size_t budget) = 0;
    // A descriptor that becomes readable when there is work, or -1.
    virtual int wait_fd() const { return -1; }
    // Nanoseconds until this pollable needs polling again (a timer), or -1 for none.
    virtual std::int64_t next_deadline_ns() const { return -1; }
    // Called before the reactor sleeps on wait_fd(): false when work is pending that the fd may
    // not announce (libfabric's fi_trywait); the reactor then polls again instead of sleeping.
    virtual bool prepare_sleep() { return true; }
    // Control-plane sources (signals, a control socket) set this above 1: they are polled every
    // that many rounds, and in every round that follows a sleep, so that a busy IO loop does not
    // pay their system calls each time.
    virtual std::uint32_t poll_every() const { return 1; }
};

struct ReactorConfig {
    std::uint32_t spin_polls = 200;                        // most empty rounds after work before sleeping
    bool adaptive_spin = true;                             // spin only as long as spinning pays (LOOP)
    std::chrono::microseconds max_sleep{1'000'000};        // longest sleep while idle (a safety net)
    std::chrono::microseconds fdless_poll{1000};           // longest sleep with a pollable without wait fd
    std::size_t task_queue = 1024;                         // bounded cross-thread queue
    std::size_t poll_budget = 64;                          // events per pollable per round
    ContentionConfig contention;                           // when spinning stops (contention.hpp)
};

struct ReactorStats {
    std::uint64_t rounds = 0;
    std::uint64_t sleeps = 0;
    std::uint64_t events = 0;
    std::uint64_t tasks = 0;
    std::uint64_t contended_periods = 0;  // periods the thread was contended, so did not spin
    std::uint64_t spins_paid = 0;         // spins that work ended
    std::uint64_t spins_wasted = 0;       // spins that ran out and slept
};

class Reactor {
public:
    using Task = std::function<void()>;

    explicit Reactor(ReactorConfig config = {});
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Reactor thread only, also from inside a poll(). The pollable must outlive its membership.
    void add(Pollable& pollable);
    void remove(Pollable& pollable);

    // Any thread. Errors: -EAGAIN (queue full), -ESHUTDOWN (stopped).
    Status<int> post(Task task);
    // Any thread: a protocol message between parts of one session (ibtrs::Mailbox), which must
    // not be lost: never refused, not even after stop(); their number is bounded by the protocol
    // (a few per path or device event). After the reactor's thread is gone, run_pending_tasks()
    // delivers what is left.
    void post_message(Task task);
    // Runs the queued tasks on the calling thread: the reactor's own, or any once it has ended.
    std::size_t run_pending_tasks() { return run_tasks(); }
    // Any thread: run() returns after the current round.
    void stop();

    // Runs the loop on the calling thread until stop().
    void run();
    // One round; returns the events handled (tasks included). may_sleep: idle rounds may sleep.
    std::size_t run_once(bool may_sleep);

    const ReactorStats& stats() const { return stats_; }
    bool stopping() const;

private:
    std::size_t run_tasks();
    void sleep();
    void tick_contention();
    void start_spin();
    void end_spin(bool paid);
    int sleep_timeout_ms() const;
    void rebuild_epoll();

    ReactorConfig config_;
    std::vector<Pollable*> pollables_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    bool epoll_dirty_ = true;
    bool polling_ = false;  // inside the poll loop of run_once()
    bool holes_ = false;    // remove() during that loop left nullptr entries
    bool woke_ = true;      // the last round slept: poll everything
    std::uint32_t idle_rounds_ = 0;
    bool spinning_ = false;       // empty rounds since work, before a sleep
    std::uint32_t spin_limit_;    // this spin's empty rounds: the budget, or spin_polls for a probe
    std::uint32_t spin_budget_;   // adapted to the payoff of past spins
    std::uint32_t spins_ = 0;
    ContentionMonitor contention_;
    mutable std::mutex mutex_;  // guards tasks_ and stopping_
    std::deque<Task> tasks_;
    bool stopping_ = false;
    ReactorStats stats_;
};

}  // namespace ibnbd::runtime
