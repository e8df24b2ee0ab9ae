// Server crash and restart (remap, durability), force close, malformed requests, unmap, and IO
// while the session is down.
#include <boost/test/unit_test.hpp>

#include "tests/ibnbd/block/block_cluster.hpp"

using namespace ibnbd;
using namespace ibnbd::block;
using namespace ibnbd::block::test;
using wire::AccessMode;
using fabric::sim::Direction;

namespace {

constexpr std::uint32_t kBlock = 4096;

void write_block(BlockDevice& device, std::uint32_t block, std::uint32_t version, bool fua, Collect& sink,
                 std::vector<std::byte>& buffer) {
    buffer.resize(std::size_t{kBlock} * (block + 1));
    std::byte* data = buffer.data() + std::size_t{block} * kBlock;
    for (std::uint32_t i = 0; i < kBlock; ++i) data[i] = scenario::BlockOracle::pattern(block, version, i);
    BOOST_REQUIRE(device.write(std::uint64_t{block} * kBlock, {data, kBlock}, fua, sink, block).has_value());
}

}  // namespace

BOOST_AUTO_TEST_CASE(server_crash_remaps_and_keeps_flushed_and_fua_data) {
    std::uint64_t unflushed_lost = 0, unflushed_total = 0;
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        BlockCluster cluster(seed);
        cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
        auto client = cluster.client(0, "alpha", 2, 10 * kSecond);
        BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
        BOOST_REQUIRE(device != nullptr);
        // Blocks 0-15 written then flushed, 16-31 written with FUA, 32-63 written and not flushed.
        Collect sink;
        std::vector<std::byte> buffers;
        for (std::uint32_t b = 0; b < 16; ++b) write_block(*device, b, 1, false, sink, buffers);
        BOOST_REQUIRE(cluster.run_until([&] { return sink.results.size() == 16; }, kSecond));
        BOOST_REQUIRE(device->flush(sink, 1000).has_value());
        for (std::uint32_t b = 16; b < 32; ++b) write_block(*device, b, 2, true, sink, buffers);
        BOOST_REQUIRE(cluster.run_until([&] { return sink.results.size() == 33; }, kSecond));
        for (std::uint32_t b = 32; b < 64; ++b) write_block(*device, b, 3, false, sink, buffers);
        BOOST_REQUIRE(cluster.run_until([&] { return sink.results.size() == 65; }, kSecond));
        for (const auto& [cookie, status] : sink.results) BOOST_REQUIRE(status == 0);

        const std::uint32_t id_before = device->info().device_id;
        cluster.crash_server(seed);
        BOOST_REQUIRE(cluster.run_until([&] { return device->state() == DeviceState::mapped_disconnected; },
                                        5 * kSecond));
        cluster.run_for(200 * kMillisecond);
        cluster.restart_server();
        BOOST_REQUIRE(cluster.run_until([&] { return device->state() == DeviceState::mapped; }, 10 * kSecond));
        BOOST_TEST(device->remaps() == 1u);
        BOOST_TEST(device->info().device_id == id_before);  // a fresh server numbers from 0 again

        std::vector<std::byte> back(64 * kBlock);
        Collect reads;
        for (std::uint32_t b = 0; b < 64; ++b) {
            BOOST_REQUIRE(device->read(std::uint64_t{b} * kBlock, {back.data() + std::size_t{b} * kBlock, kBlock},
                                       reads, b).has_value());
        }
        BOOST_REQUIRE(cluster.run_until([&] { return reads.results.size() == 64; }, 5 * kSecond));
        for (std::uint32_t b = 0; b < 64; ++b) {
            BOOST_REQUIRE(reads.status_of(b) == 0);
            const std::uint32_t version = b < 16 ? 1 : b < 32 ? 2 : 3;
            bool intact = true;
            for (std::uint32_t i = 0; i < kBlock; ++i) {
                intact = intact && back[std::size_t{b} * kBlock + i] == scenario::BlockOracle::pattern(b, version, i);
            }
            if (b < 32) {
                BOOST_TEST(intact, "durable block " << b << " survived, seed " << seed);
                continue;
            }
            // Unflushed: each sector is, independently, the old content (zeros) or the new one.
            for (std::uint32_t s = 0; s < kBlock / 512; ++s) {
                const std::byte* sector = back.data() + std::size_t{b} * kBlock + s * 512;
                const bool old = std::all_of(sector, sector + 512, [](std::byte x) { return x == std::byte{0}; });
                bool now = true;
                for (std::uint32_t i = 0; i < 512; ++i) {
                    now = now && sector[i] == scenario::BlockOracle::pattern(b, version, s * 512 + i);
                }
                BOOST_TEST((old || now), "block " << b << " sector " << s);
                ++unflushed_total;
                unflushed_lost += old && !now;
            }
        }
    }
    BOOST_TEST(unflushed_lost > 0u);               // the durability model does lose unflushed sectors
    BOOST_TEST(unflushed_lost < unflushed_total);  // and keeps some of them
}

