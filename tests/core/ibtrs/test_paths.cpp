// Multipath policies, runtime path operations, reconnect limits and queue-depth changes.
#include <boost/test/unit_test.hpp>

#include "core/ibtrs/client_path.hpp"
#include "tests/core/ibtrs/cluster.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;
using fabric::sim::Direction;

namespace {

std::uint64_t ios_on(const Cluster& cluster, std::uint32_t path) {
    const PathStats& stats = cluster.path(path).stats();
    return stats.read_count + stats.write_count;
}

}  // namespace

BOOST_AUTO_TEST_CASE(policy_selector_follows_each_rule) {
    PathSelector selector;
    std::vector<PathView> paths{{true, 5, 300}, {true, 2, 900}, {false, 0, 1}, {true, 2, 100}};
    PathSet none;
    BOOST_TEST(*selector.choose(MpPolicy::min_inflight, paths, none) == 1u);  // lowest index on ties
    BOOST_TEST(*selector.choose(MpPolicy::min_latency, paths, none) == 3u);
    PathSet skip;
    skip.set(3);
    BOOST_TEST(*selector.choose(MpPolicy::min_latency, paths, skip) == 0u);
    std::vector<std::uint32_t> order;
    for (int i = 0; i < 6; ++i) order.push_back(*selector.choose(MpPolicy::round_robin, paths, none));
    BOOST_TEST(order == (std::vector<std::uint32_t>{1, 3, 0, 1, 3, 0}), boost::test_tools::per_element());
    PathSet all;
    all.set(0), all.set(1), all.set(3);
    BOOST_TEST(!selector.choose(MpPolicy::round_robin, paths, all).has_value());
    MpPolicy parsed{};
    BOOST_TEST(parse_mp_policy("MI", parsed));
    BOOST_TEST(parsed == MpPolicy::min_inflight);
    BOOST_TEST(parse_mp_policy("round-robin", parsed));
    BOOST_TEST(parsed == MpPolicy::round_robin);
    BOOST_TEST(!parse_mp_policy("fastest", parsed));
}

BOOST_AUTO_TEST_CASE(round_robin_alternates_paths_evenly) {
    Cluster cluster;
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.policy = MpPolicy::round_robin;
    cluster.open(2, config);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(2000, 1), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver));
    BOOST_TEST(ios_on(cluster, 0) == 1000u);
    BOOST_TEST(ios_on(cluster, 1) == 1000u);
}

BOOST_AUTO_TEST_CASE(min_inflight_uses_both_paths_under_load) {
    Cluster cluster;
    cluster.start_server();
    cluster.open(2);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(4000, 16), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver));
    const double share = static_cast<double>(ios_on(cluster, 0)) / 4000.0;
    BOOST_TEST(share > 0.35);
    BOOST_TEST(share < 0.65);
}

BOOST_AUTO_TEST_CASE(min_latency_prefers_the_fast_path_and_policy_changes_at_runtime) {
    Cluster cluster;
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.policy = MpPolicy::min_latency;
    cluster.open(2, config);
    cluster.world.clog_link(client_address(0), server_address(0), 2 * kMillisecond, Direction::both);
    cluster.run_for(kSecond);  // heartbeats measure both paths
    BOOST_TEST(cluster.path(0).stats().cur_latency > cluster.path(1).stats().cur_latency);
    IoDriver slow_avoided(cluster.client_node, *cluster.session, cluster.io_options(1000, 4), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(slow_avoided));
    BOOST_TEST(ios_on(cluster, 1) >= 990u);
    cluster.session->set_policy(MpPolicy::round_robin);
    BOOST_TEST(cluster.session->policy() == MpPolicy::round_robin);
    const auto before = ios_on(cluster, 0);
    IoDriver spread(cluster.client_node, *cluster.session, cluster.io_options(1000, 1), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(spread));
    BOOST_TEST(ios_on(cluster, 0) - before == 500u);
}

BOOST_AUTO_TEST_CASE(add_remove_disconnect_and_reconnect_paths_on_a_live_session) {
    Cluster cluster;
    cluster.start_server();
    ClientSession& session = cluster.open(1);
    const auto added = session.add_path({{client_address(1), 0}, {server_address(1), 1234}});
    BOOST_REQUIRE(added.has_value());
    BOOST_TEST(session.add_path({{client_address(1), 0}, {server_address(1), 1234}}).error() == -EEXIST);
    BOOST_REQUIRE(cluster.run_until([&] { return session.connected_paths() == 2u; }, 5 * kSecond));

    IoDriver driver(cluster.client_node, session, cluster.io_options(3000, 8), cluster.target.disk);
    driver.pump();
    cluster.run_for(10 * kMillisecond);
    BOOST_REQUIRE(session.disconnect_path(0).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return driver.done(); }, 20 * kSecond));
    BOOST_TEST(driver.errors == 0u);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::closed; }, kSecond));
    cluster.run_for(2 * kSecond);
    BOOST_TEST(cluster.path(0).state() == ClientPathState::closed);  // no auto-reconnect

    BOOST_REQUIRE(session.reconnect_path(0).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    5 * kSecond));
    BOOST_REQUIRE(session.reconnect_path(1).has_value());  // forced reconnect of a connected path
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(1).stats().reconnects_ok == 1u; }, 5 * kSecond));

    BOOST_REQUIRE(session.remove_path(*added).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(*added).removed(); }, 5 * kSecond));
    BOOST_TEST(session.path_count() == 1u);
    BOOST_TEST(session.remove_path(*added).error() == -ENOENT);
    IoDriver after(cluster.client_node, session, cluster.io_options(300, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(after));
    BOOST_TEST(after.errors == 0u);
    BOOST_TEST(after.verify_failures == 0u);
}

