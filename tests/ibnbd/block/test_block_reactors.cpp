// The block server on several reactors (one BlockServer and ibtrs::Server per reactor, a shared
// SessionDirectory and DeviceLedger): sessions are spread over the reactors, IO is verified on
// each, the access-mode rules hold across reactors, and an OPEN waiting for an old session's IO on
// another reactor is answered when that drain ends.
#include <boost/test/unit_test.hpp>

#include "tests/ibnbd/block/block_cluster.hpp"

using namespace ibnbd;
using namespace ibnbd::block;
using namespace ibnbd::block::test;
using wire::AccessMode;

namespace {

constexpr std::size_t kReactors = 2;

int map_status(BlockCluster& cluster, BlockClient& client, int index, const std::string& name, AccessMode mode) {
    int status = 1;
    cluster.map(client, index, name, mode, &status);
    return status;
}

void expect_verified_io(BlockCluster& cluster, BlockDevice& device, std::uint64_t seed) {
    scenario::BlockOracle::Options options;
    options.total_ops = 1500;
    options.queue_depth = 16;
    options.seed = seed;
    scenario::BlockOracle oracle(device, options);
    BOOST_REQUIRE(cluster.drive(oracle));
    BOOST_TEST(oracle.completed == 1500u);
    BOOST_TEST(oracle.errors == 0u);
    BOOST_TEST(oracle.verify_failures == 0u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(block_reactors)

BOOST_AUTO_TEST_CASE(sessions_on_both_reactors_carry_verified_io) {
    BlockCluster cluster(1, "/srv", 256, kReactors);
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    cluster.catalog.add_store("/srv/vol1", 1 << 20, {});
    auto a = cluster.client(0, "alpha");
    cluster.run_for(100 * kMillisecond);  // connected first: placed on reactor 0
    auto b = cluster.client(1, "beta");
    BlockDevice* on_0 = cluster.map(*a, 0, "vol0", AccessMode::rw);
    BlockDevice* on_1 = cluster.map(*b, 1, "vol1", AccessMode::rw);
    BOOST_REQUIRE(on_0 != nullptr);
    BOOST_REQUIRE(on_1 != nullptr);
    BOOST_TEST(cluster.group->reactor(0).server->find_session("alpha") != nullptr);
    BOOST_TEST(cluster.group->reactor(1).server->find_session("beta") != nullptr);
    expect_verified_io(cluster, *on_0, 3);
    expect_verified_io(cluster, *on_1, 4);
    BOOST_TEST(cluster.group->reactor(0).blocks->stats().ios > 0u);
    BOOST_TEST(cluster.group->reactor(1).blocks->stats().ios > 0u);
    BOOST_TEST(cluster.group->foreign_entries() == 0u);
}

BOOST_AUTO_TEST_CASE(access_modes_hold_across_reactors) {
    struct Case {
        AccessMode first, second;
        int expected;
    };
    const std::vector<Case> cases{
        {AccessMode::rw, AccessMode::rw, -EPERM},
        {AccessMode::rw, AccessMode::ro, 0},
        {AccessMode::rw, AccessMode::migration, 0},
        {AccessMode::migration, AccessMode::rw, -EPERM},
    };
    for (const Case& c : cases) {
        BlockCluster cluster(1, "/srv", 256, kReactors);
        cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
        auto a = cluster.client(0, "alpha");  // reactor 0
        cluster.run_for(100 * kMillisecond);
        auto b = cluster.client(1, "beta");  // reactor 1
        BOOST_REQUIRE(map_status(cluster, *a, 0, "vol0", c.first) == 0);
        BOOST_TEST(map_status(cluster, *b, 1, "vol0", c.second) == c.expected,
                   "modes " << int(c.first) << " then " << int(c.second));
        BOOST_TEST(cluster.group->reactor(1).server->find_session("beta") != nullptr);
    }
    // Unmapping the writer on reactor 0 lets the one on reactor 1 in.
    BlockCluster cluster(1, "/srv", 256, kReactors);
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto a = cluster.client(0, "alpha");
    cluster.run_for(100 * kMillisecond);
    auto b = cluster.client(1, "beta");
    BOOST_REQUIRE(map_status(cluster, *a, 0, "vol0", AccessMode::rw) == 0);
    BOOST_REQUIRE(map_status(cluster, *b, 1, "vol0", AccessMode::rw) == -EPERM);
    BOOST_TEST(cluster.group->reactor(1).server->find_session("beta") != nullptr);
    BOOST_REQUIRE(a->unmap(*a->find("vol0"), false).has_value());
    cluster.run_for(10 * kMillisecond);
    BOOST_TEST(map_status(cluster, *b, 1, "vol0", AccessMode::rw) == 0);
}

BOOST_AUTO_TEST_CASE(an_open_waits_for_a_drain_on_another_reactor) {
    BlockCluster cluster(1, "/srv", 256, kReactors);
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto a = cluster.client(0, "alpha");  // reactor 0, only there to put beta on reactor 1
    BOOST_REQUIRE(map_status(cluster, *a, 0, "vol0", AccessMode::ro) == 0);
    // As if a session of reactor 0 had gone with IO in flight on vol0.
    auto handle = cluster.group->reactor(0).backend->open("/srv/vol0", false);
    BOOST_REQUIRE(handle.has_value());
    const storage::Identity identity = (*handle)->identity();
    cluster.group->ledger().begin_drain(identity);

    auto b = cluster.client(1, "beta");
    const std::size_t reports = cluster.events[1].mapped.size();
    BOOST_REQUIRE(b->map("vol0", AccessMode::rw).has_value());
    cluster.run_for(200 * kMillisecond);
    BOOST_TEST(cluster.events[1].mapped.size() == reports);  // the OPEN waits on reactor 1
    BOOST_TEST(cluster.group->reactor(1).server->find_session("beta") != nullptr);

    cluster.group->ledger().end_drain(identity);  // the drain ends: reactor 1 is woken and answers
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.events[1].mapped.size() > reports; }, kSecond));
    BOOST_TEST(cluster.events[1].statuses.back() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
