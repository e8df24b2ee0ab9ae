// Clock, timers, random stream and registration arguments.
#include <boost/test/unit_test.hpp>

#include <set>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

namespace {

class TimerLog final : public TimerHandler {
public:
    explicit TimerLog(Fabric& fabric) : fabric_(fabric) {}
    void on_timer(std::uint64_t cookie) override {
        cookies.push_back(cookie);
        fired_at.push_back(fabric_.now());
    }
    std::vector<std::uint64_t> cookies;
    std::vector<Nanos> fired_at;

private:
    Fabric& fabric_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(clock)

BOOST_AUTO_TEST_CASE(timers_fire_in_deadline_order_and_cancel) {
    auto harness = open_harness();
    Fabric& fabric = harness->client();
    TimerLog log(fabric);
    const Nanos start = fabric.now();
    const TimerId late = fabric.start_timer(60 * kMillisecond, log, 3);
    const TimerId early = fabric.start_timer(20 * kMillisecond, log, 1);
    const TimerId cancelled = fabric.start_timer(30 * kMillisecond, log, 99);
    const TimerId middle = fabric.start_timer(40 * kMillisecond, log, 2);
    BOOST_TEST(late != 0u);
    BOOST_TEST(early != 0u);
    BOOST_TEST(std::set<TimerId>({late, early, cancelled, middle}).size() == 4u);
    BOOST_TEST(fabric.cancel_timer(cancelled));
    BOOST_TEST(!fabric.cancel_timer(cancelled));
    BOOST_REQUIRE(harness->run_until([&] { return log.cookies.size() == 3; }, kTimeout));
    harness->run_for(50 * kMillisecond);
    BOOST_TEST(log.cookies == (std::vector<std::uint64_t>{1, 2, 3}), boost::test_tools::per_element());
    BOOST_TEST(log.fired_at[0] >= start + 20 * kMillisecond);
    BOOST_TEST(log.fired_at[1] >= start + 40 * kMillisecond);
    BOOST_TEST(log.fired_at[2] >= start + 60 * kMillisecond);
    BOOST_TEST(!fabric.cancel_timer(early));  // already fired
    BOOST_TEST(!fabric.cancel_timer(0));
}

BOOST_AUTO_TEST_CASE(timers_with_equal_deadlines_fire_in_start_order) {
    auto harness = open_harness();
    Fabric& fabric = harness->server();
    TimerLog log(fabric);
    // Zero delay: due at once, so their deadlines are the same or increase with start order.
    for (std::uint64_t cookie = 1; cookie <= 5; ++cookie) fabric.start_timer(0, log, cookie);
    BOOST_REQUIRE(harness->run_until([&] { return log.cookies.size() == 5; }, kTimeout));
    BOOST_TEST(log.cookies == (std::vector<std::uint64_t>{1, 2, 3, 4, 5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(now_is_monotonic_and_advances) {
    auto harness = open_harness();
    Fabric& fabric = harness->client();
    Nanos previous = fabric.now();
    for (int i = 0; i < 1000; ++i) {
        const Nanos current = fabric.now();
        BOOST_REQUIRE(current >= previous);
        previous = current;
    }
    harness->run_for(10 * kMillisecond);
    BOOST_TEST(fabric.now() >= previous + 10 * kMillisecond);
}

BOOST_AUTO_TEST_CASE(random_stream_varies) {
    auto harness = open_harness();
    std::set<std::uint64_t> values;
    for (int i = 0; i < 64; ++i) values.insert(harness->client().random_u64());
    BOOST_TEST(values.size() > 60u);
}

BOOST_AUTO_TEST_CASE(registration_refuses_size_0_and_access_0) {
    auto harness = open_harness();
    std::vector<std::byte> buffer(128);
    for (Fabric* fabric : {&harness->server(), &harness->client()}) {
        BOOST_TEST(fails_with(fabric->register_memory(buffer.data(), 0, access_local_write), Errc::invalid_argument));
        BOOST_TEST(fails_with(fabric->register_memory(buffer.data(), buffer.size(), 0), Errc::invalid_argument));
        auto region = fabric->register_memory(buffer.data(), buffer.size(), access_local_write | access_remote_write);
        BOOST_REQUIRE(region.has_value());
        BOOST_TEST((*region)->size() == buffer.size());
        BOOST_TEST((*region)->data() == buffer.data());
        BOOST_TEST((*region)->access() == (access_local_write | access_remote_write));
    }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::test
