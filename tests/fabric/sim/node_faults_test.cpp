// Node faults (crash, restart, CM reject/drop/delay, registration failures) and the address
// rules of listen/connect.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/sim/sim_support.hpp"

namespace ibnbd::fabric::sim::test {
namespace {

constexpr Nanos kLatency = 10 * kMicrosecond;

class CountTimer final : public TimerHandler {
public:
    void on_timer(std::uint64_t) override { ++fired; }
    int fired = 0;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(node_faults)

BOOST_AUTO_TEST_CASE(crash_is_silent_until_the_peer_posts) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    net.connect();
    Region server_memory(net.server_node, 64, kAllAccess);
    CountTimer timer;
    net.server_node.start_timer(kMillisecond, timer, 1);
    BOOST_REQUIRE(net.server().post_recv(1, {}).has_value());
    BOOST_REQUIRE(net.client().post_recv(2, {}).has_value());
    const std::size_t server_events_before = net.server_events.events.size();
    const std::size_t client_events_before = net.client_events.events.size();

    net.server_node.crash();
    BOOST_TEST(net.server_node.crashed());
    net.world.run_for(10 * kSecond);
    BOOST_TEST(net.client_events.events.size() == client_events_before);
    BOOST_TEST(net.client_events.completions.empty());
    BOOST_TEST(net.client().connected());
    BOOST_TEST(timer.fired == 0);

    // The server's objects are inert.
    BOOST_TEST(net.server_events.events.size() == server_events_before);
    BOOST_TEST(net.server_events.completions.empty());
    BOOST_TEST(!net.server().connected());
    BOOST_TEST(fails_with(net.server().post_recv(3, {}), Errc::not_connected));
    BOOST_TEST(fails_with(net.server().post_send(3, {}), Errc::not_connected));
    net.server().disconnect();

    // The client finds out when its own work times out.
    const Nanos start = net.world.now();
    BOOST_REQUIRE(net.client().post_send(4, {}).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::disconnected); }));
    BOOST_TEST(net.client_events.find(4)->completion.status == WcStatus::transport_retry_exceeded);
    BOOST_TEST(net.client_events.find(4)->time == start + kLatency + net.world.config().transport_timeout);
    BOOST_TEST(net.client_events.find(2)->completion.status == WcStatus::flushed);

    // Destroying the dead node's objects is safe and silent.
    net.acceptor.endpoints.clear();
    net.listener.reset();
    server_memory.mr.reset();
    net.world.run_for(kSecond);
    BOOST_TEST(net.server_events.completions.empty());
}

BOOST_AUTO_TEST_CASE(restart_gives_an_empty_reachable_node) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    net.connect();
    Region old_memory(net.server_node, 64, kAllAccess);
    const RemoteKey old_key = old_memory.remote(0);
    net.server_node.crash();
    BOOST_TEST(fails_with(net.server_node.listen(Address{kServerAddress, 7100}, net.acceptor), Errc::backend_error));
    BOOST_TEST(fails_with(net.server_node.register_memory(old_memory.bytes.data(), 8, access_remote_write),
                          Errc::registration_failed));
    CountTimer while_down;
    net.server_node.start_timer(kMillisecond, while_down, 1);
    net.server_node.restart();
    BOOST_TEST(!net.server_node.crashed());
    net.world.run_for(10 * kMillisecond);
    BOOST_TEST(while_down.fired == 0);

    // The port of the dead listener is free again; the old registration is gone.
    net.acceptor.endpoints.clear();
    net.client_endpoint.reset();
    net.connect(QueueSizes{}, 7000);
    Region source(net.client_node, 64, kAllAccess);
    Sge piece = source.sge(0, 8);
    BOOST_REQUIRE(net.client().post_write(1, {&piece, 1}, old_key).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(1).has_value(); }));
    BOOST_TEST(net.client_events.find(1)->completion.status == WcStatus::remote_access_error);

    CountTimer after_restart;
    net.server_node.start_timer(kMillisecond, after_restart, 2);
    net.world.run_for(2 * kMillisecond);
    BOOST_TEST(after_restart.fired == 1);
}

BOOST_AUTO_TEST_CASE(injected_rejects_never_reach_the_listener) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    auto listener = net.server_node.listen(Address{kServerAddress, 7000}, net.acceptor);
    BOOST_REQUIRE(listener.has_value());
    net.server_node.inject_cm_reject(2);
    std::vector<std::unique_ptr<Endpoint>> clients;
    for (int i = 0; i < 3; ++i) {
        auto client = net.client_node.connect((*listener)->address(), Address{}, {}, net.client_events, QueueSizes{});
        BOOST_REQUIRE(client.has_value());
        clients.push_back(std::move(*client));
    }
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.events.size() == 3; }));
    BOOST_TEST(net.client_events.count(CmEventType::rejected) == 2u);
    BOOST_TEST(net.client_events.count(CmEventType::established) == 1u);
    BOOST_TEST(net.client_events.first(CmEventType::rejected)->private_data.empty());
    BOOST_TEST(net.acceptor.requests == 1);
}

