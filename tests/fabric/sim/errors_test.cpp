// Errors that break a connection: RNR, remote access errors, a send longer than its receive.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/sim/sim_support.hpp"

namespace ibnbd::fabric::sim::test {
namespace {

constexpr Nanos kLatency = 10 * kMicrosecond;

// Both sides broke: the initiator's request failed with `status`, later ones were flushed, and
// both sides saw disconnected after their completions.
void check_broken_both_ways(TwoNodes& net, std::uint64_t failed, WcStatus status) {
    BOOST_REQUIRE(net.run_until([&] {
        return net.client_events.has(CmEventType::disconnected) && net.server_events.has(CmEventType::disconnected);
    }));
    const auto result = net.client_events.find(failed);
    BOOST_REQUIRE(result.has_value());
    BOOST_TEST(result->completion.status == status);
    BOOST_TEST(net.client_events.events.back().type == CmEventType::disconnected);
    BOOST_TEST(net.server_events.events.back().type == CmEventType::disconnected);
    BOOST_TEST(!net.client().connected());
    BOOST_TEST(!net.server().connected());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(rnr_retries_then_fails_and_breaks_both_sides) {
    WorldConfig config;
    config.rnr_delay = kMillisecond;
    config.rnr_retry = 7;
    TwoNodes net(1, config, LinkConfig{.latency = kLatency});
    net.connect();
    const Nanos start = net.world.now();
    BOOST_REQUIRE(net.client().post_send(1, {}).has_value());
    BOOST_REQUIRE(net.client().post_send(2, {}).has_value());
    check_broken_both_ways(net, 1, WcStatus::rnr_retry_exceeded);
    // First attempt after one latency, seven retries 1 ms apart, the NAK one latency back.
    BOOST_TEST(net.client_events.find(1)->time == start + kLatency + 7 * kMillisecond + kLatency);
    BOOST_TEST(net.client_events.find(2)->completion.status == WcStatus::flushed);
    BOOST_TEST(net.world.stats().rnr_retries == 7u);
    BOOST_TEST(net.server_events.completions.empty());
}

BOOST_AUTO_TEST_CASE(a_receive_posted_during_rnr_retries_catches_the_send) {
    TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
    net.connect();
    BOOST_REQUIRE(net.client().post_send(1, {}).has_value());
    net.world.run_for(kLatency + 2 * kMillisecond + 500 * kMicrosecond);  // two retries failed
    BOOST_REQUIRE(net.server().post_recv(9, {}).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(1).has_value(); }));
    BOOST_TEST(net.client_events.find(1)->completion.status == WcStatus::success);
    BOOST_REQUIRE(net.server_events.find(9).has_value());
    BOOST_TEST(net.server_events.find(9)->completion.status == WcStatus::success);
    BOOST_TEST(net.client().connected());
}

BOOST_AUTO_TEST_CASE(write_with_imm_without_receive_is_rnr_in_verbs_mode) {
    WorldConfig config;
    config.rnr_retry = 2;
    TwoNodes net(1, config);
    net.connect();
    const std::uint32_t imm = 3;
    BOOST_REQUIRE(net.client().post_write(1, {}, RemoteKey{}, &imm).has_value());
    check_broken_both_ways(net, 1, WcStatus::rnr_retry_exceeded);
}

BOOST_AUTO_TEST_CASE(bad_rkey_range_or_access_fails_with_remote_access_error) {
    enum class Fault { bad_key, past_the_end, before_the_start, no_write_access, no_read_access, deregistered };
    for (const Fault fault : {Fault::bad_key, Fault::past_the_end, Fault::before_the_start, Fault::no_write_access,
                              Fault::no_read_access, Fault::deregistered}) {
        BOOST_TEST_CONTEXT("fault " << static_cast<int>(fault)) {
            TwoNodes net(1, {}, LinkConfig{.latency = kLatency});
            net.connect();
            const std::uint32_t access = fault == Fault::no_write_access  ? std::uint32_t{access_remote_read}
                                         : fault == Fault::no_read_access ? std::uint32_t{access_remote_write}
                                                                          : kAllAccess;
            auto target = std::make_unique<Region>(net.server_node, 128, access, 1);
            Region local(net.client_node, 256, kAllAccess, 2);
            const std::vector<std::byte> before = target->bytes;
            BOOST_REQUIRE(net.server().post_recv(50, {}).has_value());
            RemoteKey remote = target->remote(0);
            std::uint32_t length = 64;
            if (fault == Fault::bad_key) remote.rkey ^= 0x5A5A5A5A;
            if (fault == Fault::past_the_end) remote = target->remote(100);
            if (fault == Fault::before_the_start) remote.addr -= 1;
            if (fault == Fault::deregistered) target->mr.reset();
            Sge piece = local.sge(0, length);
            if (fault == Fault::no_read_access) {
                BOOST_REQUIRE(net.client().post_read(1, {&piece, 1}, remote).has_value());
            } else {
                BOOST_REQUIRE(net.client().post_write(1, {&piece, 1}, remote).has_value());
            }
            BOOST_REQUIRE(net.client().post_send(2, {}).has_value());
            check_broken_both_ways(net, 1, WcStatus::remote_access_error);
            BOOST_TEST(net.client_events.find(2)->completion.status == WcStatus::flushed);
            BOOST_TEST(net.server_events.find(50)->completion.status == WcStatus::flushed);
            BOOST_TEST((target->bytes == before));
        }
    }
}

BOOST_AUTO_TEST_CASE(send_longer_than_the_receive_is_a_local_error_at_the_target) {
    TwoNodes net;
    net.connect();
    Region source(net.client_node, 64, kAllAccess, 1);
    Region sink(net.server_node, 64, kAllAccess, 2);
    Sge small = sink.sge(0, 10);
    BOOST_REQUIRE(net.server().post_recv(7, {&small, 1}).has_value());
    BOOST_REQUIRE(net.server().post_recv(8, {&small, 1}).has_value());
    Sge large = source.sge(0, 20);
    BOOST_REQUIRE(net.client().post_send(1, {&large, 1}).has_value());
    check_broken_both_ways(net, 1, WcStatus::remote_operation_error);
    BOOST_REQUIRE(net.server_events.completions.size() == 2u);
    BOOST_TEST(net.server_events.completions[0].completion.context == 7u);
    BOOST_TEST(net.server_events.completions[0].completion.status == WcStatus::local_error);
    BOOST_TEST(net.server_events.completions[1].completion.status == WcStatus::flushed);
}

BOOST_AUTO_TEST_CASE(zero_length_write_with_imm_needs_no_key) {
    TwoNodes net;
    net.connect();
    BOOST_REQUIRE(net.server().post_recv(5, {}).has_value());
    const std::uint32_t imm = 17;
    BOOST_REQUIRE(net.client().post_write(1, {}, RemoteKey{}, &imm).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(1).has_value(); }));
    BOOST_TEST(net.client_events.find(1)->completion.status == WcStatus::success);
    BOOST_TEST(net.server_events.find(5)->completion.imm == imm);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