BOOST_AUTO_TEST_CASE(the_first_path_connects_before_the_others_start) {
    // As the kernel: only the first path may create the server's session; the others start once
    // it is connected and join it.
    Cluster cluster;
    cluster.start_server();
    auto created = ClientSession::create(cluster.client_node, test_client_config(), cluster.path_specs(3),
                                         cluster.events);
    BOOST_REQUIRE(created.has_value());
    cluster.session = std::move(created.value());
    cluster.session->start();
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.events.opened; }, 5 * kSecond));
    const std::uint64_t per_path = 1 + test_client_config().io_connections;  // cid 0 and the IO connections
    BOOST_TEST(cluster.server->stats().connect_requests == per_path);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.session->connected_paths() == 3u; }, 5 * kSecond));
    BOOST_TEST(cluster.server->stats().connect_requests == 3 * per_path);
    BOOST_TEST(cluster.server->stats().rejected == 0u);
}

BOOST_AUTO_TEST_CASE(the_next_path_starts_when_the_first_one_cannot_connect) {
    Cluster cluster;
    cluster.start_server();
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    ClientConfig config = test_client_config();
    config.connect_timeout = 100 * kMillisecond;
    cluster.open(2, config);
    BOOST_TEST(cluster.path(1).state() == ClientPathState::connected);
    BOOST_TEST(cluster.path(0).state() != ClientPathState::connected);
}

BOOST_AUTO_TEST_CASE(a_disconnect_cancels_a_manual_reconnect_waiting_for_its_drain) {
    // A manual reconnect during a drain asks for an attempt without delay once the drain ends; a
    // disconnect before that end closes the path instead. A later manual reconnect of the closed
    // path must then follow the usual backoff after a failed attempt, not the stale request.
    Cluster cluster;
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.connect_timeout = 100 * kMillisecond;
    config.reconnect_delay = 2 * kSecond;
    config.reconnect_max_delay = 2 * kSecond;
    config.reconnect_jitter = 0;
    ClientSession& session = cluster.open(1, config);
    BOOST_REQUIRE(session.reconnect_path(0).has_value());   // connected: fails the path, drains
    BOOST_REQUIRE(session.disconnect_path(0).has_value());  // before the drain has ended
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::closed; }, kSecond));

    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    const std::uint64_t failed_before = cluster.path(0).stats().reconnects_failed;
    BOOST_REQUIRE(session.reconnect_path(0).has_value());
    cluster.run_for(kSecond);  // one attempt fails after 100 ms; the next waits 2 s
    BOOST_TEST(cluster.path(0).stats().reconnects_failed - failed_before == 1u);
}

BOOST_AUTO_TEST_CASE(reconnect_attempt_limit_is_honoured) {
    Cluster cluster;
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.max_reconnect_attempts = 2;
    cluster.open(1, config);
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::closed; },
                                    20 * kSecond));
    BOOST_TEST(cluster.events.reconnects_failed == 2);
    cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::both);
    cluster.run_for(5 * kSecond);
    BOOST_TEST(cluster.path(0).state() == ClientPathState::closed);
}

BOOST_AUTO_TEST_CASE(zero_reconnect_attempts_never_reconnects) {
    Cluster cluster;
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.max_reconnect_attempts = 0;
    cluster.open(1, config);
    BOOST_REQUIRE(cluster.world.break_connections(client_address(0), server_address(0)) > 0u);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::closed; },
                                    5 * kSecond));
    BOOST_TEST(cluster.events.reconnects_failed == 0);
    BOOST_TEST(cluster.events.reconnects_ok == 0);
}

BOOST_AUTO_TEST_CASE(queue_depth_change_across_reconnect_stops_auto_reconnect) {
    Cluster cluster;
    cluster.start_server();
    cluster.open(1);
    cluster.server.reset();
    cluster.server_node.crash();
    cluster.server_node.restart();
    ServerConfig smaller = test_server_config();
    smaller.queue_depth = 16;
    cluster.start_server(smaller);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::closed; },
                                    20 * kSecond));
    cluster.run_for(5 * kSecond);
    BOOST_TEST(cluster.path(0).state() == ClientPathState::closed);
    BOOST_TEST(cluster.session->queue_depth() == 32u);
    // A manual reconnect re-enables it and, with nothing in flight, adopts the new depth.
    BOOST_REQUIRE(cluster.session->reconnect_path(0).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    5 * kSecond));
    BOOST_TEST(cluster.session->queue_depth() == 16u);
}

BOOST_AUTO_TEST_CASE(valid_transitions_only) {
    using S = ClientPathState;
    BOOST_TEST(transition_allowed(S::reconnecting, S::connecting));
    BOOST_TEST(!transition_allowed(S::connected, S::connecting));
    BOOST_TEST(transition_allowed(S::closed, S::reconnecting));
    BOOST_TEST(!transition_allowed(S::connecting, S::closed));
    BOOST_TEST(transition_allowed(S::closed, S::dead));
    BOOST_TEST(!transition_allowed(S::dead, S::reconnecting));
    BOOST_TEST(transition_allowed(ServerPathState::connecting, ServerPathState::connected));
    BOOST_TEST(!transition_allowed(ServerPathState::closed, ServerPathState::connecting));
}
