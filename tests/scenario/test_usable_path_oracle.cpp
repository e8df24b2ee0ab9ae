// The oracle "an IO fails only when no usable path existed for it within its deadline", fed
// with path states, device states, fault plans and IO completions by hand.
#include <boost/test/unit_test.hpp>

#include <cerrno>

#include "sim-scenarios/runner/usable_path_oracle.hpp"

using namespace ibnbd::scenario;
using ibnbd::ibtrs::ClientPathState;

namespace {

constexpr Nanos ms = kMs;

struct Violations final : RunObserver {
    void violation(Nanos, std::string_view what) override { messages.emplace_back(what); }
    std::vector<std::string> messages;
};

// One session with two paths to server 0 and one device (store 0) on it.
class Fixture {
public:
    explicit Fixture(Nanos wait_while_reconnecting = 0, std::vector<Action> actions = {}) {
        layout_.paths = {{"c/s/0", "c", "c-s", "a@b", 0}, {"c/s/1", "c", "c-s", "c@d", 0}};
        layout_.devices = {{"c:s/vol0", "c", 0}};
        plan_.actions = std::move(actions);
        for (const Action& action : plan_.actions) plan_.end = std::max(plan_.end, action.at);
        plan_.server_crashed = {false};
        plan_.store_failing = {{false}};
        OracleTopology topology{{0, 0}, {{{0, 1}, 0, 0, {0, 1}}}};
        oracle_ = std::make_unique<UsablePathOracle>(topology, plan_, UsablePathMargins{30 * ms, 10 * ms, 30 * ms},
                                                     wait_while_reconnecting, violations_);
        oracle_->start(layout_);
        oracle_->phase(0, "safety");
        connect(0, 0);
        connect(1, 0);
    }

