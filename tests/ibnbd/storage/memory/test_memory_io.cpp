#define BOOST_TEST_MODULE ibnbd_storage_memory
#include <boost/test/unit_test.hpp>

#include <cerrno>

#include "tests/ibnbd/storage/memory/sim_disk.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::memory;
using namespace ibnbd::storage::memory::test;

BOOST_AUTO_TEST_SUITE(memory_io)

BOOST_AUTO_TEST_CASE(reads_return_what_was_written_and_zeros_elsewhere) {
    SimDisk disk;
    disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto device = disk.open("/srv/vol0");
    const auto data = pattern(8192, 1);
    disk.write(*device, 4096, data);
    BOOST_TEST(disk.read(*device, 4096, 8192) == data);
    BOOST_TEST(all_zero(disk.read(*device, 0, 4096)));
    BOOST_TEST(all_zero(disk.read(*device, 12288, 4096)));
    // Overwrite part of it, unaligned to the 4 KiB blocks the store keeps.
    const auto patch = pattern(1024, 2);
    disk.write(*device, 4608, patch);
    auto expected = data;
    std::copy(patch.begin(), patch.end(), expected.begin() + 512);
    BOOST_TEST(disk.read(*device, 4096, 8192) == expected);
}

BOOST_AUTO_TEST_CASE(geometry_follows_the_store_options_and_the_open_mode) {
    SimDisk disk;
    StoreOptions options;
    options.logical_block_size = 4096;
    options.secure_erase = true;
    options.volatile_cache = false;
    options.fua = false;
    options.max_hw_sectors = 256;
    disk.catalog.add_store("/srv/vol0", 8 << 20, options);
    auto writable = disk.open("/srv/vol0");
    const Geometry& geometry = writable->geometry();
    BOOST_TEST(geometry.size_bytes == (8u << 20));
    BOOST_TEST(geometry.logical_block_size == 4096u);
    BOOST_TEST(geometry.max_hw_sectors == 256u);
    BOOST_TEST(geometry.max_discard_sectors == (8u << 20) / 512);
    BOOST_TEST(geometry.discard_granularity == 4096u);
    BOOST_TEST(geometry.max_write_zeroes_sectors == (8u << 20) / 512);
    BOOST_TEST(geometry.secure_discard);
    BOOST_TEST(!geometry.volatile_write_cache);
    BOOST_TEST(!geometry.fua);
    BOOST_TEST(!geometry.read_only);
    BOOST_TEST(disk.open("/srv/vol0", false)->geometry().read_only);
}

BOOST_AUTO_TEST_CASE(discard_secure_erase_and_write_zeroes_read_back_zeros) {
    SimDisk disk;
    StoreOptions options;
    options.secure_erase = true;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, options);
    auto device = disk.open("/srv/vol0");
    const auto data = pattern(64 << 10, 3);
    disk.write(*device, 0, data);
    const std::uint64_t allocated = store.allocated_bytes();
    BOOST_TEST(allocated == (64u << 10));

    BOOST_TEST(disk.run(*device, range_request(Op::discard, 0, 8192)) == 0);
    BOOST_TEST(all_zero(disk.read(*device, 0, 8192)));
    BOOST_TEST(store.allocated_bytes() == allocated - 8192);  // whole blocks are unmapped

    BOOST_TEST(disk.run(*device, range_request(Op::secure_erase, 8192, 8192)) == 0);
    BOOST_TEST(all_zero(disk.read(*device, 8192, 8192)));
    BOOST_TEST(store.allocated_bytes() == allocated - 16384);

    IoFlags nounmap;
    nounmap.nounmap = true;
    BOOST_TEST(disk.run(*device, range_request(Op::write_zeroes, 16384, 8192, nounmap)) == 0);
    BOOST_TEST(all_zero(disk.read(*device, 16384, 8192)));
    BOOST_TEST(store.allocated_bytes() == allocated - 16384);  // nounmap keeps the blocks

    BOOST_TEST(disk.run(*device, range_request(Op::write_zeroes, 24576, 8192)) == 0);
    BOOST_TEST(all_zero(disk.read(*device, 24576, 8192)));
    BOOST_TEST(store.allocated_bytes() == allocated - 24576);

    // A partial block is zeroed in place; its neighbours keep their data.
    BOOST_TEST(disk.run(*device, range_request(Op::discard, 33280, 512)) == 0);
    auto expected = std::vector<std::byte>(data.begin() + 32768, data.begin() + 36864);
    std::fill(expected.begin() + 512, expected.begin() + 1024, std::byte{0});
    BOOST_TEST(disk.read(*device, 32768, 4096) == expected);
    BOOST_TEST(disk.read(*device, 36864, 4096) == std::vector<std::byte>(data.begin() + 36864, data.begin() + 40960));
}

