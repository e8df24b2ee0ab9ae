// Connection management: private data both ways and its limits, reject, nobody listening,
// unanswered requests.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

BOOST_AUTO_TEST_SUITE(connection)

BOOST_AUTO_TEST_CASE(private_data_arrives_intact_both_ways) {
    auto harness = open_harness();
    Pair pair(*harness);
    const auto connect_data = pattern(kMaxConnectPrivateData, 1);
    const auto accept_data = pattern(kMaxAcceptPrivateData, 2);
    BOOST_REQUIRE(pair.connect({}, connect_data, accept_data));

    BOOST_TEST(pair.acceptor.requests == 1);
    BOOST_TEST((pair.acceptor.request_data == connect_data));
    const auto* established = pair.client_events.first(CmEventType::established);
    BOOST_REQUIRE(established != nullptr);
    BOOST_TEST((established->private_data == accept_data));
    BOOST_TEST(pair.client_events.count(CmEventType::established) == 1u);
    BOOST_TEST(pair.server_events.count(CmEventType::established) == 1u);
    BOOST_TEST(pair.client().connected());
    BOOST_TEST(pair.server().connected());
    BOOST_TEST(pair.client().peer_address().port == pair.listener->address().port);
    BOOST_TEST(pair.listener->address().port != 0);
}

BOOST_AUTO_TEST_CASE(connect_refuses_57_bytes_of_private_data) {
    auto harness = open_harness();
    Recorder events;
    Acceptor acceptor(events);
    auto listener = harness->server().listen(harness->listen_address(), acceptor);
    BOOST_REQUIRE(listener.has_value());
    const auto too_long = pattern(kMaxConnectPrivateData + 1, 3);
    auto endpoint = harness->client().connect((*listener)->address(), Address{}, too_long, events, QueueSizes{});
    BOOST_TEST(fails_with(endpoint, Errc::private_data_too_long));
    harness->run_for(20 * kMillisecond);
    BOOST_TEST(acceptor.requests == 0);
}

// accept() refuses 197 bytes and reject() 149 (the IB CM limits); the request can still be
// answered afterwards.
class OversizeAcceptor final : public ListenerHandler {
public:
    explicit OversizeAcceptor(Recorder& recorder) : recorder_(recorder) {}
    void on_connect_request(ConnectRequest& request) override {
        const auto too_long = pattern(kMaxAcceptPrivateData + 1, 4);
        auto accepted = request.accept(too_long, recorder_, QueueSizes{});
        accept_refused = fails_with(accepted, Errc::private_data_too_long);
        auto rejected = request.reject(pattern(kMaxRejectPrivateData + 1, 4));
        reject_refused = fails_with(rejected, Errc::private_data_too_long);
        auto retried = request.accept({}, recorder_, QueueSizes{});
        if (retried) endpoint = std::move(*retried);
        auto twice = request.accept({}, recorder_, QueueSizes{});
        second_accept_refused = fails_with(twice, Errc::invalid_argument);
    }
    bool accept_refused = false;
    bool reject_refused = false;
    bool second_accept_refused = false;
    std::unique_ptr<Endpoint> endpoint;

private:
    Recorder& recorder_;
};

