// Detached connect requests: a request taken out of the listener callback and answered later, on
// the fabric that received it or on a sibling fabric (another reactor of the same server).
#include <boost/test/unit_test.hpp>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

BOOST_AUTO_TEST_SUITE(detach)

namespace {

// Listens on the server, connects from the client, and runs until the request is detached.
struct DetachedPair {
    explicit DetachedPair(Harness& harness, std::vector<std::byte> connect_data = pattern(12, 7))
        : harness(harness), acceptor(server_events) {
        acceptor.answer = Acceptor::Answer::detach;
        auto listening = harness.server().listen(harness.listen_address(), acceptor);
        BOOST_REQUIRE(listening.has_value());
        listener = std::move(*listening);
        auto connecting = harness.client().connect(listener->address(), Address{}, connect_data, client_events,
                                                   QueueSizes{});
        BOOST_REQUIRE(connecting.has_value());
        client = std::move(*connecting);
        BOOST_REQUIRE(harness.run_until([&] { return acceptor.detached != nullptr; }, kTimeout));
        // Nothing answers the client meanwhile.
        harness.run_for(20 * kMillisecond);
        BOOST_TEST(client_events.events.empty());
        BOOST_TEST(arrived_as_sent(std::vector<std::byte>(acceptor.detached->private_data().begin(),
                                                          acceptor.detached->private_data().end()),
                                   connect_data, kMaxConnectPrivateData));
        BOOST_TEST(acceptor.detached->peer_address().host == client->local_address().host);
        BOOST_TEST(!acceptor.detached->answered());
    }

    bool run_until(const std::function<bool()>& done) { return harness.run_until(done, kTimeout); }

    bool accept_on(Fabric& fabric, std::vector<std::byte> accept_data = {}) {
        auto accepted = fabric.accept(*acceptor.detached, accept_data, server_events, QueueSizes{});
        BOOST_REQUIRE_MESSAGE(accepted.has_value(), "accept of a detached request failed");
        server = std::move(*accepted);
        BOOST_TEST(acceptor.detached->answered());
        return harness.run_until([&] {
            return client_events.has(CmEventType::established) && server_events.has(CmEventType::established);
        }, kTimeout);
    }

    Harness& harness;
    Recorder server_events;
    Recorder client_events;
    Acceptor acceptor;
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Endpoint> client;
    std::unique_ptr<Endpoint> server;
};

// A send each way and an RDMA write into memory registered on `fabric`, the accepting one.
void exchange(DetachedPair& pair, Fabric& fabric) {
    Region server_recv(fabric, 64, access_local_write);
    Region server_target(fabric, 256, access_local_write | access_remote_write);
    Region client_data(pair.harness.client(), 256, access_local_write, 9);
    Region client_recv(pair.harness.client(), 64, access_local_write);
    const Sge recv_sge = server_recv.sge(0, 64);
    BOOST_REQUIRE(pair.server->post_recv(11, {&recv_sge, 1}).has_value());
    const Sge client_recv_sge = client_recv.sge(0, 64);
    BOOST_REQUIRE(pair.client->post_recv(21, {&client_recv_sge, 1}).has_value());
    if (pair.harness.server().imm_consumes_recv()) {
        BOOST_REQUIRE(pair.server->post_recv(12, {}).has_value());
    }

    const Sge send_sge = client_data.sge(0, 32);
    BOOST_REQUIRE(pair.client->post_send(31, {&send_sge, 1}).has_value());
    const Sge write_sge = client_data.sge(0, 256);
    const std::uint32_t imm = 0xabcd;
    BOOST_REQUIRE(pair.client->post_write(32, {&write_sge, 1}, server_target.remote(0), &imm).has_value());
    BOOST_REQUIRE(pair.run_until([&] { return pair.server_events.completions.size() == 2; }));
    BOOST_TEST(pair.server_events.with_opcode(Opcode::recv).size() == 1u);
    const auto writes = pair.server_events.with_opcode(Opcode::recv_rdma_with_imm);
    BOOST_REQUIRE(writes.size() == 1u);
    BOOST_TEST(writes[0].imm == imm);
    BOOST_TEST((server_target.bytes == client_data.bytes));
    BOOST_TEST(std::equal(client_data.bytes.begin(), client_data.bytes.begin() + 32, server_recv.bytes.begin()));

    const Sge reply_sge = server_recv.sge(0, 8);
    BOOST_REQUIRE(pair.server->post_send(41, {&reply_sge, 1}).has_value());
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.with_opcode(Opcode::recv).size() == 1 &&
               pair.server_events.with_opcode(Opcode::send).size() == 1;
    }));

    pair.client->disconnect();
    BOOST_REQUIRE(pair.run_until([&] { return pair.server_events.has(CmEventType::disconnected); }));
}

}  // namespace

