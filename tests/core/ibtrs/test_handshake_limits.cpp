// Handshake limits of the server (ServerConfig::max_pending_handshakes and
// handshake_timeout): clients that connect and never send INFO_REQ are closed after the timeout;
// at the limit the path that has waited longest makes room, so that silent clients cannot keep a
// real one out; a path with more connections than the limit is refused with -EBUSY.
#include <boost/test/unit_test.hpp>

#include "core/ibtrs/client_path.hpp"
#include "tests/core/ibtrs/rogue.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;

namespace {

// Connects a path of a new session (cid 0 of 1) and sends nothing after the CM handshake.
std::unique_ptr<RogueConnection> silent_path(Cluster& cluster, std::uint8_t seed) {
    auto conn = rogue_connect(cluster, rogue_request(seed, seed, 0, 1, true));
    BOOST_REQUIRE(conn->established);
    return conn;
}

void check_verified_io(Cluster& cluster) {
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(200, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver, 10 * kSecond));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_path_that_never_sends_info_req_is_closed_after_the_handshake_timeout) {
    Cluster cluster;
    ServerConfig config = test_server_config();
    config.handshake_timeout = 500 * kMillisecond;
    cluster.start_server(config);
    auto silent = silent_path(cluster, 1);
    BOOST_TEST(cluster.server->pending_handshakes() == 1u);
    cluster.run_for(400 * kMillisecond);
    BOOST_TEST(!silent->disconnected);
    BOOST_TEST(cluster.run_until([&] { return silent->disconnected; }, kSecond));
    BOOST_TEST(cluster.server->stats().handshakes_timed_out == 1u);
    BOOST_TEST(cluster.server->pending_handshakes() == 0u);
    cluster.run_for(100 * kMillisecond);
    BOOST_TEST(cluster.server->session_count() == 0u);  // its session went with it

    // A path that completes its handshake is not timed out later.
    cluster.open();
    cluster.run_for(2 * kSecond);
    BOOST_TEST(cluster.session->connected_paths() == 1u);
    BOOST_TEST(cluster.server->stats().handshakes_timed_out == 1u);
    check_verified_io(cluster);
}

BOOST_AUTO_TEST_CASE(at_the_limit_the_longest_waiting_handshake_makes_room) {
    Cluster cluster;
    ServerConfig config = test_server_config();
    config.max_pending_handshakes = 4;
    config.handshake_timeout = 0;  // only the limit acts here
    cluster.start_server(config);
    std::vector<std::unique_ptr<RogueConnection>> silent;
    for (std::uint8_t seed = 1; seed <= 4; ++seed) {
        silent.push_back(silent_path(cluster, seed));
        cluster.run_for(10 * kMillisecond);
    }
    BOOST_TEST(cluster.server->pending_handshakes() == 4u);
    // A real client's path has three connections (io_connections 2): each one makes room by
    // closing the silent path that has waited longest.
    cluster.open();
    BOOST_TEST(cluster.run_until([&] { return silent[2]->disconnected; }, kSecond));
    BOOST_TEST(silent[0]->disconnected);
    BOOST_TEST(silent[1]->disconnected);
    BOOST_TEST(!silent[3]->disconnected);
    BOOST_TEST(cluster.server->stats().handshakes_dropped == 3u);
    BOOST_TEST(cluster.server->stats().handshakes_refused == 0u);
    BOOST_TEST(cluster.server->pending_handshakes() == 1u);  // the youngest silent one
    check_verified_io(cluster);
}

BOOST_AUTO_TEST_CASE(a_path_with_more_connections_than_the_limit_is_refused) {
    Cluster cluster;
    ServerConfig config = test_server_config();
    config.max_pending_handshakes = 2;
    cluster.start_server(config);
    auto first = rogue_connect(cluster, rogue_request(1, 1, 0, 3, true));
    auto second = rogue_connect(cluster, rogue_request(1, 1, 1, 3, true));
    BOOST_REQUIRE(first->established && second->established);
    // Nothing but its own path waits: there is nothing to close for it.
    BOOST_TEST(rejected_with(cluster, rogue_request(1, 1, 2, 3, true)) == -EBUSY);
    BOOST_TEST(cluster.server->stats().handshakes_refused == 1u);
    BOOST_TEST(cluster.server->stats().handshakes_dropped == 0u);
    BOOST_TEST(!first->disconnected);
}