BOOST_AUTO_TEST_CASE(dropped_requests_end_unreachable_after_the_cm_timeout) {
    WorldConfig config;
    config.cm_timeout = 200 * kMillisecond;
    TwoNodes net(1, config, LinkConfig{.latency = kLatency});
    auto listener = net.server_node.listen(Address{kServerAddress, 7000}, net.acceptor);
    BOOST_REQUIRE(listener.has_value());
    net.server_node.inject_cm_drop(1);
    const Nanos start = net.world.now();
    auto dropped = net.client_node.connect((*listener)->address(), Address{}, {}, net.client_events, QueueSizes{});
    BOOST_REQUIRE(dropped.has_value());
    BOOST_REQUIRE(net.run_until([&] { return !net.client_events.events.empty(); }));
    BOOST_TEST(net.client_events.events[0].type == CmEventType::unreachable);
    BOOST_TEST(net.client_events.events[0].time == start + 200 * kMillisecond);
    BOOST_TEST(net.acceptor.requests == 0);
    auto next = net.client_node.connect((*listener)->address(), Address{}, {}, net.client_events, QueueSizes{});
    BOOST_REQUIRE(next.has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::established); }));
}

BOOST_AUTO_TEST_CASE(cm_delay_slows_every_cm_message) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    net.world.set_cm_delay(5 * kMillisecond);
    const Nanos start = net.world.now();
    net.connect();
    // request + reply to the active side, + ready-to-use to the passive side.
    BOOST_TEST(net.client_events.first(CmEventType::established)->time == start + 2 * (kLatency + 5 * kMillisecond));
    BOOST_TEST(net.server_events.first(CmEventType::established)->time == start + 3 * (kLatency + 5 * kMillisecond));
    net.world.set_cm_delay(0);
    net.client().disconnect();
    const Nanos closing = net.world.now();
    BOOST_REQUIRE(net.run_until([&] { return net.server_events.has(CmEventType::disconnected); }));
    BOOST_TEST(net.server_events.first(CmEventType::disconnected)->time == closing + kLatency);
}

BOOST_AUTO_TEST_CASE(injected_registration_failures) {
    World world(1);
    Node& node = world.add_node("solo", {"10.0.0.9"});
    std::vector<std::byte> buffer(64);
    node.fail_next_registrations(2);
    BOOST_TEST(fails_with(node.register_memory(buffer.data(), 64, access_local_write), Errc::registration_failed));
    BOOST_TEST(fails_with(node.register_memory(buffer.data(), 64, access_local_write), Errc::registration_failed));
    auto region = node.register_memory(buffer.data(), 64, access_remote_write);
    BOOST_REQUIRE(region.has_value());
    BOOST_TEST((*region)->remote_key().addr == reinterpret_cast<std::uint64_t>(buffer.data()));
    BOOST_TEST((*region)->size() == 64u);
}

BOOST_AUTO_TEST_CASE(rkeys_are_distinct_and_not_sequential) {
    World world(1);
    Node& node = world.add_node("solo", {"10.0.0.9"});
    std::vector<std::byte> buffer(64);
    std::vector<std::uint32_t> keys;
    for (int i = 0; i < 64; ++i) {
        auto region = node.register_memory(buffer.data(), 64, access_remote_read);
        BOOST_REQUIRE(region.has_value());
        keys.push_back((*region)->remote_key().rkey);
    }  // each region is deregistered at once: keys must still not repeat
    std::vector<std::uint32_t> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    BOOST_TEST((std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()));
    int small_steps = 0;
    for (std::size_t i = 1; i < keys.size(); ++i) {
        const std::uint32_t step = keys[i] - keys[i - 1];
        if (step < 1024 || step > 0xFFFFFC00u) ++small_steps;
    }
    BOOST_TEST(small_steps < 4);
}

BOOST_AUTO_TEST_CASE(listen_and_connect_check_addresses) {
    TwoNodes net;
    BOOST_TEST(fails_with(net.server_node.listen(Address{"10.9.9.9", 7000}, net.acceptor), Errc::address_invalid));
    auto first = net.server_node.listen(Address{kServerAddress, 7000}, net.acceptor);
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(fails_with(net.server_node.listen(Address{kServerAddress, 7000}, net.acceptor), Errc::address_in_use));
    BOOST_TEST(fails_with(net.server_node.listen(Address{"0.0.0.0", 7000}, net.acceptor), Errc::address_in_use));
    auto any_port = net.server_node.listen(Address{"", 0}, net.acceptor);
    BOOST_REQUIRE(any_port.has_value());
    BOOST_TEST((*any_port)->address().port != 0);

    const auto long_data = pattern(kMaxConnectPrivateData + 1, 1);
    BOOST_TEST(fails_with(net.client_node.connect((*first)->address(), Address{}, long_data, net.client_events, {}),
                          Errc::private_data_too_long));
    BOOST_TEST(fails_with(net.client_node.connect((*first)->address(), Address{kServerAddress, 0}, {},
                                                  net.client_events, {}),
                          Errc::address_invalid));
    BOOST_TEST(fails_with(net.client_node.connect((*first)->address(), Address{}, {}, net.client_events,
                                                  QueueSizes{.max_send_wr = 0, .max_recv_wr = 1}),
                          Errc::invalid_argument));

    // A wildcard listener catches requests to any of the node's addresses.
    auto wildcard_client = net.client_node.connect(Address{kServerAddress, (*any_port)->address().port}, Address{},
                                                   {}, net.client_events, QueueSizes{});
    BOOST_REQUIRE(wildcard_client.has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::established); }));
    BOOST_TEST(net.acceptor.endpoints.back()->local_address().host == kServerAddress);
    BOOST_TEST(net.acceptor.endpoints.back()->peer_address().host == kClientAddress);
    BOOST_TEST((*wildcard_client)->local_address().host == kClientAddress);

    // No link to an address: unreachable, not an error of the call.
    Node& island = net.world.add_node("island", {"10.0.0.3"});
    (void)island;
    auto lonely = net.client_node.connect(Address{"10.0.0.3", 7000}, Address{}, {}, net.client_events, QueueSizes{});
    BOOST_REQUIRE(lonely.has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::unreachable); }));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
