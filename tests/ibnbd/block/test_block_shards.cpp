// A BlockClient over an IBTRS session with two IO shards (two reactors on real backends): the
// device's copy on the second shard takes IO on that shard's connections, learns every change of
// the device (remap, resize, unmap) and waits for remaps like the device itself.
#include <boost/test/unit_test.hpp>

#include "tests/ibnbd/block/block_cluster.hpp"
#include "sim-scenarios/lib/shard_fabric.hpp"

using namespace ibnbd;
using namespace ibnbd::block;
using namespace ibnbd::block::test;
using scenario::ShardFabric;
using scenario::SimMailbox;
using scenario::ViewRegistry;
using wire::AccessMode;
using fabric::sim::Direction;

namespace {

// Client 0 with shard 0 on `home` and shard 1 on `other`, both views of client node 0.
struct ShardedClient {
    explicit ShardedClient(BlockCluster& cluster, fabric::Nanos queueing = 0)
        : cluster(cluster), home(*cluster.client_nodes[0], registry), other(*cluster.client_nodes[0], registry),
          home_mailbox(*cluster.client_nodes[0]), other_mailbox(*cluster.client_nodes[0]) {
        ibtrs::ShardLayout layout;
        layout.home = &home_mailbox;
        layout.remote.push_back({&other, &other_mailbox});
        client = cluster.client(0, "alpha", 2, queueing, layout, &home);
    }
    ~ShardedClient() {
        client.reset();
        cluster.run_for(kMillisecond);  // the remote path and shard are deleted by tasks
    }

    scenario::BlockOracle::Options oracle_options(std::uint64_t ops, std::uint32_t first_block) const {
        scenario::BlockOracle::Options options;
        options.blocks = 64;
        options.first_block = first_block;
        options.total_ops = ops;
        options.seed = first_block + 1;
        return options;
    }

    bool run(scenario::BlockOracle& a, scenario::BlockOracle& b, fabric::Nanos timeout = 30 * kSecond) {
        a.pump();
        b.pump();
        return cluster.run_until([&] { return a.done() && b.done(); }, timeout);
    }

    BlockCluster& cluster;
    ViewRegistry registry;
    ShardFabric home, other;
    SimMailbox home_mailbox, other_mailbox;
    std::unique_ptr<BlockClient> client;
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_copy_on_a_second_shard_does_io_on_that_shards_connections) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    ShardedClient sharded(cluster);
    BlockClient& client = *sharded.client;
    BOOST_REQUIRE(client.shard_count() == 2u);
    std::shared_ptr<ShardDevice> copy;
    auto mapped = client.map("vol0", AccessMode::rw);
    BOOST_REQUIRE(mapped.has_value());
    BlockDevice& device = **mapped;
    copy = device.shard_copy(1);
    Collect early;
    std::vector<std::byte> buffer(4096);
    BOOST_TEST(copy->read(0, buffer, early, 1).error() == -ENODEV);  // not mapped yet
    BOOST_REQUIRE(cluster.run_until([&] { return copy->state() == DeviceState::mapped; }, 5 * kSecond));
    BOOST_TEST(copy->info().device_id == device.info().device_id);
    BOOST_TEST(copy->info().size_bytes == std::uint64_t{1} << 20);

    scenario::BlockOracle on_home(device, sharded.oracle_options(1500, 0));
    scenario::BlockOracle on_copy(*copy, sharded.oracle_options(1500, 64));
    BOOST_REQUIRE(sharded.run(on_home, on_copy));
    for (const auto* oracle : {&on_home, &on_copy}) {
        BOOST_TEST(oracle->errors == 0u);
        BOOST_TEST(oracle->submit_errors == 0u);
        BOOST_TEST(oracle->verify_failures == 0u);
    }
    ibtrs::ClientSession& session = client.transport();
    // Each shard carried its own oracle's IO (plus, on shard 0, SESS_INFO and OPEN).
    BOOST_TEST(session.shard(1).counters().requests_completed_ok.get() == 1500u);
    BOOST_TEST(session.shard(0).counters().requests_completed_ok.get() == 1500u + 2u);
    BOOST_TEST(sharded.home.foreign_entries + sharded.other.foreign_entries == 0u);
    BOOST_TEST(sharded.other.connects == 2u);  // one IO connection per path

    // resize reaches the copy.
    BOOST_REQUIRE(device.resize(std::uint64_t{1} << 19).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return copy->info().size_bytes == std::uint64_t{1} << 19; }, kSecond));
    BOOST_TEST(copy->write((std::uint64_t{1} << 19), buffer, false, early, 2).error() == -EINVAL);
}