    void connect(std::uint32_t path, Nanos at) {
        oracle_->path_state(at, path, ClientPathState::connecting, ClientPathState::connected, "");
    }
    void disconnect(std::uint32_t path, Nanos at) {
        oracle_->path_state(at, path, ClientPathState::connected, ClientPathState::reconnecting, "");
    }
    void device(ibnbd::block::DeviceState state, Nanos at) {
        oracle_->device_state(at, 0, ibnbd::block::DeviceState::mapped, state);
    }
    // Whether an IO issued at `started` that failed at `at` is flagged.
    bool flagged(Nanos at, Nanos started, int status = -EIO) {
        const std::uint64_t before = oracle_->flagged();
        oracle_->io_done(at, 0, 1, IoKind::read, 4096, status, at - started);
        return oracle_->flagged() > before;
    }
    const std::vector<std::string>& messages() const { return violations_.messages; }

private:
    Layout layout_;
    FaultPlan plan_;
    Violations violations_;
    std::unique_ptr<UsablePathOracle> oracle_;
};

Action action(Nanos at, ActionKind kind, std::uint32_t path = 0) {
    Action a;
    a.at = at;
    a.kind = kind;
    a.path = path;
    return a;
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_io_failed_with_a_healthy_connected_path_is_flagged) {
    Fixture f;
    BOOST_TEST(f.flagged(100 * ms, 99 * ms, -ENOTCONN));
    BOOST_REQUIRE_EQUAL(f.messages().size(), 1u);
    BOOST_TEST(f.messages().front().rfind(kUsablePathViolation, 0) == 0u);
    BOOST_TEST(f.messages().front().find("read failed with ENOTCONN at 100ms") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_io_failed_without_a_connected_path_is_not) {
    Fixture f;
    f.disconnect(0, 50 * ms);
    f.disconnect(1, 60 * ms);
    BOOST_TEST(!f.flagged(100 * ms, 40 * ms));
    BOOST_TEST(f.messages().empty());
}

BOOST_AUTO_TEST_CASE(a_path_that_lived_through_a_fault_is_usable_only_after_the_margin) {
    // Path 1's link is down from 50ms to 60ms; path 0 is gone. Path 1 still looks connected.
    Fixture f(0, {action(50 * ms, ActionKind::link_down, 1), action(60 * ms, ActionKind::link_up, 1)});
    f.disconnect(0, 10 * ms);
    BOOST_TEST(!f.flagged(55 * ms, 54 * ms));
    BOOST_TEST(!f.flagged(89 * ms, 88 * ms));
    BOOST_TEST(f.flagged(91 * ms, 90 * ms));
}

BOOST_AUTO_TEST_CASE(overlapping_faults_and_instant_ones_keep_the_path_unusable) {
    // A clog from 20ms to 80ms with a connection error at 50ms inside it.
    Fixture f(0, {action(20 * ms, ActionKind::clog, 1), action(50 * ms, ActionKind::break_connections, 1),
                  action(80 * ms, ActionKind::unclog, 1)});
    f.disconnect(0, 10 * ms);
    BOOST_TEST(!f.flagged(21 * ms, 20 * ms));
    BOOST_TEST(!f.flagged(60 * ms, 59 * ms));
    BOOST_TEST(!f.flagged(109 * ms, 108 * ms));
    BOOST_TEST(f.flagged(111 * ms, 110 * ms));
}

BOOST_AUTO_TEST_CASE(a_connection_made_after_the_fault_is_usable_sooner) {
    Fixture f(0, {action(50 * ms, ActionKind::link_down, 1), action(60 * ms, ActionKind::link_up, 1)});
    f.disconnect(0, 10 * ms);
    f.disconnect(1, 55 * ms);
    f.connect(1, 70 * ms);
    BOOST_TEST(!f.flagged(79 * ms, 78 * ms));
    BOOST_TEST(f.flagged(81 * ms, 80 * ms));
}

BOOST_AUTO_TEST_CASE(a_device_waiting_for_its_remap_gets_the_remap_margin_too) {
    Fixture f(0, {action(50 * ms, ActionKind::link_down, 1), action(60 * ms, ActionKind::link_up, 1)});
    f.disconnect(0, 10 * ms);
    f.disconnect(1, 55 * ms);
    f.device(ibnbd::block::DeviceState::mapped_disconnected, 55 * ms);
    f.connect(1, 70 * ms);
    BOOST_TEST(!f.flagged(109 * ms, 109 * ms));
    BOOST_TEST(f.flagged(111 * ms, 111 * ms));
    f.device(ibnbd::block::DeviceState::mapped, 112 * ms);
    BOOST_TEST(f.flagged(113 * ms, 113 * ms));
}

BOOST_AUTO_TEST_CASE(a_server_crash_makes_its_paths_unusable_until_the_margin_after_the_restart) {
    Action crash = action(50 * ms, ActionKind::crash), restart = action(52 * ms, ActionKind::restart);
    Fixture f(0, {crash, restart});
    BOOST_TEST(!f.flagged(60 * ms, 59 * ms));
    BOOST_TEST(!f.flagged(81 * ms, 80 * ms));
    BOOST_TEST(f.flagged(83 * ms, 82 * ms));
}

BOOST_AUTO_TEST_CASE(errors_while_the_storage_fails_are_the_storage_s) {
    Action error = action(40 * ms, ActionKind::storage_error), clear = action(60 * ms, ActionKind::storage_clear);
    Fixture f(0, {error, clear});
    BOOST_TEST(!f.flagged(45 * ms, 44 * ms));
    BOOST_TEST(!f.flagged(61 * ms, 59 * ms));  // issued while the storage failed
    BOOST_TEST(f.flagged(70 * ms, 69 * ms));
}

BOOST_AUTO_TEST_CASE(the_wait_window_is_the_queueing_time_before_the_failure) {
    // Path 1 is usable until 100ms; an IO waiting from 60ms fails with ETIMEDOUT at 560ms.
    Fixture queued(500 * ms);
    queued.disconnect(0, 10 * ms);
    queued.disconnect(1, 100 * ms);
    BOOST_TEST(queued.flagged(560 * ms, 40 * ms, -ETIMEDOUT));
    BOOST_TEST(queued.messages().front().find("waiting since 60ms") != std::string::npos);
    // Waiting began after path 1 was gone: nothing to flag.
    BOOST_TEST(!queued.flagged(700 * ms, 150 * ms, -ETIMEDOUT));
    // Without queueing only the failure instant counts.
    Fixture immediate(0);
    immediate.disconnect(0, 10 * ms);
    immediate.disconnect(1, 100 * ms);
    BOOST_TEST(!immediate.flagged(560 * ms, 40 * ms));
}

BOOST_AUTO_TEST_CASE(a_path_is_not_usable_at_the_instant_it_breaks) {
    // A connection error on path 0 (the only one left) fails the IO at that very instant, before
    // or after the path's state change is reported.
    Fixture f(0, {action(128 * ms, ActionKind::break_connections, 0)});
    f.disconnect(1, 10 * ms);
    BOOST_TEST(!f.flagged(128 * ms, 127 * ms));
    f.disconnect(0, 128 * ms);
    BOOST_TEST(!f.flagged(128 * ms, 127 * ms));
}

BOOST_AUTO_TEST_CASE(errors_other_than_a_timeout_are_judged_at_the_failure_instant) {
    // An IO sent while path 1 was fine; the path broke right after and the IO failed with EIO
    // later: with queueing, only an ETIMEDOUT says that the IO waited for a path.
    Fixture f(500 * ms, {action(41 * ms, ActionKind::heartbeat_filter_on, 1),
                         action(300 * ms, ActionKind::heartbeat_filter_off, 1)});
    f.disconnect(0, 10 * ms);
    BOOST_TEST(!f.flagged(160 * ms, 40 * ms, -EIO));
    BOOST_TEST(f.flagged(160 * ms, 40 * ms, -ETIMEDOUT));
}

BOOST_AUTO_TEST_CASE(a_remap_may_wait_for_io_left_in_slow_storage) {
    // Storage is slow (100ms + 50ms jitter) from 20ms to 40ms: IO of the old session may stay in
    // storage until 190ms, and the server may refuse to open the device again until then.
    Action slow = action(20 * ms, ActionKind::storage_latency);
    Action normal = action(40 * ms, ActionKind::storage_latency_reset);
    slow.delay = 100 * ms;
    slow.jitter = 50 * ms;
    Fixture f(0, {slow, normal});
    f.device(ibnbd::block::DeviceState::mapped_disconnected, 50 * ms);
    BOOST_TEST(!f.flagged(150 * ms, 150 * ms));
    BOOST_TEST(!f.flagged(219 * ms, 219 * ms));  // 190ms + the remap margin
    BOOST_TEST(f.flagged(221 * ms, 221 * ms));
    // A mapped device has nothing to wait for.
    f.device(ibnbd::block::DeviceState::mapped, 222 * ms);
    Fixture mapped(0, {slow, normal});
    BOOST_TEST(mapped.flagged(150 * ms, 150 * ms));
    // Slow storage of another device of the session holds the permits of its requests back too.
    slow.store = normal.store = 1;
    Fixture other(0, {slow, normal});
    other.device(ibnbd::block::DeviceState::mapped_disconnected, 50 * ms);
    BOOST_TEST(!other.flagged(150 * ms, 150 * ms));
}

BOOST_AUTO_TEST_CASE(overlapping_slow_storage_faults_keep_the_slowest_latency) {
    // Swarm seed 3504: storage 81ms (+81ms jitter) slow from 0 to 2ms, and 2ms slow from 1ms to
    // 2ms. IO that entered storage at 0 may stay there until 164ms, whatever the later, faster
    // fault set meanwhile.
    Action slow = action(0, ActionKind::storage_latency);
    slow.delay = slow.jitter = 81 * ms;
    Action faster = action(1 * ms, ActionKind::storage_latency);
    faster.delay = faster.jitter = 2 * ms;
    Action reset_faster = action(2 * ms, ActionKind::storage_latency_reset);
    Action reset_slow = action(2 * ms, ActionKind::storage_latency_reset);
    Fixture f(0, {slow, faster, reset_faster, reset_slow});
    f.device(ibnbd::block::DeviceState::mapped_disconnected, 10 * ms);
    BOOST_TEST(!f.flagged(108 * ms, 108 * ms));
    BOOST_TEST(!f.flagged(193 * ms, 193 * ms));  // 164ms + the remap margin
    BOOST_TEST(f.flagged(195 * ms, 195 * ms));
}
