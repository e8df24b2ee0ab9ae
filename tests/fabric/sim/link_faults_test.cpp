// Link faults: down (both or one direction), back up within the timeout, imm filter,
// connection breaks.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/sim/sim_support.hpp"

namespace ibnbd::fabric::sim::test {
namespace {

constexpr Nanos kLatency = 10 * kMicrosecond;

WorldConfig tcp_mode() {
    WorldConfig config;
    config.imm_mode = ImmMode::tcp;
    return config;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(link_faults)

BOOST_AUTO_TEST_CASE(link_down_fails_only_the_sender_after_the_transport_timeout) {
    TwoNodes net(1, tcp_mode(), LinkConfig{.latency = kLatency});
    net.connect();
    BOOST_REQUIRE(net.server().post_recv(9, {}).has_value());
    const std::size_t server_events_before = net.server_events.events.size();
    net.world.set_link_state(kClientAddress, kServerAddress, false);
    const Nanos start = net.world.now();
    const std::uint32_t imm = 1;
    BOOST_REQUIRE(net.client().post_write(1, {}, RemoteKey{}, &imm).has_value());
    BOOST_REQUIRE(net.client().post_write(2, {}, RemoteKey{}, &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::disconnected); }));

    const Nanos timeout = net.world.config().transport_timeout;
    BOOST_TEST(net.client_events.find(1)->completion.status == WcStatus::transport_retry_exceeded);
    BOOST_TEST(net.client_events.find(1)->time == start + kLatency + timeout);
    BOOST_TEST(net.client_events.find(2)->completion.status == WcStatus::flushed);
    BOOST_TEST(net.world.stats().retransmissions > 0u);

    // The server heard nothing, even long after, and still believes it is connected.
    net.world.run_for(10 * kSecond);
    BOOST_TEST(net.server_events.completions.empty());
    BOOST_TEST(net.server_events.events.size() == server_events_before);
    BOOST_TEST(net.server().connected());
}

BOOST_AUTO_TEST_CASE(link_back_up_before_the_timeout_delivers_late_and_in_order) {
    TwoNodes net(1, tcp_mode(), LinkConfig{.latency = kLatency, .jitter = 3 * kMicrosecond});
    net.connect();
    net.world.set_link_state(kClientAddress, kServerAddress, false, Direction::a_to_b);
    const Nanos start = net.world.now();
    for (std::uint32_t i = 0; i < 5; ++i) BOOST_REQUIRE(net.client().post_write(i, {}, RemoteKey{}, &i).has_value());
    net.world.run_for(20 * kMillisecond);
    BOOST_TEST(net.server_events.completions.empty());
    net.world.set_link_state(kServerAddress, kClientAddress, true, Direction::b_to_a);  // the same direction
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.completions.size() == 5; }));

    const auto arrivals = net.server_events.with_opcode(Opcode::recv_rdma_with_imm);
    BOOST_REQUIRE(arrivals.size() == 5u);
    for (std::uint32_t i = 0; i < 5; ++i) {
        BOOST_TEST(arrivals[i].completion.imm == i);
        BOOST_TEST(arrivals[i].time >= start + 20 * kMillisecond);
        BOOST_TEST(arrivals[i].time < start + 20 * kMillisecond + net.world.config().retransmit_interval + kMillisecond);
        BOOST_TEST(net.client_events.completions[i].completion.status == WcStatus::success);
        BOOST_TEST(net.client_events.completions[i].completion.context == i);
    }
    BOOST_TEST(net.client().connected());
}

BOOST_AUTO_TEST_CASE(lost_acks_fail_the_sender_although_the_data_landed) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    net.connect();
    Region target(net.server_node, 64, kAllAccess, 1);
    Region source(net.client_node, 64, kAllAccess, 2);
    BOOST_REQUIRE(net.server().post_recv(9, {}).has_value());
    net.world.set_link_state(kClientAddress, kServerAddress, false, Direction::b_to_a);
    Sge piece = source.sge(0, 64);
    const std::uint32_t imm = 4;
    BOOST_REQUIRE(net.client().post_write(1, {&piece, 1}, target.remote(0), &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::disconnected); }));
    BOOST_TEST(net.client_events.find(1)->completion.status == WcStatus::transport_retry_exceeded);
    BOOST_REQUIRE(net.server_events.find(9).has_value());  // executed once, not once per retransmission
    BOOST_TEST(net.server_events.with_opcode(Opcode::recv_rdma_with_imm).size() == 1u);
    BOOST_TEST((target.bytes == source.bytes));
}

