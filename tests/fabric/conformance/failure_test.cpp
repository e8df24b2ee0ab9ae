// Errors, flushes and limits: bad remote keys, disconnect with posted work, posting after
// disconnect, full queues, a silently dead peer.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

namespace {

// Exactly one disconnected, and it came after every completion.
void check_disconnected_last(const Recorder& recorder) {
    BOOST_TEST(recorder.count(CmEventType::disconnected) == 1u);
    const auto* disconnected = recorder.first(CmEventType::disconnected);
    if (disconnected) BOOST_TEST(disconnected->completions_before == recorder.completions.size());
}

// On the simulator a bad key is exactly remote_access_error; real backends may only manage a
// different failure (tcp drops the connection, so the work is flushed: see ofi_fabric.hpp).
void check_remote_access_failure(const Completion& completion) {
    if (!completions_mean_delivered() && completion.opcode != Opcode::rdma_read) return;  // see conformance.hpp
    if (backend_is_simulator()) {
        BOOST_TEST(completion.status == WcStatus::remote_access_error);
    } else {
        BOOST_TEST(completion.status != WcStatus::success);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(failure)

BOOST_AUTO_TEST_CASE(write_with_a_bad_rkey_fails_and_breaks_the_connection) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, access_local_write | access_remote_write);
    Region source(harness->client(), 4096, access_local_write, 31);
    RemoteKey bad = target.remote(0);
    bad.rkey ^= 0x5A5A5A5Au;
    const Sge sge = source.sge(0, 512);
    BOOST_REQUIRE(pair.client().post_write(51, {&sge, 1}, bad).has_value());
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
    }));
    BOOST_REQUIRE(pair.client_events.completions.size() == 1u);
    BOOST_TEST(pair.client_events.completions[0].context == 51u);
    check_remote_access_failure(pair.client_events.completions[0]);
    check_disconnected_last(pair.client_events);
    check_disconnected_last(pair.server_events);
    BOOST_TEST(!pair.client().connected());
}

BOOST_AUTO_TEST_CASE(read_outside_the_remote_region_fails_and_breaks_the_connection) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region remote(harness->server(), 4096, access_local_write | access_remote_read, 37);
    Region local(harness->client(), 4096, access_local_write);
    const Sge sge = local.sge(0, 64);
    BOOST_REQUIRE(pair.client().post_read(61, {&sge, 1}, remote.remote(4096 - 16)).has_value());
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
    }));
    BOOST_REQUIRE(pair.client_events.completions.size() == 1u);
    BOOST_TEST(pair.client_events.completions[0].context == 61u);
    check_remote_access_failure(pair.client_events.completions[0]);
    check_disconnected_last(pair.client_events);
}

// A send longer than the receive that catches it: local_error at the target, then the
// connection breaks on both sides.
BOOST_AUTO_TEST_CASE(send_longer_than_the_receive_is_a_local_error_at_the_target) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region inbox(harness->server(), 64, access_local_write);
    Region outbox(harness->client(), 256, access_local_write, 47);
    const Sge small = inbox.sge(0, 64);
    BOOST_REQUIRE(pair.server().post_recv(81, {&small, 1}).has_value());
    const Sge large = outbox.sge(0, 256);
    BOOST_REQUIRE(pair.client().post_send(82, {&large, 1}).has_value());
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
    }));
    BOOST_REQUIRE(pair.server_events.completions.size() == 1u);
    BOOST_TEST(pair.server_events.completions[0].context == 81u);
    BOOST_TEST(pair.server_events.completions[0].status == WcStatus::local_error);
    BOOST_REQUIRE(pair.client_events.completions.size() == 1u);
    BOOST_TEST(pair.client_events.completions[0].context == 82u);
    if (completions_mean_delivered()) BOOST_TEST(pair.client_events.completions[0].status != WcStatus::success);
    check_disconnected_last(pair.server_events);
    check_disconnected_last(pair.client_events);
}

BOOST_AUTO_TEST_CASE(disconnect_flushes_posted_work_then_reports_disconnected_once_on_both_sides) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region server_buffers(harness->server(), 8 * 256, access_local_write | access_remote_read, 41);
    Region client_buffers(harness->client(), 8 * 256, access_local_write);
    for (std::uint64_t i = 0; i < 8; ++i) {
        const Sge sge = server_buffers.sge(i * 256, 256);
        BOOST_REQUIRE(pair.server().post_recv(700 + i, {&sge, 1}).has_value());
    }
    for (std::uint64_t i = 0; i < 4; ++i) {
        const Sge sge = client_buffers.sge(i * 256, 256);
        BOOST_REQUIRE(pair.client().post_recv(800 + i, {&sge, 1}).has_value());
    }
    // Send-queue work posted right before the disconnect completes too: done or flushed.
    const Sge read_sge = client_buffers.sge(4 * 256, 256);
    BOOST_REQUIRE(pair.client().post_read(900, {&read_sge, 1}, server_buffers.remote(0)).has_value());
    pair.client().disconnect();
    pair.client().disconnect();  // idempotent
    BOOST_TEST(!pair.client().connected());
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
    }));
    harness->run_for(50 * kMillisecond);

    const auto server_recvs = pair.server_events.with_opcode(Opcode::recv);
    BOOST_REQUIRE(server_recvs.size() == 8u);
    for (std::uint64_t i = 0; i < 8; ++i) {
        BOOST_TEST(server_recvs[i].context == 700 + i);
        BOOST_TEST(server_recvs[i].status == WcStatus::flushed);
    }
    const auto client_recvs = pair.client_events.with_opcode(Opcode::recv);
    BOOST_REQUIRE(client_recvs.size() == 4u);
    for (std::uint64_t i = 0; i < 4; ++i) {
        BOOST_TEST(client_recvs[i].context == 800 + i);
        BOOST_TEST(client_recvs[i].status == WcStatus::flushed);
    }
    const auto reads = pair.client_events.with_opcode(Opcode::rdma_read);
    BOOST_REQUIRE(reads.size() == 1u);
    BOOST_TEST(reads[0].context == 900u);
    BOOST_TEST((reads[0].status == WcStatus::success || reads[0].status == WcStatus::flushed));
    BOOST_TEST(pair.client_events.completions.size() == 5u);
    check_disconnected_last(pair.client_events);
    check_disconnected_last(pair.server_events);
}

