// Work requests move real bytes; IMM in both modes; queue limits; flush and teardown.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/sim/sim_support.hpp"

namespace ibnbd::fabric::sim::test {

BOOST_AUTO_TEST_SUITE(data)

BOOST_AUTO_TEST_CASE(send_scatters_into_the_receive_and_carries_imm) {
    TwoNodes net;
    net.connect();
    Region source(net.client_node, 256, kAllAccess, 3);
    Region sink(net.server_node, 256, kAllAccess, 4);
    Sge receive[2] = {sink.sge(0, 10), sink.sge(100, 90)};
    BOOST_REQUIRE(net.server().post_recv(11, receive).has_value());
    Sge gather[2] = {source.sge(50, 60), source.sge(0, 40)};
    const std::uint32_t imm = 0xDEADBEEF;
    BOOST_REQUIRE(net.client().post_send(21, gather, &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(21).has_value(); }));

    const auto received = net.server_events.find(11);
    BOOST_REQUIRE(received.has_value());
    BOOST_TEST(received->completion.status == WcStatus::success);
    BOOST_TEST(received->completion.opcode == Opcode::recv);
    BOOST_TEST(received->completion.byte_len == 100u);
    BOOST_TEST(received->completion.has_imm);
    BOOST_TEST(received->completion.imm == imm);
    BOOST_TEST(received->completion.recv_consumed);
    std::vector<std::byte> sent(source.bytes.begin() + 50, source.bytes.begin() + 110);
    sent.insert(sent.end(), source.bytes.begin(), source.bytes.begin() + 40);
    std::vector<std::byte> landed(sink.bytes.begin(), sink.bytes.begin() + 10);
    landed.insert(landed.end(), sink.bytes.begin() + 100, sink.bytes.begin() + 190);
    BOOST_TEST((landed == sent));
    BOOST_TEST(net.client_events.find(21)->completion.opcode == Opcode::send);
}

BOOST_AUTO_TEST_CASE(write_with_imm_consumes_a_receive_in_verbs_mode_only) {
    for (const ImmMode mode : {ImmMode::verbs, ImmMode::tcp}) {
        WorldConfig config;
        config.imm_mode = mode;
        TwoNodes net(1, config);
        net.connect();
        BOOST_TEST(net.server_node.imm_consumes_recv() == (mode == ImmMode::verbs));
        Region target(net.server_node, 64, kAllAccess, 1);
        Region source(net.client_node, 64, kAllAccess, 2);
        BOOST_REQUIRE(net.server().post_recv(99, {}).has_value());
        Sge piece = source.sge(0, 64);
        const std::uint32_t imm = 5;
        BOOST_REQUIRE(net.client().post_write(1, {&piece, 1}, target.remote(0), &imm).has_value());
        BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(1).has_value(); }));
        const auto arrivals = net.server_events.with_opcode(Opcode::recv_rdma_with_imm);
        BOOST_REQUIRE(arrivals.size() == 1u);
        BOOST_TEST(arrivals[0].completion.imm == imm);
        BOOST_TEST(arrivals[0].completion.byte_len == 64u);
        BOOST_TEST(arrivals[0].completion.recv_consumed == (mode == ImmMode::verbs));
        BOOST_TEST(arrivals[0].completion.context == (mode == ImmMode::verbs ? 99u : 0u));
        BOOST_TEST((target.bytes == source.bytes));
        // The unconsumed receive (tcp) is flushed on disconnect; the consumed one is gone.
        net.server().disconnect();
        BOOST_REQUIRE(net.run_until([&] { return net.server_events.has(CmEventType::disconnected); }));
        BOOST_TEST(net.server_events.with_status(WcStatus::flushed).size() == (mode == ImmMode::tcp ? 1u : 0u));
    }
}

BOOST_AUTO_TEST_CASE(read_copies_remote_bytes_into_local_entries) {
    TwoNodes net;
    net.connect();
    Region remote(net.server_node, 512, access_remote_read, 8);
    Region local(net.client_node, 512, access_local_write, 9);
    Sge into[3] = {local.sge(0, 100), local.sge(300, 0), local.sge(200, 100)};
    BOOST_REQUIRE(net.client().post_read(7, into, remote.remote(50)).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(7).has_value(); }));
    const auto done = net.client_events.find(7);
    BOOST_TEST(done->completion.status == WcStatus::success);
    BOOST_TEST(done->completion.opcode == Opcode::rdma_read);
    BOOST_TEST(done->completion.byte_len == 200u);
    BOOST_TEST(std::equal(remote.bytes.begin() + 50, remote.bytes.begin() + 150, local.bytes.begin()));
    BOOST_TEST(std::equal(remote.bytes.begin() + 150, remote.bytes.begin() + 250, local.bytes.begin() + 200));
    BOOST_TEST(net.server_events.completions.empty());  // a read is invisible at the target
}

