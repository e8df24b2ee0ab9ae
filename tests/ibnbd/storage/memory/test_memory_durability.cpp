// The durability model: what a crash may lose, what it may never lose, and determinism.
#include <boost/test/unit_test.hpp>

#include <cerrno>

#include "tests/ibnbd/storage/memory/sim_disk.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::memory;
using namespace ibnbd::storage::memory::test;

namespace {

constexpr std::uint64_t kStoreSize = 1 << 20;
constexpr std::size_t kSector = 512;

// What one sector of a crashed store holds, compared with the candidates it may hold.
enum class Outcome { kept, reverted, other };

Outcome outcome_of(std::span<const std::byte> actual, std::span<const std::byte> newest,
                   std::span<const std::byte> older) {
    if (std::equal(actual.begin(), actual.end(), newest.begin())) return Outcome::kept;
    if (std::equal(actual.begin(), actual.end(), older.begin())) return Outcome::reverted;
    return Outcome::other;
}

struct Tally {
    int kept = 0;
    int reverted = 0;
    int other = 0;
    void add(Outcome outcome) {
        if (outcome == Outcome::kept) ++kept;
        else if (outcome == Outcome::reverted) ++reverted;
        else ++other;
    }
};

// Durable data (fua, flushed, preflushed) and data that is not, then a crash with `seed`.
struct CrashRun {
    explicit CrashRun(std::uint64_t seed) {
        auto& store = disk.catalog.add_store("/srv/vol0", kStoreSize, {});
        auto device = disk.open("/srv/vol0");
        IoFlags fua;
        fua.fua = true;
        IoFlags preflush;
        preflush.preflush = true;
        disk.write(*device, 0, fua_data, fua);              // durable at once
        disk.write(*device, 16384, flushed_data);           // durable after the flush below
        BOOST_REQUIRE_EQUAL(disk.run(*device, flush_request()), 0);
        disk.write(*device, 24576, preflushed_data);        // durable after the preflush below
        disk.write(*device, 32768, unflushed_data, preflush);  // itself not durable
        disk.write(*device, 16384 + 4096, overwrite);       // over flushed data, not flushed itself
        BOOST_REQUIRE(store.dirty_sectors() > 0);
        device.reset();
        store.crash(seed);
        BOOST_TEST(store.dirty_sectors() == 0u);
        contents.resize(kStoreSize);
        store.peek(0, contents);
    }
    std::span<const std::byte> at(std::size_t offset, std::size_t length) const {
        return std::span<const std::byte>(contents).subspan(offset, length);
    }