BOOST_AUTO_TEST_CASE(without_a_crash_nothing_is_lost_across_a_reconnect) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha", 1, 5 * kSecond);
    BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    scenario::BlockOracle::Options options;
    options.total_ops = 3000;
    options.use_discard = false;
    scenario::BlockOracle oracle(*device, options);
    oracle.pump();
    cluster.run_for(2 * kMillisecond);
    cluster.world.set_link_state(client_address(0, 0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return device->state() == DeviceState::mapped_disconnected; }, 5 * kSecond));
    cluster.world.set_link_state(client_address(0, 0), server_address(0), true, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return oracle.done(); }, 30 * kSecond));
    BOOST_TEST(oracle.errors == 0u);
    BOOST_TEST(oracle.verify_failures == 0u);
    BOOST_TEST(device->remaps() >= 1u);
}

BOOST_AUTO_TEST_CASE(io_while_disconnected_fails_without_queueing) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha", 1, 0);
    BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    cluster.world.set_link_state(client_address(0, 0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return device->state() == DeviceState::mapped_disconnected; }, 5 * kSecond));
    std::vector<std::byte> data(512);
    Collect sink;
    BOOST_TEST(device->write(0, data, false, sink, 0).error() == -EIO);
}

// Only the block layer waits for a path (the transport fails at once): IO waits at most
// wait_while_reconnecting, then fails with -ETIMEDOUT; once the path is back, IO flows again.
BOOST_AUTO_TEST_CASE(io_waits_for_the_session_at_most_wait_while_reconnecting) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha", 1, 300 * kMillisecond);
    BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    cluster.world.set_link_state(client_address(0, 0), server_address(0), false, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return device->state() == DeviceState::mapped_disconnected; }, 5 * kSecond));
    std::vector<std::byte> data(4096, std::byte{0x3c});
    Collect sink;
    const fabric::Nanos start = cluster.world.now();
    BOOST_REQUIRE(device->write(0, data, false, sink, 1).has_value());  // accepted: it waits
    cluster.run_for(200 * kMillisecond);
    BOOST_TEST(sink.results.empty());
    BOOST_REQUIRE(cluster.run_until([&] { return !sink.results.empty(); }, kSecond));
    BOOST_TEST(sink.status_of(1) == -ETIMEDOUT);
    BOOST_TEST(cluster.world.now() - start >= 300 * kMillisecond);
    BOOST_TEST(cluster.world.now() - start < 500 * kMillisecond);

    cluster.world.set_link_state(client_address(0, 0), server_address(0), true, Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return device->state() == DeviceState::mapped; }, 10 * kSecond));
    BOOST_REQUIRE(device->write(0, data, false, sink, 2).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return sink.results.size() == 2u; }, kSecond));
    BOOST_TEST(sink.status_of(2) == 0);
    BOOST_TEST(client->transport().permits_in_use() == 0u);
}

