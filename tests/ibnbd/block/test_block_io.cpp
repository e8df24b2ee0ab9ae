#define BOOST_TEST_MODULE ibnbd_block
#include <boost/test/unit_test.hpp>

#include "tests/ibnbd/block/block_cluster.hpp"

using namespace ibnbd;
using namespace ibnbd::block;
using namespace ibnbd::block::test;

namespace {

class Waiter : public BlockIoHandler {
public:
    void on_block_io_complete(std::uint64_t, int s) override {
        done = true;
        status = s;
    }
    bool done = false;
    int status = 1;
};

int wait_io(BlockCluster& cluster, Waiter& waiter, const Status<int>& submitted) {
    if (!submitted) return submitted.error();
    BOOST_REQUIRE(cluster.run_until([&] { return waiter.done; }, 5 * kSecond));
    return waiter.status;
}

}  // namespace

BOOST_AUTO_TEST_CASE(map_reports_the_backing_store_geometry) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 8 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", wire::AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    BOOST_TEST(device->state() == DeviceState::mapped);
    BOOST_TEST(device->info().size_bytes == (8u << 20));
    BOOST_TEST(device->info().logical_block_size == 512u);
    BOOST_TEST(device->info().max_io_bytes == 16384u - 4096u);
    BOOST_TEST(client->protocol_version() == 2);
    BOOST_TEST(cluster.block_server->devices().size() == 1u);
    BOOST_TEST(cluster.block_server->devices()[0].path == "/srv/vol0");
    BOOST_TEST(client->map("vol0", wire::AccessMode::rw).error() == -EEXIST);
}

BOOST_AUTO_TEST_CASE(random_mixed_workload_of_every_op_matches_the_oracle) {
    for (std::uint64_t seed : {1, 2, 3}) {
        BlockCluster cluster(seed);
        cluster.catalog.add_store("/srv/vol0", 4 << 20, {});
        auto client = cluster.client(0, "alpha");
        BlockDevice* device = cluster.map(*client, 0, "vol0", wire::AccessMode::rw);
        BOOST_REQUIRE(device != nullptr);
        scenario::BlockOracle::Options options;
        options.total_ops = 4000;
        options.queue_depth = 16;
        options.seed = seed;
        scenario::BlockOracle oracle(*device, options);
        BOOST_REQUIRE(cluster.drive(oracle));
        BOOST_TEST(oracle.completed == 4000u);
        BOOST_TEST(oracle.errors == 0u);
        BOOST_TEST(oracle.submit_errors == 0u);
        BOOST_TEST(oracle.verify_failures == 0u);
        BOOST_TEST(oracle.reads > 0u);
        BOOST_TEST(oracle.flushes > 0u);
        BOOST_TEST(oracle.discards > 0u);
        BOOST_TEST(oracle.zeroes > 0u);
    }
}

BOOST_AUTO_TEST_CASE(offsets_and_lengths_are_checked_against_capacity_and_block_size) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", wire::AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    std::vector<std::byte> buffer(8192);
    Waiter waiter;
    BOOST_TEST(device->read(100, {buffer.data(), 512}, waiter, 0).error() == -EINVAL);       // unaligned
    BOOST_TEST(device->read(0, {buffer.data(), 100}, waiter, 0).error() == -EINVAL);         // length
    BOOST_TEST(device->read((1 << 20) - 512, {buffer.data(), 1024}, waiter, 0).error() == -EINVAL);  // past end
    BOOST_TEST(device->write(1 << 20, {buffer.data(), 512}, false, waiter, 0).error() == -EINVAL);
    std::vector<std::byte> huge(device->info().max_io_bytes + 512);
    BOOST_TEST(device->write(0, huge, false, waiter, 0).error() == -EINVAL);
    BOOST_TEST(device->discard(0, 0, waiter, 0).error() == -EINVAL);
    cluster.run_for(10 * kMillisecond);
    BOOST_TEST(!waiter.done);
    // The last sector is fine.
    BOOST_TEST(wait_io(cluster, waiter, device->write((1 << 20) - 512, {buffer.data(), 512}, true, waiter, 0)) == 0);
}