    SimDisk disk;
    std::vector<std::byte> fua_data = pattern(16384, 1);
    std::vector<std::byte> flushed_data = pattern(8192, 2);
    std::vector<std::byte> preflushed_data = pattern(8192, 3);
    std::vector<std::byte> unflushed_data = pattern(16384, 4);
    std::vector<std::byte> overwrite = pattern(4096, 5);
    std::vector<std::byte> contents;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(memory_durability)

BOOST_AUTO_TEST_CASE(a_crash_may_lose_or_tear_unflushed_writes_but_never_durable_ones) {
    Tally unflushed, overwritten;
    int torn_runs = 0;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        const CrashRun run(seed);
        BOOST_TEST((std::equal(run.fua_data.begin(), run.fua_data.end(), run.at(0, 16384).begin())));
        BOOST_TEST((std::equal(run.flushed_data.begin(), run.flushed_data.begin() + 4096, run.at(16384, 4096).begin())));
        BOOST_TEST((std::equal(run.preflushed_data.begin(), run.preflushed_data.end(), run.at(24576, 8192).begin())));
        Tally this_run;
        const std::vector<std::byte> zeros(kSector);
        for (std::size_t sector = 0; sector < run.unflushed_data.size() / kSector; ++sector) {
            const auto outcome = outcome_of(run.at(32768 + sector * kSector, kSector),
                                            std::span(run.unflushed_data).subspan(sector * kSector, kSector), zeros);
            unflushed.add(outcome);
            this_run.add(outcome);
        }
        if (this_run.kept > 0 && this_run.reverted > 0) ++torn_runs;
        // Over flushed data: the flushed content is what a lost sector goes back to.
        for (std::size_t sector = 0; sector < run.overwrite.size() / kSector; ++sector) {
            overwritten.add(outcome_of(run.at(16384 + 4096 + sector * kSector, kSector),
                                       std::span(run.overwrite).subspan(sector * kSector, kSector),
                                       std::span(run.flushed_data).subspan(4096 + sector * kSector, kSector)));
        }
        // Never written: stays zero.
        BOOST_TEST(all_zero(run.at(65536, kStoreSize - 65536)));
    }
    BOOST_TEST(unflushed.other == 0);
    BOOST_TEST(unflushed.reverted > 0);  // something unflushed was lost in some seed
    BOOST_TEST(unflushed.kept > 0);
    BOOST_TEST(torn_runs > 0);           // per sector, not per write
    BOOST_TEST(overwritten.other == 0);
    BOOST_TEST(overwritten.reverted > 0);
    BOOST_TEST(overwritten.kept > 0);
}

BOOST_AUTO_TEST_CASE(a_crash_is_a_function_of_its_seed) {
    BOOST_TEST((CrashRun(42).contents == CrashRun(42).contents));
    int differing = 0;
    for (std::uint64_t seed = 43; seed < 53; ++seed) differing += CrashRun(seed).contents != CrashRun(42).contents;
    BOOST_TEST(differing > 0);
}

BOOST_AUTO_TEST_CASE(a_flush_covers_only_writes_completed_before_it_was_submitted) {
    int lost_late = 0;
    for (std::uint64_t seed = 1; seed <= 64; ++seed) {
        SimDisk disk;
        auto& store = disk.catalog.add_store("/srv/vol0", kStoreSize, {});
        auto device = disk.open("/srv/vol0");
        const auto first = pattern(4096, 10), second = pattern(4096, 11), late = pattern(4096, 12);
        disk.write(*device, 0, first);
        Recorder recorder(disk.node);
        store.set_latency(100 * kMicrosecond, 0);
        BOOST_REQUIRE(device->submit(flush_request(), recorder, 1).has_value());
        store.set_latency(10 * kMicrosecond, 0);
        // Both complete while the flush is in flight: it does not cover them.
        auto second_copy = second, late_copy = late;
        BOOST_REQUIRE(device->submit(write_request(0, second_copy), recorder, 2).has_value());
        BOOST_REQUIRE(device->submit(write_request(8192, late_copy), recorder, 3).has_value());
        BOOST_REQUIRE(disk.run_until_done(recorder, 3));
        BOOST_REQUIRE(recorder.completions.back().cookie == 1u);
        store.crash(seed);
        std::vector<std::byte> contents(12288);
        store.peek(0, contents);
        const auto head = std::span<const std::byte>(contents).first(4096);
        const auto tail = std::span<const std::byte>(contents).subspan(8192, 4096);
        for (std::size_t s = 0; s < 8; ++s) {
            const auto got = head.subspan(s * kSector, kSector);
            const auto outcome = outcome_of(got, std::span(second).subspan(s * kSector, kSector),
                                            std::span(first).subspan(s * kSector, kSector));
            BOOST_TEST((outcome != Outcome::other));  // never older than what the flush covered
            const auto tail_outcome = outcome_of(tail.subspan(s * kSector, kSector),
                                                 std::span(late).subspan(s * kSector, kSector),
                                                 std::vector<std::byte>(kSector));
            BOOST_TEST((tail_outcome != Outcome::other));
            lost_late += tail_outcome == Outcome::reverted;
        }
    }
    BOOST_TEST(lost_late > 0);
}

BOOST_AUTO_TEST_CASE(without_a_volatile_cache_every_completed_write_is_durable) {
    SimDisk disk;
    StoreOptions options;
    options.volatile_cache = false;
    auto& store = disk.catalog.add_store("/srv/vol0", kStoreSize, options);
    auto device = disk.open("/srv/vol0");
    BOOST_TEST(!device->geometry().volatile_write_cache);
    const auto data = pattern(65536, 20);
    disk.write(*device, 0, data);
    BOOST_TEST(disk.run(*device, range_request(Op::discard, 0, 4096)) == 0);
    BOOST_TEST(store.dirty_sectors() == 0u);
    store.crash(7);
    std::vector<std::byte> contents(65536);
    store.peek(0, contents);
    BOOST_TEST(all_zero(std::span(contents).first(4096)));
    BOOST_TEST((std::equal(data.begin() + 4096, data.end(), contents.begin() + 4096)));
}

BOOST_AUTO_TEST_CASE(a_failed_flush_makes_nothing_durable) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", kStoreSize, {});
    auto device = disk.open("/srv/vol0");
    disk.write(*device, 0, pattern(4096, 30));
    store.inject_error(-EIO, 1, Op::flush);
    BOOST_TEST(disk.run(*device, flush_request()) == -EIO);
    BOOST_TEST(store.dirty_sectors() == 8u);
    std::vector<std::byte> durable(4096);
    store.peek_durable(0, durable);
    BOOST_TEST(all_zero(durable));
    BOOST_TEST(disk.run(*device, flush_request()) == 0);
    BOOST_TEST(store.dirty_sectors() == 0u);
    store.peek_durable(0, durable);
    BOOST_TEST(durable == pattern(4096, 30));
}