BOOST_AUTO_TEST_CASE(posting_after_disconnect_is_not_connected) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region memory(harness->client(), 256, access_local_write | access_remote_write | access_remote_read);
    pair.server().disconnect();
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
    }));
    const Sge sge = memory.sge(0, 64);
    const std::uint32_t imm = 5;
    for (Endpoint* endpoint : {&pair.client(), &pair.server()}) {
        BOOST_TEST(!endpoint->connected());
        BOOST_TEST(fails_with(endpoint->post_recv(1, {&sge, 1}), Errc::not_connected));
        BOOST_TEST(fails_with(endpoint->post_send(2, {&sge, 1}, &imm), Errc::not_connected));
        BOOST_TEST(fails_with(endpoint->post_write(3, {&sge, 1}, memory.remote(0)), Errc::not_connected));
        BOOST_TEST(fails_with(endpoint->post_read(4, {&sge, 1}, memory.remote(0)), Errc::not_connected));
    }
    pair.client().disconnect();  // a no-op after disconnected
    harness->run_for(20 * kMillisecond);
    BOOST_TEST(pair.client_events.count(CmEventType::disconnected) == 1u);
    BOOST_TEST(pair.client_events.completions.empty());
}

BOOST_AUTO_TEST_CASE(full_send_queue_returns_queue_full) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect(QueueSizes{4, 8}));
    Region inbox(harness->server(), 8 * 64, access_local_write);
    Region outbox(harness->client(), 64, access_local_write, 43);
    for (std::uint64_t i = 0; i < 8; ++i) {
        const Sge sge = inbox.sge(i * 64, 64);
        BOOST_REQUIRE(pair.server().post_recv(i, {&sge, 1}).has_value());
    }
    const Sge sge = outbox.sge(0, 64);
    for (std::uint64_t i = 0; i < 4; ++i) BOOST_REQUIRE(pair.client().post_send(10 + i, {&sge, 1}).has_value());
    BOOST_TEST(fails_with(pair.client().post_send(14, {&sge, 1}), Errc::queue_full));
    BOOST_TEST(fails_with(pair.client().post_write(15, {&sge, 1}, RemoteKey{}), Errc::queue_full));
    BOOST_REQUIRE(pair.run_until([&] { return pair.client_events.completions.size() == 4u; }));
    // Completions free their slots.
    BOOST_TEST(pair.client().post_send(16, {&sge, 1}).has_value());
    BOOST_REQUIRE(pair.run_until([&] { return pair.server_events.completions.size() == 5u; }));
    BOOST_TEST(pair.server_events.completions.back().status == WcStatus::success);
}

BOOST_AUTO_TEST_CASE(full_receive_queue_returns_queue_full) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect(QueueSizes{8, 4}));
    Region inbox(harness->server(), 5 * 64, access_local_write);
    for (std::uint64_t i = 0; i < 4; ++i) {
        const Sge sge = inbox.sge(i * 64, 64);
        BOOST_REQUIRE(pair.server().post_recv(i, {&sge, 1}).has_value());
    }
    const Sge extra = inbox.sge(4 * 64, 64);
    BOOST_TEST(fails_with(pair.server().post_recv(4, {&extra, 1}), Errc::queue_full));
    harness->run_for(10 * kMillisecond);
    BOOST_TEST(fails_with(pair.server().post_recv(5, {&extra, 1}), Errc::queue_full));
    BOOST_TEST(pair.server_events.completions.empty());
}

// A peer that dies silently produces no event: only heartbeats would notice.
BOOST_AUTO_TEST_CASE(silent_peer_death_produces_no_event) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region inbox(harness->client(), 256, access_local_write);
    const Sge sge = inbox.sge(0, 256);
    BOOST_REQUIRE(pair.client().post_recv(71, {&sge, 1}).has_value());
    const auto events_before = pair.client_events.events.size();
    if (!harness->kill_server_silently()) {
        BOOST_TEST_MESSAGE("skipped: backend " << backend_name() << " cannot kill a node silently");
        return;
    }
    harness->run_for(1'000 * kMillisecond);
    BOOST_TEST(pair.client_events.events.size() == events_before);
    BOOST_TEST(pair.client_events.completions.empty());
    BOOST_TEST(pair.client().connected());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::test
