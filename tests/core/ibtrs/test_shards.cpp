// A client session with IO shards on separate fabrics (one per reactor on real backends): each
// path has IO connections on every shard, each shard carries its own requests on its own
// connections and memory, fails over inside itself after the drain, and reconnects with the rest.
#include <boost/test/unit_test.hpp>

#include "core/ibtrs/client_path.hpp"
#include "core/wire/rtrs_imm.hpp"
#include "tests/core/ibtrs/cluster.hpp"
#include "sim-scenarios/lib/shard_fabric.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;
using fabric::sim::Direction;
using scenario::ShardFabric;
using scenario::SimMailbox;
using scenario::ViewRegistry;

namespace {

// A session whose shard 0 runs on `home` and shards 1.. on views of their own, with mailboxes that
// deliver from the event loop.
struct ShardedCluster {
    explicit ShardedCluster(std::size_t remote_shards, std::uint64_t seed = 1) : cluster(seed) {
        home = std::make_unique<ShardFabric>(cluster.client_node, registry);
        home_mailbox = std::make_unique<SimMailbox>(cluster.client_node);
        for (std::size_t i = 0; i < remote_shards; ++i) {
            views.push_back(std::make_unique<ShardFabric>(cluster.client_node, registry));
            mailboxes.push_back(std::make_unique<SimMailbox>(cluster.client_node));
        }
        cluster.start_server();
    }
    ~ShardedCluster() {
        session.reset();  // remote shards are deleted by tasks on their mailboxes
        cluster.run_for(kMillisecond);
    }

    ClientSession& open(int paths, ClientConfig config = test_client_config()) {
        ShardLayout layout;
        layout.home = home_mailbox.get();
        for (std::size_t i = 0; i < views.size(); ++i) layout.remote.push_back({views[i].get(), mailboxes[i].get()});
        auto created = ClientSession::create(*home, std::move(config), cluster.path_specs(paths), cluster.events,
                                             layout);
        BOOST_REQUIRE(created.has_value());
        session = std::move(created.value());
        session->start();
        BOOST_REQUIRE(cluster.run_until([&] { return session->connected_paths() == std::size_t(paths); }, 5 * kSecond));
        cluster.run_for(kMillisecond);  // the remote shards' lane_up tasks
        return *session;
    }

    fabric::Fabric& fabric_of(std::size_t shard) { return shard == 0 ? *home : *views[shard - 1]; }

    // One verifying driver per shard, each on its own blocks of the target.
    std::vector<std::unique_ptr<IoDriver>> drivers(std::uint64_t ios, std::uint32_t depth) {
        std::vector<std::unique_ptr<IoDriver>> made;
        for (std::size_t shard = 0; shard < session->shard_count(); ++shard) {
            IoDriver::Options options = cluster.io_options(ios, depth);
            options.blocks = 64;
            options.first_block = static_cast<std::uint32_t>(shard * 64);
            options.seed = shard + 1;
            made.push_back(std::make_unique<IoDriver>(fabric_of(shard), session->shard(shard), options,
                                                      cluster.target.disk));
        }
        return made;
    }

    bool run(std::vector<std::unique_ptr<IoDriver>>& drivers, fabric::Nanos timeout = 60 * kSecond) {
        for (auto& driver : drivers) driver->pump();
        return cluster.run_until([&] {
            return std::all_of(drivers.begin(), drivers.end(), [](const auto& d) { return d->done(); });
        }, timeout);
    }

    std::size_t foreign_entries() const {
        std::size_t total = home->foreign_entries;
        for (const auto& view : views) total += view->foreign_entries;
        return total;
    }

