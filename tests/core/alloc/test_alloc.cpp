// The IO hot path allocates nothing: a global operator new hook counts heap
// allocations over 10,000 IOs after warm-up, client core + server core + simulator together.
#define BOOST_TEST_MODULE core_alloc
#include <boost/test/unit_test.hpp>


#include "tests/core/ibtrs/cluster.hpp"
#include "tests/support/alloc_hook.hpp"


using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;

namespace {

std::uint64_t allocations_for(Cluster& cluster, IoDriver& driver) {
    const std::function<bool()> done = [&] { return driver.done(); };
    const fabric::Nanos deadline = cluster.world.now() + 60 * kSecond;
    const std::uint64_t before = ibnbd::test::allocation_count();
    driver.pump();
    const bool finished = cluster.world.run_until(done, deadline);
    const std::uint64_t after = ibnbd::test::allocation_count();
    BOOST_REQUIRE(finished);
    return after - before;
}

}  // namespace

BOOST_AUTO_TEST_CASE(ten_thousand_ios_allocate_nothing) {
    for (const auto mode : {fabric::sim::ImmMode::verbs, fabric::sim::ImmMode::tcp}) {
        fabric::sim::WorldConfig world_config;
        world_config.imm_mode = mode;
        Cluster cluster(3, world_config);
        cluster.start_server();
        cluster.open(2);
        IoDriver warm_up(cluster.client_node, *cluster.session, cluster.io_options(2000, 16), cluster.target.disk);
        (void)allocations_for(cluster, warm_up);
        IoDriver measured(cluster.client_node, *cluster.session, cluster.io_options(10000, 16), cluster.target.disk);
        const std::uint64_t allocations = allocations_for(cluster, measured);
        BOOST_TEST(measured.completed == 10000u);
        BOOST_TEST(measured.errors == 0u);
        BOOST_TEST(measured.verify_failures == 0u);
        BOOST_TEST(allocations == 0u, "heap allocations during 10,000 IOs: " << allocations);
    }
}

BOOST_AUTO_TEST_CASE(the_hook_counts) {
    const std::uint64_t before = ibnbd::test::allocation_count();
    auto* p = new int(3);
    BOOST_TEST(ibnbd::test::allocation_count() == before + 1);
    delete p;
}