BOOST_AUTO_TEST_CASE(accept_and_reject_refuse_197_bytes_of_private_data) {
    auto harness = open_harness();
    Recorder server_events;
    Recorder client_events;
    OversizeAcceptor acceptor(server_events);
    auto listener = harness->server().listen(harness->listen_address(), acceptor);
    BOOST_REQUIRE(listener.has_value());
    auto client = harness->client().connect((*listener)->address(), Address{}, {}, client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_TEST(harness->run_until([&] { return client_events.has(CmEventType::established); }, kTimeout));
    BOOST_TEST(acceptor.accept_refused);
    BOOST_TEST(acceptor.reject_refused);
    BOOST_TEST(acceptor.second_accept_refused);
    BOOST_TEST(acceptor.endpoint != nullptr);
}

BOOST_AUTO_TEST_CASE(reject_delivers_the_rejecters_private_data) {
    auto harness = open_harness();
    Pair pair(*harness);
    pair.acceptor.answer = Acceptor::Answer::reject;
    const auto reject_data = pattern(kMaxRejectPrivateData, 5);
    pair.acceptor.reply = reject_data;
    auto listener = harness->server().listen(harness->listen_address(), pair.acceptor);
    BOOST_REQUIRE(listener.has_value());
    const auto connect_data = pattern(8, 6);
    auto client = harness->client().connect((*listener)->address(), Address{}, connect_data, pair.client_events,
                                            QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(pair.run_until([&] { return !pair.client_events.events.empty(); }));
    harness->run_for(20 * kMillisecond);

    BOOST_TEST(arrived_as_sent(pair.acceptor.request_data, connect_data, kMaxConnectPrivateData));
    BOOST_REQUIRE(pair.client_events.events.size() == 1u);
    BOOST_TEST(pair.client_events.events[0].type == CmEventType::rejected);
    BOOST_TEST(arrived_as_sent(pair.client_events.events[0].private_data, reject_data, kMaxRejectPrivateData));
    BOOST_TEST(!(*client)->connected());
    const std::uint32_t imm = 1;
    BOOST_TEST(fails_with((*client)->post_send(1, {}, &imm), Errc::not_connected));
}

// Empty private data: on InfiniBand and RoCE it arrives as 148 zero bytes (see fabric.hpp).
BOOST_AUTO_TEST_CASE(unanswered_request_is_rejected_with_empty_private_data) {
    auto harness = open_harness();
    Pair pair(*harness);
    pair.acceptor.answer = Acceptor::Answer::ignore;
    auto listener = harness->server().listen(harness->listen_address(), pair.acceptor);
    BOOST_REQUIRE(listener.has_value());
    auto client = harness->client().connect((*listener)->address(), Address{}, {}, pair.client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(pair.run_until([&] { return !pair.client_events.events.empty(); }));
    BOOST_TEST(pair.acceptor.requests == 1);
    BOOST_REQUIRE(pair.client_events.events.size() == 1u);
    BOOST_TEST(pair.client_events.events[0].type == CmEventType::rejected);
    BOOST_TEST(arrived_as_sent(pair.client_events.events[0].private_data, {}, kMaxRejectPrivateData));
}

// Nobody listens on the port of a listener that was just destroyed. Every backend here reports
// unreachable: ofi-tcp because the TCP connect is refused (a reject carries a tag byte, see
// ofi_fabric.hpp), the simulator because no listener exists at that address.
BOOST_AUTO_TEST_CASE(connect_to_a_port_nobody_listens_on_is_unreachable) {
    auto harness = open_harness();
    Recorder events;
    Acceptor acceptor(events);
    Address closed_address;
    {
        auto listener = harness->server().listen(harness->listen_address(), acceptor);
        BOOST_REQUIRE(listener.has_value());
        closed_address = (*listener)->address();
    }
    auto client = harness->client().connect(closed_address, Address{}, {}, events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(harness->run_until([&] { return !events.events.empty(); }, kTimeout));
    harness->run_for(20 * kMillisecond);
    BOOST_REQUIRE(events.events.size() == 1u);
    BOOST_TEST(events.events[0].type == CmEventType::unreachable);
    BOOST_TEST(acceptor.requests == 0);
    BOOST_TEST(!(*client)->connected());
}

BOOST_AUTO_TEST_CASE(listening_twice_on_one_address_is_address_in_use) {
    auto harness = open_harness();
    Recorder events;
    Acceptor acceptor(events);
    auto first = harness->server().listen(harness->listen_address(), acceptor);
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(fails_with(harness->server().listen((*first)->address(), acceptor), Errc::address_in_use));
}

// Destroying an endpoint makes no callback on it; the peer sees its posted work flushed and
// disconnected.
BOOST_AUTO_TEST_CASE(destroying_an_endpoint_disconnects_the_peer_silently_here) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region server_buffers(harness->server(), 2 * 64, access_local_write);
    Region client_buffers(harness->client(), 64, access_local_write);
    for (std::uint64_t i = 0; i < 2; ++i) {
        const Sge sge = server_buffers.sge(i * 64, 64);
        BOOST_REQUIRE(pair.server().post_recv(10 + i, {&sge, 1}).has_value());
    }
    const Sge client_sge = client_buffers.sge(0, 64);
    BOOST_REQUIRE(pair.client().post_recv(20, {&client_sge, 1}).has_value());
    const auto client_events_before = pair.client_events.events.size();
    pair.client_endpoint.reset();
    BOOST_REQUIRE(pair.run_until([&] { return pair.server_events.has(CmEventType::disconnected); }));
    harness->run_for(20 * kMillisecond);
    BOOST_TEST(pair.client_events.events.size() == client_events_before);
    BOOST_TEST(pair.client_events.completions.empty());
    BOOST_REQUIRE(pair.server_events.completions.size() == 2u);
    BOOST_TEST(pair.server_events.completions[0].context == 10u);
    BOOST_TEST(pair.server_events.completions[1].context == 11u);
    BOOST_TEST(pair.server_events.completions[0].status == WcStatus::flushed);
    BOOST_TEST(pair.server_events.count(CmEventType::disconnected) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::test
