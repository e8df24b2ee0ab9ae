// Virtual timing: latency, bandwidth (serialisation), jitter without reordering, clog, timers.
#include <boost/test/unit_test.hpp>

#include <set>

#include "tests/fabric/sim/sim_support.hpp"

namespace ibnbd::fabric::sim::test {

BOOST_AUTO_TEST_SUITE(timing)

BOOST_AUTO_TEST_CASE(write_lands_after_latency_and_completes_after_the_ack) {
    TwoNodes net(1, {}, LinkConfig{.latency = 10 * kMicrosecond});
    net.connect();
    Region target(net.server_node, 4096, kAllAccess, 1);
    Region source(net.client_node, 4096, kAllAccess, 2);
    Region catcher(net.server_node, 16, kAllAccess);
    Sge receive = catcher.sge(0, 16);
    BOOST_REQUIRE(net.server().post_recv(77, {&receive, 1}).has_value());

    const Nanos start = net.world.now();
    Sge piece = source.sge(100, 1000);
    const std::uint32_t imm = 0xABCD;
    BOOST_REQUIRE(net.client().post_write(5, {&piece, 1}, target.remote(200), &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(5).has_value(); }));

    const auto arrived = net.server_events.find(77);
    BOOST_REQUIRE(arrived.has_value());
    BOOST_TEST(arrived->time == start + 10 * kMicrosecond);
    BOOST_TEST(arrived->completion.opcode == Opcode::recv_rdma_with_imm);
    BOOST_TEST(arrived->completion.imm == imm);
    BOOST_TEST(arrived->completion.byte_len == 1000u);
    BOOST_TEST(net.client_events.find(5)->time == start + 20 * kMicrosecond);
    BOOST_TEST(std::equal(source.bytes.begin() + 100, source.bytes.begin() + 1100, target.bytes.begin() + 200));
}

BOOST_AUTO_TEST_CASE(bandwidth_serialises_each_direction) {
    // 1 GB/s: one byte per nanosecond.
    TwoNodes net(1, {}, LinkConfig{.latency = kMicrosecond, .bandwidth_bytes_per_sec = 1'000'000'000});
    net.connect();
    Region target(net.server_node, 8192, kAllAccess);
    Region source(net.client_node, 8192, kAllAccess);

    const Nanos start = net.world.now();
    Sge first = source.sge(0, 1000);
    Sge second = source.sge(1000, 1000);
    BOOST_REQUIRE(net.client().post_write(1, {&first, 1}, target.remote(0)).has_value());
    BOOST_REQUIRE(net.client().post_write(2, {&second, 1}, target.remote(1000)).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.completions.size() == 2; }));
    // Acks are small: they take the latency only.
    BOOST_TEST(net.client_events.find(1)->time == start + 1000 + kMicrosecond + kMicrosecond);
    BOOST_TEST(net.client_events.find(2)->time == start + 2000 + kMicrosecond + kMicrosecond);

    // A read's response occupies the reverse direction.
    const Nanos read_start = net.world.now();
    Sge into = source.sge(4096, 4000);
    BOOST_REQUIRE(net.client().post_read(3, {&into, 1}, target.remote(0)).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(3).has_value(); }));
    BOOST_TEST(net.client_events.find(3)->time == read_start + kMicrosecond + 4000 + kMicrosecond);
    BOOST_TEST(net.client_events.find(3)->completion.byte_len == 4000u);
    BOOST_TEST(std::equal(target.bytes.begin(), target.bytes.begin() + 4000, source.bytes.begin() + 4096));
}

BOOST_AUTO_TEST_CASE(jitter_varies_arrivals_but_never_reorders_a_connection) {
    WorldConfig config;
    config.imm_mode = ImmMode::tcp;
    TwoNodes net(7, config, LinkConfig{.latency = kMicrosecond, .jitter = 50 * kMicrosecond});
    net.connect(QueueSizes{.max_send_wr = 256, .max_recv_wr = 16});
    constexpr std::uint32_t kCount = 200;
    std::vector<Nanos> posted;
    for (std::uint32_t i = 0; i < kCount; ++i) {
        posted.push_back(net.world.now());
        BOOST_REQUIRE(net.client().post_write(i, {}, RemoteKey{}, &i).has_value());
        net.world.run_for(100);  // posts 100 ns apart, far less than the jitter
    }
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.completions.size() == kCount; }));

    const auto arrivals = net.server_events.with_opcode(Opcode::recv_rdma_with_imm);
    BOOST_REQUIRE(arrivals.size() == kCount);
    std::set<Nanos> delays;
    for (std::uint32_t i = 0; i < kCount; ++i) {
        BOOST_TEST(arrivals[i].completion.imm == i);
        BOOST_TEST(arrivals[i].completion.context == 0u);  // tcp mode: no receive consumed
        BOOST_TEST(!arrivals[i].completion.recv_consumed);
        BOOST_TEST(arrivals[i].time >= posted[i] + kMicrosecond);
        BOOST_TEST(arrivals[i].time <= posted[kCount - 1] + 51 * kMicrosecond);
        if (i > 0) BOOST_TEST(arrivals[i].time >= arrivals[i - 1].time);
        delays.insert(arrivals[i].time - posted[i]);
    }
    BOOST_TEST(delays.size() > 10u);  // the jitter really varied the delays
    for (std::uint32_t i = 0; i < kCount; ++i) BOOST_TEST(net.client_events.completions[i].completion.context == i);
}

