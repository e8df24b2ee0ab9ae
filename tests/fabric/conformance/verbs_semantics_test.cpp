// Semantics that real RDMA (the verbs backend on SoftRoCE) showed and that every backend must
// honour: what private data looks like after the InfiniBand CM carried it, receiver-not-ready, and
// the order of flushes after a failed request.
#include <algorithm>

#include <boost/test/unit_test.hpp>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

BOOST_AUTO_TEST_SUITE(verbs_semantics)

BOOST_AUTO_TEST_CASE(short_private_data_arrives_as_sent_or_zero_padded) {
    auto harness = open_harness();
    Pair pair(*harness);
    const auto connect_data = pattern(8, 61);
    const auto accept_data = pattern(12, 62);
    BOOST_REQUIRE(pair.connect({}, connect_data, accept_data));
    BOOST_TEST(arrived_as_sent(pair.acceptor.request_data, connect_data, kMaxConnectPrivateData));
    const auto* established = pair.client_events.first(CmEventType::established);
    BOOST_REQUIRE(established != nullptr);
    BOOST_TEST(arrived_as_sent(established->private_data, accept_data, kMaxAcceptPrivateData));
}

BOOST_AUTO_TEST_CASE(reject_private_data_of_148_bytes_arrives) {
    auto harness = open_harness();
    Pair pair(*harness);
    pair.acceptor.answer = Acceptor::Answer::reject;
    const auto reject_data = pattern(kMaxRejectPrivateData, 63);
    pair.acceptor.reply = reject_data;
    auto listener = harness->server().listen(harness->listen_address(), pair.acceptor);
    BOOST_REQUIRE(listener.has_value());
    auto client = harness->client().connect((*listener)->address(), Address{}, {}, pair.client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(pair.run_until([&] { return !pair.client_events.events.empty(); }));
    BOOST_REQUIRE(pair.client_events.events.size() == 1u);
    BOOST_TEST(pair.client_events.events[0].type == CmEventType::rejected);
    BOOST_TEST(arrived_as_sent(pair.client_events.events[0].private_data, reject_data, kMaxRejectPrivateData));
}

BOOST_AUTO_TEST_CASE(empty_reject_arrives_empty_or_as_zeros) {
    auto harness = open_harness();
    Pair pair(*harness);
    pair.acceptor.answer = Acceptor::Answer::reject;
    auto listener = harness->server().listen(harness->listen_address(), pair.acceptor);
    BOOST_REQUIRE(listener.has_value());
    auto client = harness->client().connect((*listener)->address(), Address{}, {}, pair.client_events, QueueSizes{});
    BOOST_REQUIRE(client.has_value());
    BOOST_REQUIRE(pair.run_until([&] { return !pair.client_events.events.empty(); }));
    BOOST_TEST(pair.client_events.events[0].type == CmEventType::rejected);
    BOOST_TEST(arrived_as_sent(pair.client_events.events[0].private_data, {}, kMaxRejectPrivateData));
}

// RC: a send that finds no posted receive is NAKed and retried; when the retries run out the send
// fails with rnr_retry_exceeded and the connection breaks on both sides.
BOOST_AUTO_TEST_CASE(send_without_a_posted_receive_fails_with_rnr_retry_exceeded) {
    auto harness = open_harness();
    if (harness->name().rfind("ofi-tcp", 0) == 0) {
        BOOST_TEST_MESSAGE("skipped: libfabric tcp keeps an unexpected message until a receive is posted "
                           "(no RNR, see ofi_fabric.hpp)");
        BOOST_TEST(true);
        return;
    }
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region outbox(harness->client(), 64, access_local_write, 67);
    const Sge sge = outbox.sge(0, 64);
    BOOST_REQUIRE(pair.client().post_send(91, {&sge, 1}).has_value());
    // RNR retries take up to about 7 x 655 ms on InfiniBand with the CM's default RNR timer.
    BOOST_REQUIRE(pair.run_until(
        [&] {
            return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
        },
        30'000 * kMillisecond));
    BOOST_REQUIRE(pair.client_events.completions.size() == 1u);
    BOOST_TEST(pair.client_events.completions[0].context == 91u);
    BOOST_TEST(pair.client_events.completions[0].status == WcStatus::rnr_retry_exceeded);
    BOOST_TEST(pair.server_events.completions.empty());
    BOOST_TEST(pair.client_events.first(CmEventType::disconnected)->completions_before == 1u);
}

// After a request fails, every later request of the queue completes flushed, in post order, and
// disconnected comes last; none of them takes effect.
BOOST_AUTO_TEST_CASE(requests_after_a_failed_one_are_flushed_in_post_order) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, access_local_write | access_remote_write | access_remote_read);
    Region source(harness->client(), 4096, access_local_write, 71);
    RemoteKey bad = target.remote(0);
    bad.rkey ^= 0x5A5A5A5Au;
    const Sge sge = source.sge(0, 512);
    BOOST_REQUIRE(pair.client().post_write(100, {&sge, 1}, bad).has_value());
    for (std::uint64_t i = 1; i <= 4; ++i) {
        BOOST_REQUIRE(pair.client().post_write(100 + i, {&sge, 1}, target.remote(512 * i)).has_value());
    }
    const Sge read_sge = source.sge(2048, 512);
    BOOST_REQUIRE(pair.client().post_read(105, {&read_sge, 1}, target.remote(0)).has_value());
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
    }));
    const auto& completions = pair.client_events.completions;
    BOOST_REQUIRE(completions.size() == 6u);
    for (std::uint64_t i = 0; i < 6; ++i) BOOST_TEST(completions[i].context == 100 + i);
    if (completions_mean_delivered()) {
        BOOST_TEST(completions[0].status != WcStatus::success);
        for (std::uint64_t i = 1; i < 6; ++i) BOOST_TEST(completions[i].status == WcStatus::flushed);
    } else {
        // Writes may complete once handed to the socket; the read needs the broken peer, and
        // nothing after the first failure succeeds.
        const auto first_failure = std::find_if(completions.begin(), completions.end(),
                                                [](const Completion& c) { return c.status != WcStatus::success; });
        BOOST_TEST(completions[5].status != WcStatus::success);
        BOOST_REQUIRE(first_failure != completions.end());
        for (auto it = first_failure + 1; it != completions.end(); ++it) BOOST_TEST(it->status == WcStatus::flushed);
    }
    BOOST_TEST(pair.client_events.first(CmEventType::disconnected)->completions_before == 6u);
    BOOST_TEST(std::all_of(target.bytes.begin(), target.bytes.end(), [](std::byte b) { return b == std::byte{0}; }));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::test