BOOST_AUTO_TEST_CASE(operations_of_a_crashed_node_never_complete_and_never_take_effect) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", kStoreSize, {});
    auto device = disk.open("/srv/vol0");
    disk.write(*device, 0, pattern(4096, 40));
    store.set_latency(kMillisecond, 0);
    Recorder recorder(disk.node);
    auto data = pattern(4096, 41);
    BOOST_REQUIRE(device->submit(write_request(0, data), recorder, 1).has_value());
    BOOST_REQUIRE(device->submit(flush_request(), recorder, 2).has_value());
    disk.world.run_for(100 * kMicrosecond);
    disk.node.crash();
    device.reset();  // allowed now: the node crashed
    BOOST_TEST(store.abandoned() == 2u);
    disk.world.run_for(10 * kMillisecond);
    BOOST_TEST(recorder.completions.empty());
    std::vector<std::byte> contents(4096);
    store.peek(0, contents);
    BOOST_TEST(contents == pattern(4096, 40));  // the pending write never landed
    store.crash(1);
    // After the restart the store serves the new incarnation.
    disk.node.restart();
    auto reopened = disk.open("/srv/vol0");
    BOOST_TEST(disk.run(*reopened, flush_request()) == 0);
}

BOOST_AUTO_TEST_CASE(operations_pending_when_the_store_alone_crashes_fail_with_eio) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", kStoreSize, {});
    store.set_latency(kMillisecond, 0);
    auto device = disk.open("/srv/vol0");
    Recorder recorder(disk.node);
    auto data = pattern(4096, 50);
    BOOST_REQUIRE(device->submit(write_request(0, data), recorder, 1).has_value());
    BOOST_REQUIRE(device->submit(flush_request(), recorder, 2).has_value());
    disk.catalog.crash_all(3);
    BOOST_TEST(store.crashes() == 1u);
    BOOST_REQUIRE(disk.run_until_done(recorder, 2));
    BOOST_TEST(recorder.status_of(1) == -EIO);
    BOOST_TEST(recorder.status_of(2) == -EIO);
    std::vector<std::byte> contents(4096);
    store.peek(0, contents);
    BOOST_TEST(all_zero(contents));
    // New operations work as before.
    disk.write(*device, 0, data);
    BOOST_TEST(disk.read(*device, 0, 4096) == data);
}

BOOST_AUTO_TEST_SUITE_END()