BOOST_AUTO_TEST_CASE(both_shards_wait_for_the_remap_after_a_server_crash) {
    BlockCluster cluster(3);
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    ShardedClient sharded(cluster, 10 * kSecond);
    BlockDevice* device = cluster.map(*sharded.client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    auto copy = device->shard_copy(1);
    BOOST_REQUIRE(cluster.run_until([&] { return copy->state() == DeviceState::mapped; }, kSecond));
    scenario::BlockOracle::Options options = sharded.oracle_options(2000, 0);
    options.use_discard = false;
    scenario::BlockOracle on_home(*device, options);
    options.first_block = 64;
    scenario::BlockOracle on_copy(*copy, options);
    on_home.pump();
    on_copy.pump();
    cluster.run_for(2 * kMillisecond);
    // Both links down: every path is lost, the device is re-opened when one returns.
    for (int p = 0; p < BlockCluster::kPaths; ++p) {
        cluster.world.set_link_state(client_address(0, p), server_address(p), false, Direction::both);
    }
    BOOST_REQUIRE(cluster.run_until([&] { return copy->state() == DeviceState::mapped_disconnected; }, 5 * kSecond));
    cluster.run_for(300 * kMillisecond);
    for (int p = 0; p < BlockCluster::kPaths; ++p) {
        cluster.world.set_link_state(client_address(0, p), server_address(p), true, Direction::both);
    }
    BOOST_REQUIRE(sharded.run(on_home, on_copy));
    for (const auto* oracle : {&on_home, &on_copy}) {
        BOOST_TEST(oracle->errors == 0u);
        BOOST_TEST(oracle->verify_failures == 0u);
    }
    BOOST_TEST(device->remaps() >= 1u);
    BOOST_TEST(copy->state() == DeviceState::mapped);
}

BOOST_AUTO_TEST_CASE(unmap_counts_the_copys_users_and_force_fails_its_io) {
    BlockCluster cluster;
    auto& store = cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    ShardedClient sharded(cluster);
    BlockClient& client = *sharded.client;
    BlockDevice* device = cluster.map(client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    auto copy = device->shard_copy(1);
    BOOST_REQUIRE(cluster.run_until([&] { return copy->state() == DeviceState::mapped; }, kSecond));
    copy->acquire();
    BOOST_TEST(client.unmap(*device, false).error() == -EBUSY);
    copy->release();
    store.set_latency(50 * kMillisecond, 0);
    std::vector<std::byte> data(4096);
    Collect sink;
    BOOST_REQUIRE(copy->write(0, data, false, sink, 7).has_value());
    cluster.run_for(kMillisecond);
    BOOST_TEST(client.unmap(*device, false).error() == -EBUSY);  // the copy's IO is in flight
    BOOST_REQUIRE(client.unmap(*device, true).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return !sink.results.empty(); }, kSecond));
    BOOST_TEST(sink.results.front().second == -EIO);
    BOOST_TEST(copy->state() == DeviceState::unmapped);
    BOOST_TEST(copy->write(0, data, false, sink, 8).error() == -ENODEV);
    cluster.run_for(200 * kMillisecond);  // the abandoned request completes underneath
    BOOST_TEST(client.transport().permits_in_use() == 0u);
    BOOST_TEST(cluster.block_server->open_devices() == 0u);
}

BOOST_AUTO_TEST_CASE(a_force_close_seen_by_the_copy_closes_the_device_until_remap) {
    // The server's -ENODEV reaches the copy on the second shard: the device (and so the copy)
    // turns closed_by_server, IO waiting on the copy fails with -ENODEV instead of waiting, and a
    // remap brings both back under a new id.
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    ShardedClient sharded(cluster, kSecond);
    BlockClient& client = *sharded.client;
    auto mapped = client.map("vol0", AccessMode::rw);
    BOOST_REQUIRE(mapped.has_value());
    BlockDevice& device = **mapped;
    std::shared_ptr<ShardDevice> copy = device.shard_copy(1);
    BOOST_REQUIRE(cluster.run_until([&] { return copy->state() == DeviceState::mapped; }, 5 * kSecond));
    const std::uint32_t closed_id = device.info().device_id;
    BOOST_REQUIRE(cluster.block_server->force_close("alpha", closed_id).has_value());
    std::vector<std::byte> data(4096, std::byte{7});
    Collect sink;
    BOOST_REQUIRE(copy->write(0, data, false, sink, 1).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return copy->state() == DeviceState::closed_by_server; }, kSecond));
    BOOST_TEST(sink.status_of(1) == -ENODEV);
    BOOST_TEST(device.state() == DeviceState::closed_by_server);
    BOOST_TEST(device.reopens() == 0u);
    BOOST_TEST(copy->write(0, data, false, sink, 2).error() == -ENODEV);
    BOOST_REQUIRE(client.remap(device).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return copy->state() == DeviceState::mapped; }, kSecond));
    BOOST_TEST(copy->info().device_id != closed_id);
    BOOST_REQUIRE(copy->write(0, data, false, sink, 3).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return sink.status_of(3) != 1; }, kSecond));
    BOOST_TEST(sink.status_of(3) == 0);
}
