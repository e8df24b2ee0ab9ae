// Whether a reactor's thread is competing for its CPU with other runnable threads, from the time
// it spends runnable but waiting for a CPU (the scheduler's run-queue wait, /proc's schedstat). A
// reactor that busy-polls while it must share a core runs only in its scheduler slices and answers
// late; one that sleeps is woken with priority (the scheduler favours threads that slept). So a
// contended reactor stops spinning and sleeps as soon as a round finds nothing (reactor.hpp, LOOP).
//
// Every `window` the monitor reads the thread's run-queue wait; a wait of `wait_fraction` of the
// window or more makes the thread contended for `hold`, after which the next windows decide again
// (a contended thread that no longer spins waits less, so the hold keeps it from flapping).
// Measured on a 2-core machine, 4 KiB reads at QD32 and QD1 (ibnbd-server and ibnbd-bench on one
// host): alone the server's reactor waited 5-8% of the time (its io_uring worker and the client
// share the cores); beside a busy loop on each core, 35-43%. Involuntary context switches do not
// tell the two apart (the io_uring worker preempts the reactor thousands of times a second).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace ibnbd::runtime {

struct ContentionConfig {
    std::chrono::microseconds window{50'000};
    double wait_fraction = 0.25;  // of a window spent waiting for a CPU: contended; 0 turns it off
    std::chrono::microseconds hold{200'000};
    // The calling thread's run-queue wait so far, in nanoseconds; empty: its /proc schedstat.
    std::function<std::uint64_t()> runqueue_wait_ns;
    // The time windows and holds are measured in; empty: steady_clock (tests set both, so that
    // what they check does not depend on how the machine schedules them).
    std::function<std::chrono::steady_clock::time_point()> clock;
};

class ContentionMonitor {
public:
    explicit ContentionMonitor(ContentionConfig config);
    ~ContentionMonitor();
    ContentionMonitor(const ContentionMonitor&) = delete;
    ContentionMonitor& operator=(const ContentionMonitor&) = delete;

    // Call from the reactor's thread every few rounds: reads the clock, and at the end of a
    // window the run-queue wait. The first call starts the first window. Where schedstat cannot
    // be read the thread never counts as contended.
    void tick();
    bool contended() const { return contended_; }
    // Windows that started a contended period.
    std::uint64_t contended_periods() const { return periods_; }

private:
    using Clock = std::chrono::steady_clock;
    std::uint64_t read_wait();
    Clock::time_point clock_now() const { return config_.clock ? config_.clock() : Clock::now(); }

    ContentionConfig config_;
    int schedstat_fd_ = -1;
    Clock::time_point window_start_;
    Clock::time_point contended_until_;
    std::uint64_t last_wait_ = 0;
    bool started_ = false;
    bool contended_ = false;
    std::uint64_t periods_ = 0;
};

}  // namespace ibnbd::runtime