BOOST_AUTO_TEST_CASE(flush_and_fua_complete) {
    SimDisk disk;
    disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto device = disk.open("/srv/vol0");
    IoFlags fua;
    fua.fua = true;
    disk.write(*device, 0, pattern(4096, 4), fua);
    BOOST_TEST(disk.run(*device, flush_request()) == 0);
    IoFlags preflush;
    preflush.preflush = true;
    disk.write(*device, 4096, pattern(4096, 5), preflush);
    BOOST_TEST(disk.read(*device, 0, 4096) == pattern(4096, 4));
    BOOST_TEST(disk.read(*device, 4096, 4096) == pattern(4096, 5));
}

BOOST_AUTO_TEST_CASE(two_names_and_two_devices_share_one_store) {
    SimDisk disk;
    disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    disk.catalog.add_symlink("/srv/alias", "vol0");
    auto first = disk.open("/srv/vol0");
    auto second = disk.open("/srv/alias");
    BOOST_TEST((first->identity() == second->identity()));
    disk.write(*first, 0, pattern(4096, 6));
    BOOST_TEST(disk.read(*second, 0, 4096) == pattern(4096, 6));
    disk.catalog.add_store("/srv/vol1", 1 << 20, {});
    BOOST_TEST(!(disk.open("/srv/vol1")->identity() == first->identity()));
    MemoryCatalog other;
    other.add_store("/srv/vol0", 1 << 20, {});
    MemoryBackend other_backend(disk.node, other);
    BOOST_TEST(!(other_backend.open("/srv/vol0", true).value()->identity() == first->identity()));
}

BOOST_AUTO_TEST_CASE(completions_never_run_inside_submit) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    store.set_latency(0, 0);
    auto device = disk.open("/srv/vol0");
    Recorder recorder(disk.node);
    std::vector<std::byte> buffer(4096);
    BOOST_REQUIRE(device->submit(read_request(0, buffer), recorder, 1).has_value());
    BOOST_REQUIRE(device->submit(flush_request(), recorder, 2).has_value());
    BOOST_TEST(recorder.completions.empty());
    BOOST_TEST(device->inflight() == 2u);
    BOOST_REQUIRE(disk.run_until_done(recorder, 2));
    BOOST_TEST(recorder.completions[0].at == 0u);  // zero latency, yet from the event loop
    BOOST_TEST(device->inflight() == 0u);
}

BOOST_AUTO_TEST_CASE(data_effects_happen_at_completion_time) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    store.set_latency(100 * kMicrosecond, 0);
    auto device = disk.open("/srv/vol0");
    Recorder recorder(disk.node);
    auto data = pattern(4096, 7);
    std::vector<std::byte> early(4096), late(4096);
    BOOST_REQUIRE(device->submit(write_request(0, data), recorder, 1).has_value());
    disk.world.run_for(50 * kMicrosecond);
    store.set_latency(10 * kMicrosecond, 0);
    // Submitted after the write, completes before it: sees the old contents.
    BOOST_REQUIRE(device->submit(read_request(0, early), recorder, 2).has_value());
    std::vector<std::byte> peeked(4096);
    store.peek(0, peeked);
    BOOST_TEST(all_zero(peeked));  // not written yet
    BOOST_REQUIRE(disk.run_until_done(recorder, 2));
    BOOST_TEST(recorder.completions[0].cookie == 2u);
    BOOST_TEST(all_zero(early));
    BOOST_REQUIRE(device->submit(read_request(0, late), recorder, 3).has_value());
    BOOST_REQUIRE(disk.run_until_done(recorder, 3));
    BOOST_TEST(late == data);
}