BOOST_AUTO_TEST_CASE(io_on_a_force_closed_device_fails_until_remap_and_never_reuses_the_id) {
    // The server answers IO for a force-closed id with -ENODEV: the device says it was closed by
    // the server, its IO fails with -ENODEV (not re-opened behind the operator's back), and a
    // remap opens it again with a new id.
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    cluster.catalog.add_store("/srv/vol1", 1 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* first = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(first != nullptr);
    BOOST_REQUIRE(cluster.block_server->force_close("alpha", first->info().device_id).has_value());
    BOOST_TEST(cluster.block_server->force_close("alpha", first->info().device_id).error() == -ENOENT);
    std::vector<std::byte> data(512);
    Collect sink;
    const std::uint32_t closed_id = first->info().device_id;
    BOOST_REQUIRE(first->write(0, data, false, sink, 7).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return !sink.results.empty(); }, kSecond));
    BOOST_TEST(sink.status_of(7) == -ENODEV);
    BOOST_REQUIRE(cluster.run_until([&] { return first->state() == DeviceState::closed_by_server; }, kSecond));
    cluster.run_for(100 * kMillisecond);
    BOOST_TEST(first->state() == DeviceState::closed_by_server);  // stays so: nothing re-opens it
    BOOST_TEST(first->reopens() == 0u);
    BOOST_TEST(first->write(0, data, false, sink, 8).error() == -ENODEV);
    BOOST_REQUIRE(client->remap(*first).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return first->state() == DeviceState::mapped; }, kSecond));
    BOOST_TEST(first->remaps() == 1u);
    BOOST_TEST(first->info().device_id != closed_id);
    BOOST_REQUIRE(first->write(0, data, false, sink, 9).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return sink.results.size() == 2u; }, kSecond));
    BOOST_TEST(sink.status_of(9) == 0);
    BlockDevice* second = cluster.map(*client, 0, "vol1", AccessMode::rw);
    BOOST_REQUIRE(second != nullptr);
    BOOST_TEST(second->info().device_id != closed_id);
    BOOST_TEST(second->info().device_id != first->info().device_id);
}

BOOST_AUTO_TEST_CASE(a_force_closed_device_is_not_reopened_even_when_io_waits_for_reconnects) {
    // With wait_while_reconnecting, IO the server did not serve for want of the device id waits
    // for a re-open; a force close must not be mistaken for that.
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha", 1, kSecond);
    BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    BOOST_REQUIRE(cluster.block_server->force_close("alpha", device->info().device_id).has_value());
    std::vector<std::byte> data(4096, std::byte{0x5a});
    Collect sink;
    const fabric::Nanos start = cluster.world.now();
    BOOST_REQUIRE(device->write(0, data, false, sink, 1).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return !sink.results.empty(); }, 2 * kSecond));
    BOOST_TEST(sink.status_of(1) == -ENODEV);
    BOOST_TEST(cluster.world.now() - start < 100 * kMillisecond);  // at once, not after the queueing time
    BOOST_TEST(cluster.run_until([&] { return device->state() == DeviceState::closed_by_server; }, kSecond));
    BOOST_TEST(device->reopens() == 0u);
    BOOST_TEST(cluster.block_server->open_devices() == 0u);
    // Unmap needs no CLOSE (the server has closed it) and leaves nothing behind.
    BOOST_REQUIRE(client->unmap(*device, false).has_value());
    cluster.run_for(100 * kMillisecond);
    BOOST_TEST(client->transport().permits_in_use() == 0u);
}

BOOST_AUTO_TEST_CASE(io_for_a_device_the_server_forgot_waits_for_the_reopen) {
    // A server that does not know the id (its session made anew, or the device closed by a CLOSE
    // the client did not send: here one sent behind the client's back) answers -ENOTCONN: the
    // client re-opens the device and the IO waits for that.
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha", 1, kSecond);
    BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    const auto close_behind_the_clients_back = [&] {
        ibtrs::ClientSession& transport = client->transport();
        std::array<std::byte, wire::kRnbdCloseSize> usr{};
        (void)wire::encode_rnbd_close({device->info().device_id}, usr);
        struct Shot : ibtrs::IoHandler {
            void on_io_complete(std::uint64_t, int s) override { status = s; }
            int status = 1;
        } shot;
        const ibtrs::Permit permit = *transport.get_permit();
        BOOST_REQUIRE(transport.request(ibtrs::Dir::write, permit, usr, {}, shot, 0).has_value());
        BOOST_REQUIRE(cluster.run_until([&] { return shot.status != 1; }, kSecond));
        transport.put_permit(permit);
        BOOST_REQUIRE(shot.status == 0);
    };
    close_behind_the_clients_back();
    std::vector<std::byte> data(4096, std::byte{0x5a});
    std::vector<std::byte> back(4096);
    Collect sink;
    BOOST_REQUIRE(device->write(0, data, false, sink, 1).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return !sink.results.empty(); }, kSecond));
    BOOST_TEST(sink.status_of(1) == 0);
    BOOST_TEST(device->reopens() == 1u);
    BOOST_REQUIRE(device->read(0, back, sink, 2).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return sink.results.size() == 2u; }, kSecond));
    BOOST_TEST(sink.status_of(2) == 0);
    BOOST_TEST((back == data));
    // And again: every time the server forgets the device.
    close_behind_the_clients_back();
    BOOST_REQUIRE(device->write(0, data, false, sink, 3).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return sink.results.size() == 3u; }, kSecond));
    BOOST_TEST(sink.status_of(3) == 0);
    BOOST_TEST(device->reopens() == 2u);
}

