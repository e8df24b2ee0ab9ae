// Failover, all-paths-down, server crash, silent peer death and half-open paths.
#include <boost/test/unit_test.hpp>

#include "core/ibtrs/client_path.hpp"
#include "core/wire/rtrs_imm.hpp"
#include "tests/core/ibtrs/cluster.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;
using fabric::sim::Direction;

namespace {

enum class Kill { link_down, connection_error, server_side_silent };

// Two paths under load; path 0 is killed after the load has started. No IO may fail.
void kill_one_of_two(Kill how, MpPolicy policy, std::uint64_t seed, std::uint64_t* digest = nullptr) {
    Cluster cluster(seed);
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.policy = policy;
    cluster.open(2, config);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(6000, 16), cluster.target.disk);
    driver.pump();
    cluster.run_for(kMillisecond);
    BOOST_REQUIRE(!driver.done());
    switch (how) {
        case Kill::link_down:
            cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
            break;
        case Kill::connection_error:
            BOOST_REQUIRE(cluster.world.break_connections(client_address(0), server_address(0)) > 0u);
            break;
        case Kill::server_side_silent:
            // Only the server's direction dies: requests still arrive, nothing comes back.
            cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::b_to_a);
            break;
    }
    BOOST_REQUIRE(cluster.run_until([&] { return driver.done(); }, 60 * kSecond));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.submit_errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    BOOST_TEST(driver.completed == 6000u);
    BOOST_TEST(cluster.path(0).stats().failovered > 0u);
    BOOST_TEST(cluster.events.failover_events > 0);
    BOOST_TEST(cluster.path(1).state() == ClientPathState::connected);
    // Requests answered on path 1 whose copies went out on path 0 stay fenced until path 0 is
    // back or, where it is not (the link stays down), until the fence timeout has passed.
    BOOST_TEST(cluster.session->stats().permits_fenced == cluster.session->permits_in_use());
    BOOST_TEST(cluster.run_until([&] { return cluster.session->permits_in_use() == 0u; },
                                 config.fence_timeout + kSecond));
    if (digest) *digest = cluster.world.trace_digest();
}

}  // namespace

BOOST_AUTO_TEST_CASE(link_down_under_load_fails_over_for_every_policy) {
    for (const auto policy : {MpPolicy::round_robin, MpPolicy::min_inflight, MpPolicy::min_latency}) {
        BOOST_TEST_CONTEXT("policy " << to_string(policy)) { kill_one_of_two(Kill::link_down, policy, 3); }
    }
}

BOOST_AUTO_TEST_CASE(connection_error_under_load_fails_over) {
    kill_one_of_two(Kill::connection_error, MpPolicy::min_inflight, 5);
}

BOOST_AUTO_TEST_CASE(silent_server_side_death_of_a_link_fails_over) {
    kill_one_of_two(Kill::server_side_silent, MpPolicy::round_robin, 9);
}

BOOST_AUTO_TEST_CASE(failover_run_twice_with_one_seed_gives_one_trace) {
    std::uint64_t first = 0, second = 0, other = 0;
    kill_one_of_two(Kill::link_down, MpPolicy::round_robin, 42, &first);
    kill_one_of_two(Kill::link_down, MpPolicy::round_robin, 42, &second);
    kill_one_of_two(Kill::link_down, MpPolicy::round_robin, 43, &other);
    BOOST_TEST(first == second);
    BOOST_TEST(first != other);
}

BOOST_AUTO_TEST_CASE(killed_path_reconnects_when_the_link_returns) {
    Cluster cluster;
    cluster.start_server();
    cluster.open(2);
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() != ClientPathState::connected; },
                                    2 * kSecond));
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).stats().reconnects_failed > 0u; }, 5 * kSecond));
    cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    10 * kSecond));
    BOOST_TEST(cluster.path(0).stats().reconnects_ok == 1u);
    BOOST_TEST(cluster.events.reconnects_ok == 1);
    // The returned path carries IO again.
    ClientConfig unused;
    cluster.session->set_policy(MpPolicy::round_robin);
    const auto writes_before = cluster.path(0).stats().write_count + cluster.path(0).stats().read_count;
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(400, 4), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(cluster.path(0).stats().write_count + cluster.path(0).stats().read_count > writes_before);
}