BOOST_AUTO_TEST_CASE(completion_times_follow_latency_and_jitter) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    store.set_latency(50 * kMicrosecond, 0);
    auto device = disk.open("/srv/vol0");
    Recorder recorder(disk.node);
    disk.world.run_for(kMillisecond);
    const fabric::Nanos start = disk.world.now();
    BOOST_REQUIRE(device->submit(flush_request(), recorder, 1).has_value());
    BOOST_REQUIRE(disk.run_until_done(recorder, 1));
    BOOST_TEST(recorder.completions[0].at == start + 50 * kMicrosecond);

    store.set_latency(10 * kMicrosecond, 5 * kMicrosecond);
    recorder.completions.clear();
    const fabric::Nanos second_start = disk.world.now();
    std::vector<std::byte> buffer(512);
    for (std::uint64_t i = 0; i < 64; ++i) BOOST_REQUIRE(device->submit(read_request(0, buffer), recorder, i).has_value());
    BOOST_REQUIRE(disk.run_until_done(recorder, 64));
    fabric::Nanos earliest = UINT64_MAX, latest = 0;
    bool reordered = false;
    for (std::size_t i = 0; i < recorder.completions.size(); ++i) {
        const auto& completion = recorder.completions[i];
        earliest = std::min(earliest, completion.at - second_start);
        latest = std::max(latest, completion.at - second_start);
        if (completion.cookie != i) reordered = true;
    }
    BOOST_TEST(earliest >= 10 * kMicrosecond);
    BOOST_TEST(latest <= 15 * kMicrosecond);
    BOOST_TEST(latest > earliest);  // the jitter is drawn per operation
    BOOST_TEST(reordered);          // like a real queue, with jitter order is not kept
}

BOOST_AUTO_TEST_CASE(completion_times_are_a_function_of_the_seed) {
    auto times = [](std::uint64_t seed) {
        SimDisk disk(seed);
        auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
        store.set_latency(10 * kMicrosecond, 40 * kMicrosecond);
        auto device = disk.open("/srv/vol0");
        Recorder recorder(disk.node);
        for (std::uint64_t i = 0; i < 32; ++i) BOOST_REQUIRE(device->submit(flush_request(), recorder, i).has_value());
        BOOST_REQUIRE(disk.run_until_done(recorder, 32));
        std::vector<std::pair<std::uint64_t, fabric::Nanos>> result;
        for (const auto& completion : recorder.completions) result.emplace_back(completion.cookie, completion.at);
        return result;
    };
    BOOST_TEST((times(5) == times(5)));
    BOOST_TEST((times(5) != times(6)));
}

BOOST_AUTO_TEST_CASE(a_full_pending_pool_answers_eagain) {
    SimDisk disk(1, MemoryBackendConfig{4});
    disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto device = disk.open("/srv/vol0");
    Recorder recorder(disk.node);
    for (std::uint64_t i = 0; i < 4; ++i) BOOST_REQUIRE(device->submit(flush_request(), recorder, i).has_value());
    auto refused = device->submit(flush_request(), recorder, 4);
    BOOST_REQUIRE(!refused.has_value());
    BOOST_TEST(refused.error() == -EAGAIN);
    BOOST_REQUIRE(disk.run_until_done(recorder, 4));
    BOOST_TEST(device->submit(flush_request(), recorder, 5).has_value());
    BOOST_REQUIRE(disk.run_until_done(recorder, 5));
    BOOST_TEST(recorder.status_of(4) == 1);  // the refused one never completes
}

BOOST_AUTO_TEST_CASE(handlers_may_submit_again) {
    struct Chain : CompletionHandler {
        void on_storage_complete(std::uint64_t cookie, int status) override {
            statuses.push_back(status);
            if (cookie < 10) BOOST_REQUIRE(device->submit(flush_request(), *this, cookie + 1).has_value());
        }
        Device* device = nullptr;
        std::vector<int> statuses;
    };
    SimDisk disk(1, MemoryBackendConfig{1});
    disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto device = disk.open("/srv/vol0");
    Chain chain;
    chain.device = device.get();
    BOOST_REQUIRE(device->submit(flush_request(), chain, 0).has_value());
    BOOST_REQUIRE(disk.world.run_until([&] { return chain.statuses.size() == 11; }, kMillisecond * 100));
    BOOST_TEST(device->inflight() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