BOOST_AUTO_TEST_CASE(malformed_io_messages_fail_with_their_errno) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    ibtrs::ClientSession& transport = client->transport();
    struct Shot : ibtrs::IoHandler {
        void on_io_complete(std::uint64_t, int s) override { status = s; }
        int status = 1;
    };
    const auto send = [&](const wire::RnbdIo& message, ibtrs::Dir dir, std::uint32_t data_len) {
        std::array<std::byte, wire::kRnbdIoSize> usr{};
        (void)wire::encode_rnbd_io(message, usr);
        const ibtrs::Permit permit = *transport.get_permit();
        const fabric::Sge data = transport.read_buffer(permit, data_len);
        Shot shot;
        BOOST_REQUIRE(transport.request(dir, permit, usr, {&data, data_len ? 1u : 0u}, shot, 0).has_value());
        BOOST_REQUIRE(cluster.run_until([&] { return shot.status != 1; }, kSecond));
        transport.put_permit(permit);
        return shot.status;
    };
    const std::uint32_t id = device->info().device_id;
    BOOST_TEST(send({999, 0, wire::rnbd_rw(wire::RnbdOp::read, 0), 512, 0}, ibtrs::Dir::read, 512) == -ENOTCONN);
    BOOST_TEST(send({id, 0, wire::rnbd_rw(wire::RnbdOp::write, 0), 4096, 0}, ibtrs::Dir::write, 512) == -EINVAL);
    BOOST_TEST(send({id, 0, wire::rnbd_rw(wire::RnbdOp::read, 0), 512, 0}, ibtrs::Dir::write, 512) == -EINVAL);
    BOOST_TEST(send({id, 0, 9, 512, 0}, ibtrs::Dir::write, 512) == -EINVAL);  // unknown op
    BOOST_TEST(send({id, (1 << 20) / 512, wire::rnbd_rw(wire::RnbdOp::read, 0), 512, 0}, ibtrs::Dir::read, 512) ==
               -EINVAL);  // past the end
    BOOST_TEST(send({id, 0, wire::rnbd_rw(wire::RnbdOp::read, 0), 512, 0}, ibtrs::Dir::read, 512) == 0);
    BOOST_TEST(cluster.block_server->stats().bad_requests >= 3u);
    // A FLUSH carries no data: the kernel's client sends it as an RTRS READ with sector (u64)-1
    // (rq_data_dir of REQ_OP_FLUSH), ours as a WRITE; both are served, data or not is checked.
    BOOST_TEST(send({id, ~0ull, wire::rnbd_rw(wire::RnbdOp::flush, 0), 0, 0}, ibtrs::Dir::read, 0) == 0);
    BOOST_TEST(send({id, ~0ull, wire::rnbd_rw(wire::RnbdOp::flush, 0), 0, 0}, ibtrs::Dir::write, 0) == 0);
    BOOST_TEST(send({id, 0, wire::rnbd_rw(wire::RnbdOp::flush, 0), 0, 0}, ibtrs::Dir::write, 512) == -EINVAL);
}

BOOST_AUTO_TEST_CASE(unmap_normal_is_refused_while_in_use_and_force_fails_inflight_io) {
    BlockCluster cluster;
    auto& store = cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto client = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*client, 0, "vol0", AccessMode::rw);
    BOOST_REQUIRE(device != nullptr);
    device->acquire();
    BOOST_TEST(client->unmap(*device, false).error() == -EBUSY);
    device->release();
    store.set_latency(50 * kMillisecond, 0);
    std::vector<std::byte> data(4096);
    Collect sink;
    BOOST_REQUIRE(device->write(0, data, false, sink, 1).has_value());
    cluster.run_for(kMillisecond);
    BOOST_TEST(client->unmap(*device, false).error() == -EBUSY);  // IO in flight
    BOOST_REQUIRE(client->unmap(*device, true).has_value());
    BOOST_TEST(sink.status_of(1) == -EIO);
    BOOST_TEST(cluster.events[0].unmapped == 1);
    BOOST_TEST(client->find("vol0") == nullptr);
    cluster.run_for(200 * kMillisecond);  // the abandoned request completes underneath; nothing leaks
    BOOST_TEST(client->transport().permits_in_use() == 0u);
    BOOST_TEST(cluster.block_server->open_devices() == 0u);
}