BOOST_AUTO_TEST_CASE(discard_and_write_zeroes_read_back_zeros) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", wire::AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    std::vector<std::byte> data(8192, std::byte{0x5A});
    std::vector<std::byte> back(8192, std::byte{0x11});
    for (const bool no_unmap : {false, true}) {
        Waiter write, zero, read;
        BOOST_REQUIRE(wait_io(cluster, write, device->write(0, data, false, write, 0)) == 0);
        BOOST_REQUIRE(wait_io(cluster, zero, device->write_zeroes(0, 8192, no_unmap, zero, 0)) == 0);
        BOOST_REQUIRE(wait_io(cluster, read, device->read(0, back, read, 0)) == 0);
        BOOST_TEST(std::all_of(back.begin(), back.end(), [](std::byte b) { return b == std::byte{0}; }));
    }
    Waiter write, discard, flush;
    BOOST_REQUIRE(wait_io(cluster, write, device->write(4096, {data.data(), 4096}, false, write, 0)) == 0);
    BOOST_REQUIRE(wait_io(cluster, discard, device->discard(4096, 4096, discard, 0)) == 0);
    BOOST_REQUIRE(wait_io(cluster, flush, device->flush(flush, 0)) == 0);
}

BOOST_AUTO_TEST_CASE(storage_errors_reach_the_caller) {
    BlockCluster cluster;
    auto& store = cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", wire::AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    store.inject_error(-EIO, 1);
    std::vector<std::byte> data(4096);
    Waiter failed, next;
    BOOST_TEST(wait_io(cluster, failed, device->write(0, data, false, failed, 0)) == -EIO);
    BOOST_TEST(wait_io(cluster, next, device->write(0, data, false, next, 0)) == 0);
    BOOST_TEST(device->state() == DeviceState::mapped);
}

BOOST_AUTO_TEST_CASE(resize_changes_the_local_capacity_only) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 8 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", wire::AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    BOOST_TEST(device->resize(0).error() == -EINVAL);
    BOOST_TEST(device->resize((4 << 20) + 100).error() == -EINVAL);  // not whole blocks
    BOOST_REQUIRE(device->resize(4 << 20));
    BOOST_TEST(device->info().size_bytes == (4u << 20));
    std::vector<std::byte> buffer(4096);
    Waiter beyond;
    BOOST_TEST(device->read(4 << 20, buffer, beyond, 1).error() == -EINVAL);  // past the new end
    Waiter inside;
    BOOST_TEST(wait_io(cluster, inside, device->read((4 << 20) - 4096, buffer, inside, 2)) == 0);
    // Growing beyond the server's size is the operator's call; the server refuses IO past its end.
    BOOST_REQUIRE(device->resize(16 << 20));
    Waiter refused;
    BOOST_TEST(wait_io(cluster, refused, device->read(12 << 20, buffer, refused, 3)) < 0);
    Waiter still_fine;
    BOOST_TEST(wait_io(cluster, still_fine, device->read(0, buffer, still_fine, 4)) == 0);
}

// The storage takes 2 operations at a time; the client keeps 16 in flight. IO that finds the
// storage full waits on the server and is never failed for it.
BOOST_AUTO_TEST_CASE(io_beyond_the_storage_queue_waits_instead_of_failing) {
    BlockCluster cluster(5, "/srv", 2);
    cluster.catalog.add_store("/srv/vol0", 4 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", wire::AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    scenario::BlockOracle::Options options;
    options.total_ops = 2000;
    options.queue_depth = 16;
    options.seed = 5;
    scenario::BlockOracle oracle(*device, options);
    BOOST_REQUIRE(cluster.drive(oracle));
    BOOST_TEST(oracle.completed == 2000u);
    BOOST_TEST(oracle.errors == 0u);
    BOOST_TEST(oracle.verify_failures == 0u);
    BOOST_TEST(oracle.submit_errors == 0u);
    BOOST_TEST(cluster.block_server->stats().ios_deferred > 0u);
    BOOST_TEST(cluster.block_server->stats().io_errors == 0u);
    BOOST_TEST(cluster.block_server->inflight() == 0u);
}
