// Validation at submit, read-only stores and injected errors.
#include <boost/test/unit_test.hpp>

#include <cerrno>

#include "tests/ibnbd/storage/memory/sim_disk.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::memory;
using namespace ibnbd::storage::memory::test;

BOOST_AUTO_TEST_SUITE(memory_faults)

BOOST_AUTO_TEST_CASE(submit_refuses_bad_ranges_with_einval) {
    SimDisk disk;
    disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto device = disk.open("/srv/vol0");
    std::vector<std::byte> buffer(8192);
    std::span<std::byte> data(buffer);
    BOOST_TEST(disk.run(*device, read_request(100, data.first(512))) == -EINVAL);             // offset
    BOOST_TEST(disk.run(*device, read_request(0, data.first(700))) == -EINVAL);               // length
    BOOST_TEST(disk.run(*device, read_request((1 << 20) - 512, data.first(1024))) == -EINVAL);  // past the end
    BOOST_TEST(disk.run(*device, read_request(1 << 20, data.first(512))) == -EINVAL);
    BOOST_TEST(disk.run(*device, read_request(UINT64_MAX - 511, data.first(512))) == -EINVAL);  // wraps
    BOOST_TEST(disk.run(*device, range_request(Op::discard, 0, 0)) == -EINVAL);              // empty
    BOOST_TEST(disk.run(*device, Request{Op::write, 0, 8192, data.first(4096), {}, 0}) == -EINVAL);  // short buffer
    BOOST_TEST(disk.run(*device, range_request(Op::write_zeroes, (1 << 20) - 4096, 8192)) == -EINVAL);
    BOOST_TEST(disk.run(*device, read_request((1 << 20) - 512, data.first(512))) == 0);       // the last sector
    BOOST_TEST(device->inflight() == 0u);
}

BOOST_AUTO_TEST_CASE(alignment_is_the_logical_block_size) {
    SimDisk disk;
    StoreOptions options;
    options.logical_block_size = 4096;
    disk.catalog.add_store("/srv/vol0", 1 << 20, options);
    auto device = disk.open("/srv/vol0");
    std::vector<std::byte> buffer(4096);
    BOOST_TEST(disk.run(*device, read_request(512, buffer)) == -EINVAL);
    BOOST_TEST(disk.run(*device, range_request(Op::discard, 0, 512)) == -EINVAL);
    BOOST_TEST(disk.run(*device, read_request(4096, buffer)) == 0);
}

BOOST_AUTO_TEST_CASE(writes_to_a_read_only_open_or_store_give_erofs) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto reader = disk.open("/srv/vol0", false);
    std::vector<std::byte> buffer(4096);
    BOOST_TEST(disk.run(*reader, write_request(0, buffer)) == -EROFS);
    BOOST_TEST(disk.run(*reader, range_request(Op::discard, 0, 4096)) == -EROFS);
    BOOST_TEST(disk.run(*reader, range_request(Op::write_zeroes, 0, 4096)) == -EROFS);
    BOOST_TEST(disk.run(*reader, read_request(0, buffer)) == 0);
    BOOST_TEST(disk.run(*reader, flush_request()) == 0);  // changes no data

    auto writer = disk.open("/srv/vol0", true);
    store.set_read_only(true);
    BOOST_TEST(disk.run(*writer, write_request(0, buffer)) == -EROFS);
    BOOST_TEST(disk.run(*writer, read_request(0, buffer)) == 0);
    auto reopened = disk.backend.open("/srv/vol0", true);
    BOOST_REQUIRE(!reopened.has_value());
    BOOST_TEST(reopened.error() == -EROFS);
    BOOST_TEST(disk.backend.open("/srv/vol0", false).has_value());
    store.set_read_only(false);
    BOOST_TEST(disk.run(*writer, write_request(0, buffer)) == 0);
}