BOOST_AUTO_TEST_CASE(all_paths_down_fails_io_then_io_resumes_when_a_path_returns) {
    Cluster cluster;
    cluster.start_server();
    cluster.open(2);
    for (int p = 0; p < 2; ++p) {
        cluster.world.set_link_state(client_address(p), server_address(p), false, Direction::both);
    }
    IoDriver stuck(cluster.client_node, *cluster.session, cluster.io_options(64, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(stuck, 10 * kSecond));
    BOOST_TEST(stuck.errors + stuck.submit_errors == 64u);  // in flight: -ECONNABORTED; later: refused
    BOOST_TEST(cluster.session->connected_paths() == 0u);
    BOOST_TEST(cluster.events.session_down == 1);
    cluster.world.set_link_state(client_address(1), server_address(1), true, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.session->connected_paths() == 1u; }, 10 * kSecond));
    BOOST_TEST(cluster.events.session_up == 1);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(500, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
}

// The transport never waits for a path (the block layer does, tests/ibnbd/block): a request
// without one fails at once, however long the path stays away.
BOOST_AUTO_TEST_CASE(without_a_connected_path_a_request_fails_at_once) {
    Cluster cluster;
    cluster.start_server();
    cluster.open(1);
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.session->connected_paths() == 0u; }, 5 * kSecond));
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(8, 8), cluster.target.disk);
    driver.pump();
    BOOST_TEST(driver.done());  // nothing is left in the transport
    BOOST_TEST(driver.submit_errors == 8u);
    BOOST_TEST(driver.last_error == -ECONNABORTED);
    BOOST_TEST(cluster.session->permits_in_use() == 0u);
}

BOOST_AUTO_TEST_CASE(server_crash_and_restart_client_reconnects_and_io_resumes) {
    Cluster cluster;
    cluster.start_server();
    cluster.open(2);
    IoDriver warm(cluster.client_node, *cluster.session, cluster.io_options(300, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(warm));
    cluster.server_node.crash();
    cluster.server.reset();  // the process is gone with the node
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.session->connected_paths() == 0u; }, 5 * kSecond));
    cluster.run_for(500 * kMillisecond);
    cluster.server_node.restart();
    cluster.start_server();
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.session->connected_paths() == 2u; }, 10 * kSecond));
    BOOST_TEST(cluster.events.session_up >= 1);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(500, 8), cluster.target.disk);
    driver.pump();
    BOOST_REQUIRE(cluster.run_until([&] { return driver.done(); }, 10 * kSecond));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
}

BOOST_AUTO_TEST_CASE(silent_peer_death_detected_within_missed_max_plus_two_intervals) {
    // A transport timeout far longer than the heartbeat budget: only missed heartbeats can tell.
    fabric::sim::WorldConfig world_config;
    world_config.transport_timeout = 3600 * kSecond;
    Cluster cluster(1, world_config);
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.max_reconnect_attempts = 0;
    cluster.open(1, config);
    cluster.run_for(kSecond);  // steady heartbeats
    const fabric::Nanos died = cluster.world.now();
    cluster.server_node.crash();
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() != ClientPathState::connected; },
                                    5 * kSecond));
    const fabric::Nanos detected = cluster.world.now() - died;
    BOOST_TEST(detected <= (3 + 2) * 100 * kMillisecond);
    BOOST_TEST(detected >= 3 * 100 * kMillisecond);  // not before missed_max heartbeats were missed
    cluster.server.reset();
}

BOOST_AUTO_TEST_CASE(half_open_path_only_heartbeats_lost) {
    Cluster cluster;
    cluster.start_server();
    cluster.open(1);
    const auto is_heartbeat = [](std::uint32_t imm) {
        return imm == wire::kHbMsgImm || imm == wire::kHbAckImm;
    };
    cluster.world.set_imm_filter(client_address(0), server_address(0), Direction::both, is_heartbeat);
    // While IO flows, responses prove the server alive: the path stays up.
    IoDriver busy(cluster.client_node, *cluster.session, cluster.io_options(20000, 4), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(busy));
    BOOST_TEST(busy.errors == 0u);
    // Idle, only heartbeats could prove it, and they are lost: the path is declared dead and
    // reconnects (the handshake itself still works).
    const auto transitions = cluster.path(0).stats().state_transitions;
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).stats().state_transitions > transitions; },
                                    2 * kSecond));
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    5 * kSecond));
    IoDriver after(cluster.client_node, *cluster.session, cluster.io_options(200, 4), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(after));
    BOOST_TEST(after.errors == 0u);
    BOOST_TEST(after.verify_failures == 0u);
}