    Cluster cluster;
    ViewRegistry registry;
    std::unique_ptr<ShardFabric> home;
    std::unique_ptr<SimMailbox> home_mailbox;
    std::vector<std::unique_ptr<ShardFabric>> views;
    std::vector<std::unique_ptr<SimMailbox>> mailboxes;
    std::unique_ptr<ClientSession> session;
};

void expect_clean(const std::vector<std::unique_ptr<IoDriver>>& drivers, std::uint64_t ios) {
    for (const auto& driver : drivers) {
        BOOST_TEST(driver->errors == 0u);
        BOOST_TEST(driver->submit_errors == 0u);
        BOOST_TEST(driver->verify_failures == 0u);
        BOOST_TEST(driver->completed == ios);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_shard_has_its_own_connections_permits_and_memory) {
    ShardedCluster sharded(2);
    ClientSession& session = sharded.open(2);  // io_connections 2: cids 1-2, 3-4, 5-6
    BOOST_TEST(session.shard_count() == 3u);
    // Per path: cid 0 on the home fabric, two IO connections on every shard's fabric.
    BOOST_TEST(sharded.home->connects == 2u * 3u);
    for (const auto& view : sharded.views) BOOST_TEST(view->connects == 2u * 2u);
    // The server's 32 chunks split 10/11/11, disjoint and covering.
    std::uint32_t permits = 0;
    for (std::size_t shard = 0; shard < 3; ++shard) permits += session.shard(shard).permit_count();
    BOOST_TEST(permits == 32u);
    BOOST_TEST(session.shard(0).permit_count() == 10u);
    const auto on_shard_1 = session.shard(1).get_permit();
    BOOST_REQUIRE(on_shard_1.has_value());
    BOOST_TEST(*on_shard_1 == 10u);
    session.shard(1).put_permit(*on_shard_1);

    auto drivers = sharded.drivers(2000, 8);
    BOOST_REQUIRE(sharded.run(drivers));
    expect_clean(drivers, 2000);
    BOOST_TEST(sharded.foreign_entries() == 0u);  // no shard posted another's memory
    BOOST_TEST(session.stats().requests_completed_ok == 3u * 2000u);
    const auto path0 = session.path(0)->stats();
    const auto path1 = session.path(1)->stats();
    BOOST_TEST(path0.read_count + path0.write_count + path1.read_count + path1.write_count == 3u * 2000u);
    BOOST_TEST(session.permits_in_use() == 0u);
}

BOOST_AUTO_TEST_CASE(link_down_under_load_every_shard_fails_over_after_its_drain) {
    ShardedCluster sharded(1, 7);
    ClientConfig config = test_client_config();
    config.policy = MpPolicy::round_robin;
    ClientSession& session = sharded.open(2, config);
    auto drivers = sharded.drivers(3000, 8);
    for (auto& driver : drivers) driver->pump();
    sharded.cluster.run_for(kMillisecond);
    sharded.cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(sharded.run(drivers));
    expect_clean(drivers, 3000);
    BOOST_TEST(session.shard(0).counters().failovers.get() > 0u);
    BOOST_TEST(session.shard(1).counters().failovers.get() > 0u);
    BOOST_TEST(session.path(0)->stats().failovered > 0u);
    BOOST_TEST(sharded.cluster.events.failover_events >= 2);  // one report per shard at least
    BOOST_TEST(session.path(1)->state() == ClientPathState::connected);

    // Back up: the path reconnects with every shard's connections and carries IO on all of them.
    sharded.cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::both);
    BOOST_REQUIRE(sharded.cluster.run_until([&] { return session.path(0)->state() == ClientPathState::connected; },
                                            10 * kSecond));
    sharded.cluster.run_for(kMillisecond);
    const auto on_path0 = [&](std::size_t shard) {
        const auto& lane = session.shard(shard).lane_counters(0);
        return lane.read_count.get() + lane.write_count.get();
    };
    const std::uint64_t before0 = on_path0(0), before1 = on_path0(1);
    auto again = sharded.drivers(500, 8);
    BOOST_REQUIRE(sharded.run(again));
    expect_clean(again, 500);
    BOOST_TEST(on_path0(0) > before0);
    BOOST_TEST(on_path0(1) > before1);
    BOOST_TEST(sharded.foreign_entries() == 0u);
}

BOOST_AUTO_TEST_CASE(a_remote_shards_broken_connection_takes_the_whole_path_down_and_back) {
    ShardedCluster sharded(1, 11);
    ClientSession& session = sharded.open(2);
    auto drivers = sharded.drivers(3000, 8);
    for (auto& driver : drivers) driver->pump();
    sharded.cluster.run_for(kMillisecond);
    // Only shard 1's connections of path 0 break; cid 0 and shard 0's are fine.
    BOOST_REQUIRE(sharded.views[0]->disconnect_to(server_address(0)) == 2u);
    BOOST_REQUIRE(sharded.cluster.run_until([&] { return session.path(0)->state() != ClientPathState::connected; },
                                            kSecond));
    BOOST_REQUIRE(sharded.run(drivers));
    expect_clean(drivers, 3000);
    BOOST_TEST(session.path(1)->state() == ClientPathState::connected);
    BOOST_REQUIRE(sharded.cluster.run_until([&] { return session.path(0)->state() == ClientPathState::connected; },
                                            10 * kSecond));
    BOOST_TEST(session.path(0)->stats().reconnects_ok == 1u);
    BOOST_TEST(sharded.views[0]->connects == 2u * 2u + 2u);  // shard 1 re-opened path 0's two
}

BOOST_AUTO_TEST_CASE(requests_of_a_remote_shard_fail_at_once_without_a_path_and_flow_when_it_returns) {
    ShardedCluster sharded(1, 13);
    ClientSession& session = sharded.open(1);
    sharded.cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(sharded.cluster.run_until([&] { return session.connected_paths() == 0u; }, 5 * kSecond));
    sharded.cluster.run_for(kMillisecond);  // the remote shard's drain task
    auto refused = sharded.drivers(4, 4);
    for (auto& driver : refused) {
        driver->pump();
        BOOST_TEST(driver->done());
        BOOST_TEST(driver->submit_errors == 4u);
        BOOST_TEST(driver->last_error == -ECONNABORTED);
    }
    sharded.cluster.world.set_link_state(client_address(0), server_address(0), true, Direction::both);
    BOOST_REQUIRE(sharded.cluster.run_until([&] { return session.connected_paths() == 1u; }, 10 * kSecond));
    sharded.cluster.run_for(kMillisecond);  // the remote shard's lane_up task
    auto drivers = sharded.drivers(100, 4);
    BOOST_REQUIRE(sharded.run(drivers, 10 * kSecond));
    expect_clean(drivers, 100);
}

BOOST_AUTO_TEST_CASE(responses_on_a_remote_shard_keep_the_path_alive_without_heartbeats) {
    ShardedCluster sharded(1, 17);
    ClientSession& session = sharded.open(1);
    const auto is_heartbeat = [](std::uint32_t imm) { return imm == wire::kHbMsgImm || imm == wire::kHbAckImm; };
    sharded.cluster.world.set_imm_filter(client_address(0), server_address(0), Direction::both, is_heartbeat);
    const auto transitions = session.path(0)->stats().state_transitions;
    // 1.5 s of bursts on shard 1 only, 100 ms apart: silence on cid 0 is never longer than one tick.
    for (int burst = 0; burst < 15; ++burst) {
        IoDriver::Options options = sharded.cluster.io_options(200, 2);
        options.seed = static_cast<std::uint64_t>(burst) + 1;
        IoDriver driver(sharded.fabric_of(1), session.shard(1), options, sharded.cluster.target.disk);
        driver.pump();
        BOOST_REQUIRE(sharded.cluster.run_until([&] { return driver.done(); }, kSecond));
        BOOST_TEST(driver.errors == 0u);
        sharded.cluster.run_for(100 * kMillisecond);
    }
    BOOST_TEST(session.path(0)->stats().state_transitions == transitions);
    // Idle, nothing proves the server alive any more: the path goes down.
    BOOST_TEST(sharded.cluster.run_until([&] { return session.path(0)->state() != ClientPathState::connected; },
                                         2 * kSecond));
}

BOOST_AUTO_TEST_CASE(sharded_failover_run_twice_with_one_seed_gives_one_trace) {
    const auto run = [](std::uint64_t seed) {
        ShardedCluster sharded(1, seed);
        sharded.open(2);
        auto drivers = sharded.drivers(800, 8);
        for (auto& driver : drivers) driver->pump();
        sharded.cluster.run_for(kMillisecond);
        sharded.cluster.world.set_link_state(client_address(0), server_address(0), false, Direction::both);
        BOOST_REQUIRE(sharded.run(drivers));
        return sharded.cluster.world.trace_digest();
    };
    BOOST_TEST(run(21) == run(21));
}

BOOST_AUTO_TEST_CASE(remote_shards_need_a_home_link_and_a_fabric) {
    Cluster cluster;
    ViewRegistry registry;
    ShardFabric view(cluster.client_node, registry);
    SimMailbox mailbox(cluster.client_node);
    ShardLayout no_home;
    no_home.remote.push_back({&view, &mailbox});
    BOOST_TEST(ClientSession::create(cluster.client_node, test_client_config(), cluster.path_specs(1), cluster.events,
                                     no_home)
                   .error() == -EINVAL);
    ShardLayout no_fabric;
    no_fabric.home = &mailbox;
    no_fabric.remote.push_back({nullptr, &mailbox});
    BOOST_TEST(ClientSession::create(cluster.client_node, test_client_config(), cluster.path_specs(1), cluster.events,
                                     no_fabric)
                   .error() == -EINVAL);
}
