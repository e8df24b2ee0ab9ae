// Discard, write_zeroes, secure erase, validation at submit and the geometry of a file.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <cerrno>

#include "tests/ibnbd/storage/uring/scratch.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::uring;
using namespace ibnbd::storage::uring::test;
namespace utf = boost::unit_test;

BOOST_AUTO_TEST_SUITE(uring_ops, *utf::precondition(scratch_available))

BOOST_AUTO_TEST_CASE(discard_punches_a_hole) {
    ScratchDir dir;
    const auto contents = pattern(1 << 20, 1);
    const std::string file = dir.make_file("vol", 1 << 20, contents);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    BOOST_REQUIRE(device->geometry().max_discard_sectors > 0u);
    const std::uint64_t before = StatBlocks::of(file);
    BOOST_TEST(run(*backend, *device, range_request(Op::discard, 256 << 10, 512 << 10)) == 0);
    const std::uint64_t after = StatBlocks::of(file);
    BOOST_TEST_MESSAGE("st_blocks " << before << " -> " << after);
    BOOST_TEST(after + (512 << 10) / 512 <= before);  // the whole range was deallocated
    AlignedBuffer back(1 << 20);
    BOOST_TEST(run(*backend, *device, read_request(0, back.span())) == 0);
    BOOST_TEST(all_zero(back.span(256 << 10, 512 << 10)));
    BOOST_TEST(same(back.span(0, 256 << 10), std::span(contents).first(256 << 10)));
    BOOST_TEST(same(back.span(768 << 10, 256 << 10), std::span(contents).subspan(768 << 10)));
}

BOOST_AUTO_TEST_CASE(write_zeroes_reads_back_zeros_with_and_without_unmap) {
    ScratchDir dir;
    const auto contents = pattern(1 << 20, 2);
    const std::string file = dir.make_file("vol", 1 << 20, contents);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    BOOST_REQUIRE(device->geometry().max_write_zeroes_sectors > 0u);
    const std::uint64_t before = StatBlocks::of(file);
    IoFlags nounmap;
    nounmap.nounmap = true;
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, 0, 256 << 10, nounmap)) == 0);
    const std::uint64_t after_nounmap = StatBlocks::of(file);
    BOOST_TEST(after_nounmap >= before);  // nounmap: the range stays allocated
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, 512 << 10, 256 << 10)) == 0);
    const std::uint64_t after_unmap = StatBlocks::of(file);
    BOOST_TEST_MESSAGE("st_blocks " << before << " -> " << after_nounmap << " -> " << after_unmap
                                    << ", fallbacks " << backend->stats().fallbacks);
    BOOST_TEST(after_unmap + (256 << 10) / 512 <= after_nounmap);
    // Unaligned to 4 KiB (a partial page) works too.
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, (900 << 10) + 512, 1024, nounmap)) == 0);
    AlignedBuffer back(1 << 20);
    BOOST_TEST(run(*backend, *device, read_request(0, back.span())) == 0);
    BOOST_TEST(all_zero(back.span(0, 256 << 10)));
    BOOST_TEST(same(back.span(256 << 10, 256 << 10), std::span(contents).subspan(256 << 10, 256 << 10)));
    BOOST_TEST(all_zero(back.span(512 << 10, 256 << 10)));
    BOOST_TEST(all_zero(back.span((900 << 10) + 512, 1024)));
    BOOST_TEST(same(back.span(900 << 10, 512), std::span(contents).subspan(900 << 10, 512)));
    BOOST_TEST(same(back.span((900 << 10) + 1536, 512), std::span(contents).subspan((900 << 10) + 1536, 512)));
}

BOOST_AUTO_TEST_CASE(range_operations_with_fua_and_preflush_complete) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20, pattern(1 << 20, 3));
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    IoFlags flags;
    flags.fua = flags.preflush = true;
    BOOST_TEST(run(*backend, *device, range_request(Op::discard, 0, 8192, flags)) == 0);
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, 8192, 8192, flags)) == 0);
    AlignedBuffer back(16384);
    BOOST_TEST(run(*backend, *device, read_request(0, back.span())) == 0);
    BOOST_TEST(all_zero(back.span()));
}

BOOST_AUTO_TEST_CASE(secure_erase_is_not_supported_on_files) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    BOOST_TEST(!device->geometry().secure_discard);
    BOOST_TEST(run(*backend, *device, range_request(Op::secure_erase, 0, 4096)) == -EOPNOTSUPP);
    BOOST_TEST(device->inflight() == 0u);
}

BOOST_AUTO_TEST_CASE(submit_validates_ranges_and_the_open_mode) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    AlignedBuffer buffer(8192);
    BOOST_TEST(run(*backend, *device, read_request((1 << 20) - 4096, buffer.span())) == -EINVAL);  // past the end
    BOOST_TEST(run(*backend, *device, read_request(1 << 20, buffer.span(0, 512))) == -EINVAL);
    BOOST_TEST(run(*backend, *device, write_request(100, buffer.span(0, 512))) == -EINVAL);      // offset
    BOOST_TEST(run(*backend, *device, write_request(0, buffer.span(0, 1000))) == -EINVAL);       // length
    BOOST_TEST(run(*backend, *device, range_request(Op::discard, 512, 100)) == -EINVAL);
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, (1 << 20) - 512, 1024)) == -EINVAL);
    BOOST_TEST(run(*backend, *device, Request{Op::read, 0, 8192, buffer.span(0, 4096), {}, 0}) == -EINVAL);
    BOOST_TEST(backend->stats().submitted == 0u);

    auto reader = open_device(*backend, file, false);
    BOOST_TEST(reader->geometry().read_only);
    BOOST_TEST(run(*backend, *reader, write_request(0, buffer.span(0, 4096))) == -EROFS);
    BOOST_TEST(run(*backend, *reader, range_request(Op::discard, 0, 4096)) == -EROFS);
    BOOST_TEST(run(*backend, *reader, range_request(Op::write_zeroes, 0, 4096)) == -EROFS);
    BOOST_TEST(run(*backend, *reader, read_request(0, buffer.span(0, 4096))) == 0);
}

BOOST_AUTO_TEST_CASE(geometry_of_a_file) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", (3 << 20) + 700);  // a partial last sector
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    struct stat st {};
    BOOST_REQUIRE(::stat(file.c_str(), &st) == 0);
    const Geometry& geometry = device->geometry();
    BOOST_TEST(geometry.size_bytes == (3u << 20) + 512);
    BOOST_TEST(geometry.logical_block_size == 512u);
    BOOST_TEST(geometry.physical_block_size == static_cast<std::uint32_t>(st.st_blksize));
    BOOST_TEST(geometry.discard_granularity == 4096u);
    BOOST_TEST(geometry.max_discard_sectors == ((3u << 20) + 512) / 512);  // clamped to the size
    BOOST_TEST(geometry.max_write_zeroes_sectors == geometry.max_discard_sectors);
    BOOST_TEST(!geometry.secure_discard);
    BOOST_TEST(geometry.volatile_write_cache);
    BOOST_TEST(geometry.fua);
    BOOST_TEST(!geometry.read_only);
    BOOST_TEST(device->identity().device == static_cast<std::uint64_t>(st.st_dev));
    BOOST_TEST(device->identity().inode == static_cast<std::uint64_t>(st.st_ino));
}

BOOST_AUTO_TEST_SUITE_END()