BOOST_AUTO_TEST_CASE(failover_while_storage_holds_requests_defers_the_reissue) {
    // Slow storage: the server still processes requests of the dead path when their re-issues
    // arrive on the other path. The re-issues must wait for their chunks (so that an old write
    // cannot land after its re-issue), and nothing may fail or be corrupted.
    Cluster cluster;
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.policy = MpPolicy::round_robin;
    cluster.open(2, config);
    cluster.target.hold_responses = true;
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(400, 16), cluster.target.disk);
    driver.pump();
    cluster.run_for(kMillisecond);
    BOOST_REQUIRE(!cluster.target.held.empty());
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).stats().failovered > 0u; }, 2 * kSecond));
    cluster.run_for(10 * kMillisecond);
    ServerSession* session = cluster.server->find_session("sess");
    BOOST_REQUIRE(session != nullptr);
    BOOST_TEST(session->stats().deferred > 0u);
    cluster.target.hold_responses = false;
    cluster.target.release_held();
    BOOST_REQUIRE(cluster.run_until([&] {
        cluster.target.release_held();
        return driver.done();
    }, 20 * kSecond));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    BOOST_TEST(driver.completed == 400u);
}

BOOST_AUTO_TEST_CASE(reconnect_before_the_server_noticed_closes_the_stale_path_first) {
    // The client loses the path (its heartbeat write times out) while the server, which sends
    // nothing in that time, still believes in it; the client's new cid-0 request closes the stale
    // path and is refused until it is gone; a later attempt connects.
    fabric::sim::WorldConfig world_config;
    world_config.transport_timeout = 20 * kMillisecond;
    Cluster cluster(1, world_config);
    ServerConfig server_config = test_server_config();
    server_config.heartbeat.interval = 3600 * kSecond;  // the server never probes
    cluster.start_server(server_config);
    ClientConfig config = test_client_config();
    config.reconnect_jitter = 0;
    cluster.open(1, config);
    cluster.run_for(10 * kMillisecond);  // every handshake acknowledgement is back
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() != ClientPathState::connected; },
                                    2 * kSecond));
    cluster.run_for(50 * kMillisecond);  // the client's disconnect requests are lost on the dead link
    const ServerSession* stale = cluster.server->find_session("sess");
    BOOST_REQUIRE(stale != nullptr);
    BOOST_TEST(stale->connected_paths() == 1u);
    cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    5 * kSecond));
    BOOST_TEST(cluster.server->stats().stale_paths_closed == 1u);
    BOOST_TEST(cluster.server->stats().refused_while_draining >= 1u);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(300, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
}

BOOST_AUTO_TEST_CASE(permits_of_requests_that_failed_unanswered_are_fenced_until_the_path_is_back) {
    // Storage holds every request when the only path dies: the requests fail without the
    // server's answer, so their chunks may still be in use there and their permits are fenced
    // (in use, not handed out) until the path has reconnected.
    fabric::sim::WorldConfig world_config;
    world_config.transport_timeout = 20 * kMillisecond;
    Cluster cluster(1, world_config);
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.reconnect_delay = 200 * kMillisecond;
    cluster.open(1, config);
    cluster.target.hold_responses = true;
    IoDriver stranded(cluster.client_node, *cluster.session, cluster.io_options(8, 8), cluster.target.disk);
    stranded.pump();
    cluster.run_for(kMillisecond);
    BOOST_REQUIRE_EQUAL(cluster.target.held.size(), 8u);
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return stranded.done(); }, 2 * kSecond));
    BOOST_TEST(stranded.errors == 8u);
    BOOST_TEST(cluster.session->stats().permits_fenced == 8u);
    BOOST_TEST(cluster.session->permits_in_use() == 8u);
    const auto spare = cluster.session->get_permit();  // the other 24 are free
    BOOST_TEST(spare.has_value());
    if (spare) cluster.session->put_permit(*spare);
    cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::both);
    cluster.target.hold_responses = false;
    cluster.target.release_held();
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    2 * kSecond));
    BOOST_TEST(cluster.session->stats().permits_fenced == 0u);
}