BOOST_AUTO_TEST_CASE(local_entries_are_checked_at_post_time) {
    TwoNodes net;
    net.connect();
    Region readable(net.client_node, 64, access_remote_read);
    Region writable(net.client_node, 64, access_local_write);
    Sge outside = writable.sge(60, 8);
    BOOST_TEST(fails_with(net.client().post_send(1, {&outside, 1}), Errc::invalid_argument));
    Sge no_local_write = readable.sge(0, 8);
    BOOST_TEST(fails_with(net.client().post_recv(2, {&no_local_write, 1}), Errc::invalid_argument));
    BOOST_TEST(fails_with(net.client().post_read(3, {&no_local_write, 1}, RemoteKey{}), Errc::invalid_argument));
    BOOST_TEST(net.client().post_send(4, {&no_local_write, 1}).has_value());  // sending needs no access bit
    Sge five[5] = {writable.sge(0, 1), writable.sge(1, 1), writable.sge(2, 1), writable.sge(3, 1), writable.sge(4, 1)};
    BOOST_TEST(fails_with(net.client().post_send(5, five), Errc::invalid_argument));
    BOOST_TEST(fails_with(net.client_node.register_memory(writable.bytes.data(), 0, access_local_write),
                          Errc::invalid_argument));
    BOOST_TEST(fails_with(net.client_node.register_memory(writable.bytes.data(), 8, 0), Errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(posts_beyond_the_queue_sizes_fail_with_queue_full) {
    TwoNodes net;
    net.connect(QueueSizes{.max_send_wr = 3, .max_recv_wr = 2});
    BOOST_TEST(net.client().post_recv(1, {}).has_value());
    BOOST_TEST(net.client().post_recv(2, {}).has_value());
    BOOST_TEST(fails_with(net.client().post_recv(3, {}), Errc::queue_full));
    BOOST_REQUIRE(net.server().post_recv(1, {}).has_value());
    BOOST_REQUIRE(net.server().post_recv(2, {}).has_value());
    const std::uint32_t imm = 1;
    for (std::uint64_t i = 0; i < 3; ++i) BOOST_TEST(net.client().post_write(10 + i, {}, RemoteKey{}, &imm).has_value());
    BOOST_TEST(fails_with(net.client().post_write(13, {}, RemoteKey{}, &imm), Errc::queue_full));
    // Two receives at the server, three writes with imm: the third waits (RNR) until one more is posted.
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.completions.size() == 2; }));
    BOOST_TEST(net.client().post_write(13, {}, RemoteKey{}, &imm).has_value());
    BOOST_REQUIRE(net.server().post_recv(3, {}).has_value());
    BOOST_REQUIRE(net.server().post_recv(4, {}).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.completions.size() == 4; }));
    for (std::uint64_t i = 0; i < 4; ++i) {
        BOOST_TEST(net.client_events.completions[i].completion.context == 10 + i);
        BOOST_TEST(net.client_events.completions[i].completion.status == WcStatus::success);
    }
}