BOOST_AUTO_TEST_CASE(detached_request_accepted_on_a_sibling_fabric_carries_traffic) {
    auto harness = open_harness();
    DetachedPair pair(*harness);
    const auto accept_data = pattern(40, 8);
    BOOST_REQUIRE(pair.accept_on(harness->server_sibling(), accept_data));
    const auto* established = pair.client_events.first(CmEventType::established);
    BOOST_REQUIRE(established != nullptr);
    BOOST_TEST(arrived_as_sent(established->private_data, accept_data, kMaxAcceptPrivateData));
    BOOST_TEST(pair.server->peer_address().host == pair.client->local_address().host);
    exchange(pair, harness->server_sibling());
}

BOOST_AUTO_TEST_CASE(detached_request_accepted_on_its_own_fabric_carries_traffic) {
    auto harness = open_harness();
    DetachedPair pair(*harness);
    BOOST_REQUIRE(pair.accept_on(harness->server()));
    exchange(pair, harness->server());
}

BOOST_AUTO_TEST_CASE(detached_request_accepted_after_its_listener_is_gone) {
    auto harness = open_harness();
    DetachedPair pair(*harness);
    pair.listener.reset();
    BOOST_REQUIRE(pair.accept_on(harness->server_sibling()));
    exchange(pair, harness->server_sibling());
}

BOOST_AUTO_TEST_CASE(detached_request_rejected_later_delivers_private_data) {
    auto harness = open_harness();
    DetachedPair pair(*harness);
    const auto reject_data = pattern(20, 10);
    BOOST_REQUIRE(pair.acceptor.detached->reject(reject_data).has_value());
    BOOST_TEST(pair.acceptor.detached->answered());
    BOOST_TEST(fails_with(pair.acceptor.detached->reject({}), Errc::invalid_argument));
    BOOST_TEST(fails_with(harness->server_sibling().accept(*pair.acceptor.detached, {}, pair.server_events, QueueSizes{}),
                          Errc::invalid_argument));
    BOOST_REQUIRE(pair.run_until([&] { return !pair.client_events.events.empty(); }));
    BOOST_REQUIRE(pair.client_events.events.size() == 1u);
    BOOST_TEST(pair.client_events.events[0].type == CmEventType::rejected);
    BOOST_TEST(arrived_as_sent(pair.client_events.events[0].private_data, reject_data, kMaxRejectPrivateData));
}

BOOST_AUTO_TEST_CASE(detached_request_destroyed_unanswered_is_rejected) {
    auto harness = open_harness();
    DetachedPair pair(*harness);
    pair.acceptor.detached.reset();
    BOOST_REQUIRE(pair.run_until([&] { return !pair.client_events.events.empty(); }));
    BOOST_REQUIRE(pair.client_events.events.size() == 1u);
    BOOST_TEST(pair.client_events.events[0].type == CmEventType::rejected);
    BOOST_TEST(arrived_as_sent(pair.client_events.events[0].private_data, {}, kMaxRejectPrivateData));
}

BOOST_AUTO_TEST_CASE(accepting_a_detached_request_twice_is_refused) {
    auto harness = open_harness();
    DetachedPair pair(*harness);
    BOOST_REQUIRE(pair.accept_on(harness->server_sibling()));
    Recorder other;
    BOOST_TEST(fails_with(harness->server().accept(*pair.acceptor.detached, {}, other, QueueSizes{}),
                          Errc::invalid_argument));
    BOOST_TEST(fails_with(pair.acceptor.detached->reject({}), Errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(detached_accept_refuses_197_bytes_and_can_then_accept) {
    auto harness = open_harness();
    DetachedPair pair(*harness);
    BOOST_TEST(fails_with(harness->server_sibling().accept(*pair.acceptor.detached, pattern(kMaxAcceptPrivateData + 1, 3),
                                                           pair.server_events, QueueSizes{}),
                          Errc::private_data_too_long));
    BOOST_TEST(!pair.acceptor.detached->answered());
    BOOST_REQUIRE(pair.accept_on(harness->server_sibling()));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::test
