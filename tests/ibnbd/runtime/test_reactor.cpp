#define BOOST_TEST_MODULE ibnbd_runtime
#include <boost/test/unit_test.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "ibnbd/runtime/reactor.hpp"

using namespace ibnbd::runtime;

namespace {

// Work arrives on an eventfd from another thread, like a completion channel or io_uring.
class EventSource : public Pollable {
public:
    EventSource() : fd_(eventfd(0, EFD_NONBLOCK)) {}
    ~EventSource() override { ::close(fd_); }
    std::size_t poll(std::size_t) override {
        std::uint64_t count = 0;
        if (::read(fd_, &count, sizeof count) != sizeof count) return 0;
        handled += count;
        return static_cast<std::size_t>(count);
    }
    int wait_fd() const override { return fd_; }
    void signal() {
        const std::uint64_t one = 1;
        (void)!::write(fd_, &one, sizeof one);
    }
    std::atomic<std::uint64_t> handled{0};

private:
    int fd_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(tasks_posted_from_other_threads_run_on_the_reactor_thread) {
    Reactor reactor;
    std::thread::id reactor_thread;
    std::atomic<int> ran{0};
    std::thread runner([&] {
        reactor_thread = std::this_thread::get_id();
        reactor.run();
    });
    std::vector<std::thread::id> seen(100);
    for (int i = 0; i < 100; ++i) {
        while (!reactor.post([&, i] {
            seen[i] = std::this_thread::get_id();
            ++ran;
        })) {
            std::this_thread::yield();
        }
    }
    while (ran.load() < 100) std::this_thread::yield();
    reactor.stop();
    runner.join();
    for (const auto& id : seen) BOOST_TEST((id == reactor_thread));
    BOOST_TEST(reactor.stats().tasks == 100u);
    BOOST_TEST(reactor.post([] {}).error() == -ESHUTDOWN);
}

BOOST_AUTO_TEST_CASE(the_task_queue_is_bounded) {
    ReactorConfig config;
    config.task_queue = 4;
    Reactor reactor(config);  // not running: nothing drains
    for (int i = 0; i < 4; ++i) BOOST_TEST(reactor.post([] {}).has_value());
    BOOST_TEST(reactor.post([] {}).error() == -EAGAIN);
    BOOST_TEST(reactor.run_once(false) == 4u);
    BOOST_TEST(reactor.post([] {}).has_value());
}

BOOST_AUTO_TEST_CASE(protocol_messages_are_never_refused_and_run_after_the_thread_ended) {
    ReactorConfig config;
    config.task_queue = 2;
    Reactor reactor(config);
    int ran = 0;
    for (int i = 0; i < 2; ++i) BOOST_TEST(reactor.post([&] { ++ran; }).has_value());
    BOOST_TEST(reactor.post([] {}).error() == -EAGAIN);
    reactor.post_message([&] { ran += 10; });  // a full queue does not refuse it
    reactor.stop();
    reactor.post_message([&] { ran += 100; });  // nor does a stopped reactor
    BOOST_TEST(reactor.post([] {}).error() == -ESHUTDOWN);
    BOOST_TEST(reactor.run_pending_tasks() == 4u);
    BOOST_TEST(ran == 112);
}

BOOST_AUTO_TEST_CASE(an_idle_reactor_sleeps_and_wakes_on_its_sources) {
    ReactorConfig config;
    config.spin_polls = 10;
    config.max_sleep = std::chrono::milliseconds(500);
    Reactor reactor(config);
    EventSource source;
    reactor.add(source);
    std::thread runner([&] { reactor.run(); });
    // Idle for a while: it goes to sleep (stats are the reactor thread's: read them after join).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    source.signal();
    while (source.handled.load() == 0) std::this_thread::yield();  // the wait fd woke it
    reactor.stop();
    runner.join();
    BOOST_TEST(source.handled.load() == 1u);
    // Idle, the loop sleeps instead of spinning: far fewer rounds than a busy loop would make.
    BOOST_TEST(reactor.stats().sleeps >= 1u);
}

BOOST_AUTO_TEST_CASE(busy_rounds_never_sleep) {
    ReactorConfig config;
    config.spin_polls = 0;
    Reactor reactor(config);
    EventSource source;
    reactor.add(source);
    for (int i = 0; i < 50; ++i) {
        source.signal();
        BOOST_TEST(reactor.run_once(true) == 1u);
    }
    BOOST_TEST(reactor.stats().sleeps == 0u);
    BOOST_TEST(source.handled.load() == 50u);
}

namespace {

// Adds many pollables and removes itself from inside its own poll(), as the client daemon does
// when a map exports a device (an NBD listener added from the control socket's poll).
class Spawner : public Pollable {
public:
    Spawner(Reactor& reactor, std::vector<EventSource>& children) : reactor_(reactor), children_(children) {}
    std::size_t poll(std::size_t) override {
        if (done_) return 0;
        for (auto& child : children_) reactor_.add(child);
        reactor_.remove(*this);
        done_ = true;
        return 1;
    }

private:
    Reactor& reactor_;
    std::vector<EventSource>& children_;
    bool done_ = false;
};

}  // namespace

BOOST_AUTO_TEST_CASE(pollables_added_and_removed_from_inside_a_poll_are_safe) {
    Reactor reactor;
    std::vector<EventSource> children(64);  // enough to make the pollable list reallocate
    Spawner spawner(reactor, children);
    EventSource before;
    reactor.add(before);
    reactor.add(spawner);
    BOOST_CHECK_GE(reactor.run_once(false), 1u);
    for (auto& child : children) child.signal();
    before.signal();
    reactor.run_once(false);
    for (auto& child : children) BOOST_CHECK_EQUAL(child.handled.load(), 1u);
    BOOST_CHECK_EQUAL(before.handled.load(), 1u);
    reactor.remove(before);  // outside a round: removed at once
    before.signal();
    reactor.run_once(false);
    BOOST_CHECK_EQUAL(before.handled.load(), 1u);
}

namespace {

class Counted : public Pollable {
public:
    explicit Counted(std::uint32_t every) : every_(every) {}
    std::size_t poll(std::size_t) override {
        ++polls;
        return busy ? 1 : 0;
    }
    std::uint32_t poll_every() const override { return every_; }
    std::uint64_t polls = 0;
    bool busy = false;

private:
    std::uint32_t every_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(control_plane_pollables_are_polled_every_nth_busy_round_and_after_a_sleep) {
    ReactorConfig config;
    config.spin_polls = 0;
    config.max_sleep = std::chrono::microseconds(100);
    Reactor reactor(config);
    Counted io(1), control(8);
    io.busy = true;
    reactor.add(io);
    reactor.add(control);
    for (int i = 0; i < 64; ++i) reactor.run_once(true);  // busy: never sleeps
    BOOST_TEST(io.polls == 64u);
    BOOST_TEST(control.polls >= 8u);
    BOOST_TEST(control.polls <= 9u);  // the first round counts as after a sleep
    io.busy = false;
    reactor.run_once(true);  // idle: sleeps
    BOOST_REQUIRE(reactor.stats().sleeps >= 1u);
    const std::uint64_t before = control.polls;
    io.busy = true;
    reactor.run_once(true);  // the round after a sleep polls everything
    BOOST_TEST(control.polls == before + 1);
}

BOOST_AUTO_TEST_CASE(an_idle_reactor_sleeps_until_its_sources_have_work_instead_of_spinning) {
    ReactorConfig config;  // the daemons' defaults
    Reactor reactor(config);
    EventSource source;
    reactor.add(source);
    std::thread runner([&] { reactor.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    source.signal();  // work: polled, then spin_polls empty rounds, then asleep again
    while (source.handled.load() == 0) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    reactor.stop();
    runner.join();
    // Two bounded spins (after start-up and after the work), a few rounds to wake and stop. An
    // idle reactor that woke every max_sleep and spun each time made tens of thousands here.
    BOOST_TEST(reactor.stats().rounds <= 2 * config.spin_polls + 10);
    BOOST_TEST(reactor.stats().sleeps <= 5u);
}

BOOST_AUTO_TEST_CASE(a_pollable_without_a_wait_fd_is_still_polled_while_idle) {
    ReactorConfig config;
    config.spin_polls = 0;
    config.fdless_poll = std::chrono::microseconds(1000);
    Reactor reactor(config);
    Counted blind(1);  // no wait fd: only polling finds its work
    reactor.add(blind);
    std::thread runner([&] { reactor.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    reactor.stop();
    runner.join();
    // About one poll per millisecond; far more than max_sleep (1 s) alone would give.
    BOOST_TEST(blind.polls >= 20u);
    BOOST_TEST(blind.polls <= 1000u);
}

namespace {

// Gives the reactor one event, then runs idle rounds until it sleeps; returns the empty rounds it
// spun (a round after a sleep that finds nothing sleeps at once, whatever the spin budget).
std::uint64_t rounds_to_sleep(Reactor& reactor, EventSource& source) {
    source.signal();
    BOOST_REQUIRE(reactor.run_once(true) == 1u);
    const std::uint64_t rounds = reactor.stats().rounds;
    const std::uint64_t sleeps = reactor.stats().sleeps;
    while (reactor.stats().sleeps == sleeps) reactor.run_once(true);
    return reactor.stats().rounds - rounds;
}

}  // namespace

// A reactor whose thread waits for a CPU much of the time (a CPU hog on its core) stops spinning:
// it sleeps after the first empty round, and spins again once it gets its CPU. The monitor's clock
// and run-queue wait are the test's, so the windows do not depend on how busy the machine is.
BOOST_AUTO_TEST_CASE(a_reactor_that_waits_for_its_cpu_stops_spinning_until_it_gets_it) {
    using Clock = std::chrono::steady_clock;
    Clock::time_point now{};
    std::uint64_t waited_ns = 0;
    ReactorConfig config;
    config.spin_polls = 100'000;
    config.adaptive_spin = false;  // only the contention rule here: the spins below never pay
    config.max_sleep = std::chrono::microseconds(100);
    config.contention.window = std::chrono::microseconds(1000);
    config.contention.hold = std::chrono::microseconds(20'000);
    config.contention.runqueue_wait_ns = [&] { return waited_ns; };
    config.contention.clock = [&] { return now; };
    Reactor reactor(config);
    EventSource source;
    reactor.add(source);
    // Uncontended: a sleep comes only after the spin budget of empty rounds.
    BOOST_TEST(rounds_to_sleep(reactor, source) > 100'000u);
    BOOST_TEST(reactor.stats().contended_periods == 0u);
    // Half of each window waiting for a CPU (over the 25% threshold): the window that sees it
    // starts a contended period, and each empty round sleeps at once.
    const auto wait_half_of = [&](std::chrono::microseconds span) {
        now += span;
        waited_ns += static_cast<std::uint64_t>(std::chrono::nanoseconds(span).count()) / 2;
    };
    wait_half_of(std::chrono::microseconds(1000));
    reactor.run_once(true);  // idle after the spin above: sleeps, and the sleep reads the clock
    BOOST_TEST(reactor.stats().contended_periods == 1u);
    for (int i = 0; i < 64; ++i) {
        wait_half_of(std::chrono::microseconds(250));
        BOOST_TEST(rounds_to_sleep(reactor, source) == 1u);
    }
    BOOST_TEST(reactor.stats().contended_periods == 1u);  // one period, held across the windows
    // No more waiting: the hold passes, and the next window finds the thread uncontended.
    now += config.contention.hold + config.contention.window;
    reactor.run_once(true);
    BOOST_TEST(rounds_to_sleep(reactor, source) > 100'000u);
    BOOST_TEST(reactor.stats().contended_periods == 1u);
}

namespace {

// Work on every `period`th poll, with no wait fd: a source whose work follows its last work after
// a fixed number of empty rounds.
class Periodic : public Pollable {
public:
    explicit Periodic(std::uint64_t period) : period_(period) {}
    std::size_t poll(std::size_t) override { return ++polls_ % period_ == 0 ? 1 : 0; }

private:
    std::uint64_t period_;
    std::uint64_t polls_ = 0;
};

}  // namespace

// Spinning follows its payoff: spins that always run out wear the budget down to sleeping at
// once (but for a probe every 16th spin), and work that comes within a probe's spin brings the
// budget back, after which the reactor spins across those gaps without sleeping.
BOOST_AUTO_TEST_CASE(a_reactor_spins_only_as_long_as_spinning_pays) {
    ReactorConfig config;
    config.spin_polls = 10'000;
    config.max_sleep = std::chrono::microseconds(1000);
    config.fdless_poll = std::chrono::microseconds(1000);
    config.contention.wait_fraction = 0;  // a busy test machine must not make it stop spinning
    Reactor reactor(config);
    EventSource source;
    reactor.add(source);
    // Work only after sleeps: every spin runs out.
    std::uint64_t all_rounds = 0, last_16_rounds = 0;
    for (int i = 0; i < 64; ++i) {
        const std::uint64_t rounds = rounds_to_sleep(reactor, source);
        all_rounds += rounds;
        if (i >= 48) last_16_rounds += rounds;
    }
    BOOST_TEST(all_rounds < 64u * 10'000 / 4);          // without adaptation: 64 x 10,001
    BOOST_TEST(last_16_rounds <= 10'001u + 15 * 2);    // one probe; the other spins sleep at once
    BOOST_TEST(reactor.stats().spins_wasted >= 60u);
    BOOST_TEST(reactor.stats().spins_paid == 0u);
    // Work every 20th round: the next probe finds it after 19 empty rounds, and from then on
    // every spin pays.
    Periodic periodic(20);
    reactor.add(periodic);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (reactor.stats().spins_paid == 0 && std::chrono::steady_clock::now() < until) reactor.run_once(true);
    BOOST_REQUIRE(reactor.stats().spins_paid == 1u);
    const std::uint64_t sleeps = reactor.stats().sleeps;
    for (int i = 0; i < 10'000; ++i) reactor.run_once(true);
    BOOST_TEST(reactor.stats().sleeps == sleeps);
    BOOST_TEST(reactor.stats().spins_paid >= 1 + 10'000u / 20 - 1);
}