BOOST_AUTO_TEST_CASE(disconnect_flushes_in_post_order_then_reports_disconnected_on_both_sides) {
    TwoNodes net(1, {}, LinkConfig{.latency = 50 * kMicrosecond});
    net.connect();
    Region target(net.server_node, 64, kAllAccess);
    for (std::uint64_t i = 0; i < 3; ++i) BOOST_REQUIRE(net.client().post_recv(100 + i, {}).has_value());
    for (std::uint64_t i = 0; i < 2; ++i) BOOST_REQUIRE(net.server().post_recv(200 + i, {}).has_value());
    Sge nothing[1] = {};
    BOOST_REQUIRE(net.client().post_write(1, {nothing, 0}, target.remote(0)).has_value());
    BOOST_REQUIRE(net.client().post_write(2, {nothing, 0}, target.remote(0)).has_value());
    net.client().disconnect();
    net.client().disconnect();  // idempotent
    BOOST_TEST(!net.client().connected());
    BOOST_TEST(fails_with(net.client().post_write(3, {}, target.remote(0)), Errc::not_connected));
    BOOST_TEST(fails_with(net.client().post_recv(3, {}), Errc::not_connected));
    BOOST_TEST(net.client_events.completions.empty());  // nothing runs inside disconnect()

    BOOST_REQUIRE(net.run_until([&] { return net.server_events.has(CmEventType::disconnected); }));
    const std::vector<std::uint64_t> client_order{1, 2, 100, 101, 102};
    BOOST_REQUIRE(net.client_events.completions.size() == client_order.size());
    for (std::size_t i = 0; i < client_order.size(); ++i) {
        BOOST_TEST(net.client_events.completions[i].completion.context == client_order[i]);
        BOOST_TEST(net.client_events.completions[i].completion.status == WcStatus::flushed);
    }
    BOOST_TEST(net.client_events.completions[0].completion.opcode == Opcode::rdma_write);
    BOOST_TEST(net.client_events.completions[2].completion.opcode == Opcode::recv);
    BOOST_TEST(net.client_events.events.back().type == CmEventType::disconnected);
    BOOST_TEST(net.server_events.with_status(WcStatus::flushed).size() == 2u);
    BOOST_TEST(net.server_events.events.back().type == CmEventType::disconnected);
    // The peer hears of it one latency later.
    BOOST_TEST(net.server_events.events.back().time - net.client_events.events.back().time == 50 * kMicrosecond);
    BOOST_TEST(net.server_events.with_opcode(Opcode::recv_rdma_with_imm).empty());
}

BOOST_AUTO_TEST_CASE(destroying_an_endpoint_is_silent_locally_and_disconnects_the_peer) {
    TwoNodes net;
    net.connect();
    BOOST_REQUIRE(net.client().post_recv(1, {}).has_value());
    BOOST_REQUIRE(net.server().post_recv(2, {}).has_value());
    const std::size_t client_events_before = net.client_events.events.size();
    net.client_endpoint.reset();
    BOOST_REQUIRE(net.run_until([&] { return net.server_events.has(CmEventType::disconnected); }));
    net.world.run_for(kSecond);
    BOOST_TEST(net.client_events.completions.empty());
    BOOST_TEST(net.client_events.events.size() == client_events_before);
    BOOST_REQUIRE(net.server_events.completions.size() == 1u);
    BOOST_TEST(net.server_events.completions[0].completion.status == WcStatus::flushed);
}

BOOST_AUTO_TEST_CASE(a_handler_may_destroy_its_endpoint_in_the_middle_of_a_flush) {
    TwoNodes net;
    net.connect();
    for (std::uint64_t i = 0; i < 4; ++i) BOOST_REQUIRE(net.server().post_recv(i, {}).has_value());

    class DestroyOnFirst final : public EndpointHandler {
    public:
        void on_completion(const Completion&) override {
            ++seen;
            endpoint.reset();
        }
        void on_cm_event(const CmEvent&) override { ++seen; }
        std::unique_ptr<Endpoint> endpoint;
        int seen = 0;
    };
    // Re-home the server endpoint's callbacks: accept a second connection with this handler.
    DestroyOnFirst handler;
    class Forward final : public ListenerHandler {
    public:
        explicit Forward(DestroyOnFirst& target) : target_(target) {}
        void on_connect_request(ConnectRequest& request) override {
            auto accepted = request.accept({}, target_, QueueSizes{});
            BOOST_REQUIRE(accepted.has_value());
            target_.endpoint = std::move(*accepted);
        }

    private:
        DestroyOnFirst& target_;
    } forward(handler);
    auto listener = net.server_node.listen(Address{kServerAddress, 7001}, forward);
    BOOST_REQUIRE(listener.has_value());
    Recorder client_events(net.world);
    auto client = net.client_node.connect((*listener)->address(), Address{}, {}, client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(net.run_until([&] { return handler.seen == 1; }));  // established
    for (std::uint64_t i = 0; i < 4; ++i) BOOST_REQUIRE(handler.endpoint->post_recv(i, {}).has_value());
    (*client)->disconnect();
    BOOST_REQUIRE(net.run_until([&] { return client_events.has(CmEventType::disconnected); }));
    net.world.run_for(kSecond);
    BOOST_TEST(handler.seen == 2);  // established, then the first flush; nothing after its destruction
    BOOST_TEST(handler.endpoint == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