BOOST_AUTO_TEST_CASE(unsupported_operations_give_eopnotsupp) {
    SimDisk disk;
    StoreOptions plain;
    plain.discard = false;
    plain.write_zeroes = false;
    disk.catalog.add_store("/srv/plain", 1 << 20, plain);
    disk.catalog.add_store("/srv/default", 1 << 20, {});
    auto device = disk.open("/srv/plain");
    BOOST_TEST(device->geometry().max_discard_sectors == 0u);
    BOOST_TEST(device->geometry().max_write_zeroes_sectors == 0u);
    BOOST_TEST(disk.run(*device, range_request(Op::discard, 0, 4096)) == -EOPNOTSUPP);
    BOOST_TEST(disk.run(*device, range_request(Op::write_zeroes, 0, 4096)) == -EOPNOTSUPP);
    auto other = disk.open("/srv/default");
    BOOST_TEST(!other->geometry().secure_discard);
    BOOST_TEST(disk.run(*other, range_request(Op::secure_erase, 0, 4096)) == -EOPNOTSUPP);
}

BOOST_AUTO_TEST_CASE(injected_errors_fail_a_count_of_operations_without_effect) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto device = disk.open("/srv/vol0");
    store.inject_error(-EIO, 2);
    auto data = pattern(4096, 1);
    BOOST_TEST(disk.run(*device, write_request(0, data)) == -EIO);
    BOOST_TEST(disk.run(*device, flush_request()) == -EIO);
    std::vector<std::byte> peeked(4096);
    store.peek(0, peeked);
    BOOST_TEST(all_zero(peeked));  // the failed write left nothing
    BOOST_TEST(disk.run(*device, write_request(0, data)) == 0);
    store.peek(0, peeked);
    BOOST_TEST(peeked == data);
}

BOOST_AUTO_TEST_CASE(injected_errors_can_be_limited_to_an_operation_and_a_range) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto device = disk.open("/srv/vol0");
    store.inject_error(-ENOSPC, kAlways, Op::write, ByteRange{8192, 4096});
    std::vector<std::byte> buffer(4096);
    BOOST_TEST(disk.run(*device, write_request(0, buffer)) == 0);      // before the range
    BOOST_TEST(disk.run(*device, write_request(12288, buffer)) == 0);  // after it
    BOOST_TEST(disk.run(*device, read_request(8192, buffer)) == 0);    // not a write
    BOOST_TEST(disk.run(*device, flush_request()) == 0);               // has no range
    for (int i = 0; i < 3; ++i) BOOST_TEST(disk.run(*device, write_request(8192, buffer)) == -ENOSPC);
    std::vector<std::byte> wide(16384);
    BOOST_TEST(disk.run(*device, write_request(4096, wide)) == -ENOSPC);  // overlaps
    store.clear_errors();
    BOOST_TEST(disk.run(*device, write_request(8192, buffer)) == 0);

    store.inject_error(-EILSEQ, 1, Op::read);
    store.inject_error(-EIO, 1);
    BOOST_TEST(disk.run(*device, write_request(0, buffer)) == -EIO);     // the read rule is skipped
    BOOST_TEST(disk.run(*device, read_request(0, buffer)) == -EILSEQ);
    BOOST_TEST(disk.run(*device, read_request(0, buffer)) == 0);
}

BOOST_AUTO_TEST_CASE(an_injected_error_still_takes_the_latency) {
    SimDisk disk;
    auto& store = disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    store.set_latency(30 * kMicrosecond, 0);
    store.inject_error(-EIO, 1);
    auto device = disk.open("/srv/vol0");
    Recorder recorder(disk.node);
    BOOST_REQUIRE(device->submit(flush_request(), recorder, 1).has_value());
    BOOST_TEST(recorder.completions.empty());
    BOOST_REQUIRE(disk.run_until_done(recorder, 1));
    BOOST_TEST(recorder.completions[0].status == -EIO);
    BOOST_TEST(recorder.completions[0].at == 30 * kMicrosecond);
}

BOOST_AUTO_TEST_SUITE_END()