BOOST_AUTO_TEST_CASE(imm_filter_swallows_matching_writes_with_imm) {
    constexpr std::uint32_t kHeartbeat = 0xF0000000;
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    net.connect();
    for (std::uint64_t i = 0; i < 4; ++i) BOOST_REQUIRE(net.server().post_recv(100 + i, {}).has_value());
    net.world.set_imm_filter(kClientAddress, kServerAddress, Direction::a_to_b,
                             [](std::uint32_t imm) { return imm == kHeartbeat; });
    const std::uint32_t heartbeat = kHeartbeat;
    const std::uint32_t data = 1;
    BOOST_REQUIRE(net.client().post_write(1, {}, RemoteKey{}, &heartbeat).has_value());
    BOOST_REQUIRE(net.client().post_write(2, {}, RemoteKey{}, &data).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.completions.size() == 2; }));
    net.world.run_for(kMillisecond);
    BOOST_TEST(net.client_events.find(1)->completion.status == WcStatus::success);
    BOOST_TEST(net.client_events.find(2)->completion.status == WcStatus::success);
    auto arrivals = net.server_events.with_opcode(Opcode::recv_rdma_with_imm);
    BOOST_REQUIRE(arrivals.size() == 1u);
    BOOST_TEST(arrivals[0].completion.imm == data);
    BOOST_TEST(arrivals[0].completion.context == 100u);  // the heartbeat consumed no receive

    // The other direction is not filtered; removing the filter lets heartbeats through again.
    BOOST_REQUIRE(net.client().post_recv(7, {}).has_value());
    BOOST_REQUIRE(net.server().post_write(3, {}, RemoteKey{}, &heartbeat).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(7).has_value(); }));
    net.world.set_imm_filter(kClientAddress, kServerAddress, Direction::both, {});
    BOOST_REQUIRE(net.client().post_write(4, {}, RemoteKey{}, &heartbeat).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.server_events.find(101).has_value(); }));
    BOOST_TEST(net.server_events.find(101)->completion.imm == kHeartbeat);
}

BOOST_AUTO_TEST_CASE(break_connection_flushes_and_disconnects_both_sides) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    net.connect();
    BOOST_REQUIRE(net.server().post_recv(1, {}).has_value());
    BOOST_REQUIRE(net.client().post_recv(2, {}).has_value());
    BOOST_REQUIRE(net.client().post_send(3, {}).has_value());
    net.world.break_connection(net.client());
    BOOST_REQUIRE(net.run_until([&] {
        return net.client_events.has(CmEventType::disconnected) && net.server_events.has(CmEventType::disconnected);
    }));
    BOOST_TEST(net.client_events.find(3)->completion.status == WcStatus::flushed);
    BOOST_TEST(net.client_events.find(2)->completion.status == WcStatus::flushed);
    BOOST_TEST(net.server_events.find(1)->completion.status == WcStatus::flushed);

    // By address: every connection between the two hosts, on the side named first.
    net.connect(QueueSizes{}, 7001);
    BOOST_TEST(net.world.break_connections(kServerAddress, kClientAddress) == 1u);
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.count(CmEventType::disconnected) == 2; }));
    BOOST_TEST(net.world.break_connections(kServerAddress, kClientAddress) == 0u);
}