BOOST_AUTO_TEST_CASE(clog_delays_new_messages_of_one_direction_until_unclogged) {
    WorldConfig config;
    config.imm_mode = ImmMode::tcp;
    TwoNodes net(1, config, LinkConfig{.latency = 5 * kMicrosecond});
    net.connect();
    net.world.clog_link(kClientAddress, kServerAddress, 100 * kMicrosecond, Direction::a_to_b);

    Nanos start = net.world.now();
    std::uint32_t imm = 1;
    BOOST_REQUIRE(net.client().post_write(1, {}, RemoteKey{}, &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(1).has_value(); }));
    BOOST_TEST(net.server_events.completions.back().time == start + 105 * kMicrosecond);
    BOOST_TEST(net.client_events.find(1)->time == start + 110 * kMicrosecond);  // the ack is not clogged

    // The other direction is not clogged.
    start = net.world.now();
    BOOST_REQUIRE(net.server().post_write(2, {}, RemoteKey{}, &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.server_events.find(2).has_value(); }));
    BOOST_TEST(net.server_events.find(2)->time == start + 110 * kMicrosecond);  // its ack is

    net.world.unclog_link(kServerAddress, kClientAddress);
    start = net.world.now();
    BOOST_REQUIRE(net.client().post_write(3, {}, RemoteKey{}, &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(3).has_value(); }));
    BOOST_TEST(net.client_events.find(3)->time == start + 10 * kMicrosecond);
}

class TimerLog final : public TimerHandler {
public:
    explicit TimerLog(const World& world) : world_(world) {}
    void on_timer(std::uint64_t cookie) override { fired.emplace_back(cookie, world_.now()); }
    std::vector<std::pair<std::uint64_t, Nanos>> fired;

private:
    const World& world_;
};

BOOST_AUTO_TEST_CASE(timers_fire_at_their_deadline_in_start_order_and_cancel) {
    World world(3);
    Node& node = world.add_node("solo", {"10.0.0.9"});
    TimerLog log(world);
    world.run_for(500);
    const TimerId late = node.start_timer(300, log, 1);
    const TimerId first = node.start_timer(200, log, 2);
    const TimerId second = node.start_timer(200, log, 3);
    const TimerId cancelled = node.start_timer(100, log, 4);
    BOOST_TEST(late != 0u);
    BOOST_TEST(first != second);
    BOOST_TEST(node.cancel_timer(cancelled));
    BOOST_TEST(!node.cancel_timer(cancelled));
    BOOST_TEST(!node.cancel_timer(0));
    BOOST_TEST(log.fired.empty());  // nothing runs outside run*()

    world.run_for(1000);
    BOOST_REQUIRE(log.fired.size() == 3u);
    BOOST_TEST(log.fired[0].first == 2u);
    BOOST_TEST(log.fired[0].second == 700u);
    BOOST_TEST(log.fired[1].first == 3u);
    BOOST_TEST(log.fired[1].second == 700u);
    BOOST_TEST(log.fired[2].first == 1u);
    BOOST_TEST(log.fired[2].second == 800u);
    BOOST_TEST(!node.cancel_timer(first));  // already fired
    BOOST_TEST(world.now() == 1500u);
    BOOST_TEST(world.stats().timers_fired == 3u);
}

BOOST_AUTO_TEST_CASE(step_pending_and_running_until_forever) {
    World world(3);
    Node& node = world.add_node("solo", {"10.0.0.9"});
    TimerLog log(world);
    BOOST_TEST(!world.step());
    node.start_timer(10, log, 1);
    node.start_timer(20, log, 2);
    BOOST_TEST(world.pending() == 2u);
    BOOST_TEST(world.step());
    BOOST_TEST(world.now() == 10u);
    BOOST_TEST(log.fired.size() == 1u);
    world.run_until(kForever);  // runs out of events; the clock stays at the last one
    BOOST_TEST(world.now() == 20u);
    BOOST_TEST(world.pending() == 0u);
    node.start_timer(kForever, log, 3);  // saturates instead of wrapping round to "now"
    world.run_for(kSecond);
    BOOST_TEST(log.fired.size() == 2u);
    BOOST_TEST(!world.run_until([&] { return log.fired.size() == 3; }, 2 * kSecond));
    BOOST_TEST(world.now() == 2 * kSecond);
}

BOOST_AUTO_TEST_CASE(many_cancelled_timers_do_not_pile_up_in_the_queue) {
    World world(3);
    Node& node = world.add_node("solo", {"10.0.0.9"});
    TimerLog log(world);
    for (int i = 0; i < 100'000; ++i) {
        const TimerId id = node.start_timer(30 * kSecond, log, static_cast<std::uint64_t>(i));
        BOOST_REQUIRE(node.cancel_timer(id));
    }
    BOOST_TEST(world.pending() < 5'000u);
    node.start_timer(kSecond, log, 42);
    world.run_for(60 * kSecond);
    BOOST_REQUIRE(log.fired.size() == 1u);
    BOOST_TEST(log.fired[0].first == 42u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