BOOST_AUTO_TEST_CASE(a_request_answered_on_another_path_stays_fenced_until_the_path_it_left_is_back) {
    // Path 0's link to the server is clogged for far longer than the client takes to give up on
    // the path: its requests fail over to path 1 and are answered there while their first copies
    // are still on the way to the server, where they would land in the same chunks. Those chunks
    // stay fenced until path 0 has reconnected (the server accepts it only after closing the old
    // connection, so no old copy can land after that).
    Cluster cluster;
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.policy = MpPolicy::round_robin;
    cluster.open(2, config);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(2000, 16), cluster.target.disk);
    driver.pump();
    cluster.run_for(kMillisecond);
    cluster.world.clog_link(client_address(0), server_address(0), 2 * kSecond, Direction::a_to_b);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).stats().failovered > 0u; }, 2 * kSecond));
    BOOST_REQUIRE(cluster.run_until([&] { return driver.done(); }, 20 * kSecond));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    BOOST_REQUIRE(cluster.path(0).state() != ClientPathState::connected);
    // Every request that went out on path 0 unanswered was answered on path 1, yet stays fenced.
    BOOST_TEST(cluster.session->stats().permits_fenced > 0u);
    BOOST_TEST(cluster.session->stats().permits_fenced == cluster.session->permits_in_use());
    cluster.world.unclog_link(client_address(0), server_address(0), Direction::a_to_b);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    10 * kSecond));
    BOOST_TEST(cluster.session->stats().permits_fenced == 0u);
    BOOST_TEST(cluster.session->permits_in_use() == 0u);
    IoDriver after(cluster.client_node, *cluster.session, cluster.io_options(300, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(after));
    BOOST_TEST(after.errors == 0u);
    BOOST_TEST(after.verify_failures == 0u);
}

namespace {

// The shape of sim-scenarios/scenarios/late-copy-after-answer.yaml: path 0's answers are lost for
// half a millisecond, so the transport sends its requests again, into a clog (73 ms each way)
// that outlasts the client's patience (3 missed 10 ms heartbeats) but not the server's (2 missed
// 100 ms). The requests fail over to path 1 and are answered there; a newer write to the same
// block goes out once one is acknowledged; then the first copy lands. Returns how many blocks a
// read-back, once every copy landed, finds differing from the acknowledged writes; `held` gets
// the completions that waited for a late copy. `path_comes_back` false: path 0's link goes down
// once the copies have landed, before it can reconnect, so only the lifetime ends a hold.
std::uint64_t blocks_undone_by_late_copies(fabric::Nanos copy_lifetime, std::uint64_t* held,
                                           bool path_comes_back = true) {
    fabric::sim::WorldConfig world_config;
    world_config.transport_timeout = 15 * kMillisecond;
    world_config.retransmit_interval = 2 * kMillisecond;
    Cluster cluster(7, world_config);
    ServerConfig server_config = test_server_config();
    server_config.heartbeat = {100 * kMillisecond, 2};
    cluster.start_server(server_config);
    ClientConfig config = test_client_config();
    config.policy = MpPolicy::round_robin;
    config.heartbeat = {10 * kMillisecond, 3};
    config.copy_lifetime = copy_lifetime;
    cluster.open(2, config);
    IoDriver::Options options = cluster.io_options(12000, 8);
    options.blocks = 8;  // every block is written again soon
    options.read_percent = 20;
    IoDriver driver(cluster.client_node, *cluster.session, options, cluster.target.disk);
    driver.pump();
    cluster.run_for(kMillisecond);
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::b_to_a);
    cluster.run_for(kMillisecond / 2);
    cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::b_to_a);
    cluster.run_for(kMillisecond / 2);
    cluster.world.clog_link(client_address(0), server_address(0), 73 * kMillisecond, Direction::both);
    if (!path_comes_back) {
        cluster.run_for(100 * kMillisecond);
        cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    }
    // Without the path, well before the fence timeout (3 s), which would end the holds too.
    BOOST_REQUIRE(cluster.run_until([&] { return driver.done(); }, path_comes_back ? 20 * kSecond : kSecond));
    if (!path_comes_back) BOOST_TEST(cluster.path(0).stats().reconnects_ok == 0u);
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(cluster.path(0).stats().failovered > 0u);
    cluster.world.unclog_link(client_address(0), server_address(0), Direction::both);
    cluster.run_for(2 * kSecond);  // every copy has landed or been dropped
    IoDriver::Options read_back = options;
    read_back.total_ios = 400;
    read_back.read_percent = 100;
    read_back.random_sizes = false;
    IoDriver check(cluster.client_node, *cluster.session, read_back, driver.shadow());
    BOOST_REQUIRE(cluster.drive(check));
    BOOST_TEST(check.errors == 0u);
    *held = cluster.session->stats().completions_held;
    BOOST_TEST_MESSAGE("undone " << driver.verify_failures << "+" << check.verify_failures << " held " << *held);
    return driver.verify_failures + check.verify_failures;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_late_copy_of_an_answered_write_lands_after_a_newer_write_without_a_copy_lifetime) {
    // The kernel's behaviour (and the default): the client assumes no copy outlives the path.
    std::uint64_t held = 0;
    BOOST_TEST(blocks_undone_by_late_copies(0, &held) > 0u);
    BOOST_TEST(held == 0u);
}