BOOST_AUTO_TEST_CASE(connect_over_a_link_that_is_down_is_unreachable_after_the_cm_timeout) {
    WorldConfig config;
    config.cm_timeout = 300 * kMillisecond;
    TwoNodes net(1, config);
    net.world.set_link_state(kClientAddress, kServerAddress, false);
    auto listener = net.server_node.listen(Address{kServerAddress, 7000}, net.acceptor);
    BOOST_REQUIRE(listener.has_value());
    const Nanos start = net.world.now();
    auto client = net.client_node.connect((*listener)->address(), Address{}, {}, net.client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(net.run_until([&] { return !net.client_events.events.empty(); }));
    BOOST_TEST(net.client_events.events[0].type == CmEventType::unreachable);
    BOOST_TEST(net.client_events.events[0].time == start + 300 * kMillisecond);
    BOOST_TEST(net.acceptor.requests == 0);
}

// Posts one receive as soon as it is established, and records like a Recorder.
class ReceiveOnEstablished final : public EndpointHandler {
public:
    explicit ReceiveOnEstablished(const World& world) : log(world) {}
    void on_cm_event(const CmEvent& event) override {
        log.on_cm_event(event);
        if (event.type == CmEventType::established) BOOST_TEST(endpoint->post_recv(1, {}).has_value());
    }
    void on_completion(const Completion& completion) override { log.on_completion(completion); }
    Recorder log;
    std::unique_ptr<Endpoint> endpoint;
};

class AcceptInto final : public ListenerHandler {
public:
    explicit AcceptInto(ReceiveOnEstablished& target) : target_(target) {}
    void on_connect_request(ConnectRequest& request) override {
        auto accepted = request.accept({}, target_, QueueSizes{});
        BOOST_REQUIRE(accepted.has_value());
        target_.endpoint = std::move(*accepted);
    }

private:
    ReceiveOnEstablished& target_;
};

BOOST_AUTO_TEST_CASE(data_arriving_before_the_ready_to_use_establishes_the_passive_side) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    ReceiveOnEstablished server(net.world);
    AcceptInto acceptor(server);
    auto listener = net.server_node.listen(Address{kServerAddress, 7000}, acceptor);
    BOOST_REQUIRE(listener.has_value());
    auto client = net.client_node.connect((*listener)->address(), Address{}, {}, net.client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::established); }));
    // The ready-to-use is on its way: lose it, and hold the first send back for a while.
    net.world.set_link_state(kClientAddress, kServerAddress, false, Direction::a_to_b);
    BOOST_REQUIRE((*client)->post_send(5, {}).has_value());
    net.world.run_for(kMillisecond);
    BOOST_TEST(server.log.events.empty());
    net.world.set_link_state(kClientAddress, kServerAddress, true, Direction::a_to_b);
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(5).has_value(); }));
    BOOST_TEST(net.client_events.find(5)->completion.status == WcStatus::success);
    BOOST_REQUIRE(server.log.events.size() == 1u);
    BOOST_TEST(server.log.events[0].type == CmEventType::established);
    BOOST_REQUIRE(server.log.find(1).has_value());
    BOOST_TEST(server.log.find(1)->completion.status == WcStatus::success);
    BOOST_TEST(server.log.find(1)->time >= server.log.events[0].time);
}

BOOST_AUTO_TEST_CASE(accepted_side_without_ready_to_use_gives_up_after_the_cm_timeout) {
    WorldConfig config;
    config.cm_timeout = 100 * kMillisecond;
    TwoNodes net(1, config, LinkConfig{.latency = kLatency});
    auto listener = net.server_node.listen(Address{kServerAddress, 7000}, net.acceptor);
    BOOST_REQUIRE(listener.has_value());
    auto client = net.client_node.connect((*listener)->address(), Address{}, {}, net.client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::established); }));
    net.world.set_link_state(kClientAddress, kServerAddress, false, Direction::a_to_b);
    net.world.run_for(kMillisecond);
    net.world.set_link_state(kClientAddress, kServerAddress, true, Direction::a_to_b);
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.has(CmEventType::disconnected); }));
    BOOST_TEST(!net.server_events.has(CmEventType::established));
    BOOST_TEST(net.server_events.has(CmEventType::disconnected));
    BOOST_TEST(net.server_events.first(CmEventType::disconnected)->time == kLatency + 100 * kMillisecond);  // from the accept
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