BOOST_AUTO_TEST_CASE(a_write_whose_copy_may_still_land_completes_only_once_the_copy_cannot) {
    // copy_lifetime covers the clog and the transport's retransmissions: the writes answered on
    // path 1 complete only once their copies on path 0 can no longer land.
    std::uint64_t held = 0;
    BOOST_TEST(blocks_undone_by_late_copies(200 * kMillisecond, &held) == 0u);
    BOOST_TEST(held > 0u);
}

BOOST_AUTO_TEST_CASE(a_held_write_completes_once_its_copy_lifetime_is_over_when_the_path_stays_down) {
    // Path 0 never reconnects: the held completions come at the end of the copies' lifetime.
    std::uint64_t held = 0;
    BOOST_TEST(blocks_undone_by_late_copies(200 * kMillisecond, &held, false) == 0u);
    BOOST_TEST(held > 0u);
}

BOOST_AUTO_TEST_CASE(a_reconnect_waits_until_storage_answered_the_old_paths_requests) {
    // Path 0 dies while storage holds requests that came through it; path 1 keeps the session.
    // The server refuses path 0's reconnect (-EBUSY) until storage has answered them: until then
    // a new request through path 0 could reach a chunk storage still works on.
    fabric::sim::WorldConfig world_config;
    world_config.transport_timeout = 20 * kMillisecond;
    Cluster cluster(1, world_config);
    cluster.start_server();
    ClientConfig config = test_client_config();
    config.policy = MpPolicy::round_robin;
    config.reconnect_jitter = 0;
    config.reconnect_delay = 20 * kMillisecond;
    config.reconnect_max_delay = 40 * kMillisecond;
    cluster.open(2, config);
    cluster.target.hold_responses = true;
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(16, 16), cluster.target.disk);
    driver.pump();
    cluster.run_for(kMillisecond);
    BOOST_REQUIRE_EQUAL(cluster.target.held.size(), 16u);
    cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() != ClientPathState::connected; },
                                    2 * kSecond));
    cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::both);
    cluster.run_for(500 * kMillisecond);
    BOOST_TEST(cluster.path(0).state() != ClientPathState::connected);
    BOOST_TEST(cluster.server->stats().refused_while_draining >= 2u);
    cluster.target.hold_responses = false;
    cluster.target.release_held();
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.path(0).state() == ClientPathState::connected; },
                                    2 * kSecond));
    BOOST_REQUIRE(cluster.run_until([&] { return driver.done(); }, 2 * kSecond));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    BOOST_TEST(cluster.session->permits_in_use() == 0u);
}
