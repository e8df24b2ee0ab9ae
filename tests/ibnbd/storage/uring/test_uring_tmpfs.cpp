// tmpfs as a store: no zero range (write_zeroes with nounmap falls back to punch + allocate) and,
// depending on the kernel, no O_DIRECT. Runs where a writable tmpfs is mounted at /dev/shm.
#include <boost/test/unit_test.hpp>

#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "tests/ibnbd/storage/uring/scratch.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::uring;
using namespace ibnbd::storage::uring::test;
namespace utf = boost::unit_test;

namespace {

constexpr const char* kTmpfs = "/dev/shm";

boost::test_tools::assertion_result tmpfs_available(utf::test_unit_id) {
    struct statfs info {};
    const bool usable = ::statfs(kTmpfs, &info) == 0 && info.f_type == TMPFS_MAGIC && ::access(kTmpfs, W_OK) == 0;
    boost::test_tools::assertion_result result(usable);
    result.message() << kTmpfs << " is not a writable tmpfs";
    return result;
}

// A directory on tmpfs for one test.
struct TmpfsDir {
    TmpfsDir() {
        std::string pattern = std::string(kTmpfs) + "/ibnbd-storage-XXXXXX";
        BOOST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TmpfsDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string path;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(uring_tmpfs, *utf::precondition(tmpfs_available))

BOOST_AUTO_TEST_CASE(write_zeroes_without_zero_range_still_reads_back_zeros) {
    TmpfsDir dir;
    const std::string file = dir.path + "/vol";
    {
        const auto contents = pattern(1 << 20, 1);
        FILE* out = std::fopen(file.c_str(), "wb");
        BOOST_REQUIRE(out != nullptr);
        BOOST_REQUIRE(std::fwrite(contents.data(), 1, contents.size(), out) == contents.size());
        std::fclose(out);
    }
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    BOOST_TEST_MESSAGE("tmpfs: O_DIRECT " << (static_cast<const UringDevice&>(*device).has_direct() ? "accepted" : "refused"));
    const std::uint64_t before = StatBlocks::of(file);
    IoFlags nounmap;
    nounmap.nounmap = true;
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, 0, 256 << 10, nounmap)) == 0);
    BOOST_TEST(backend->stats().fallbacks == 1u);      // ZERO_RANGE refused, punch + allocate instead
    BOOST_TEST(StatBlocks::of(file) == before);        // and the range is allocated again
    BOOST_TEST(run(*backend, *device, range_request(Op::discard, 512 << 10, 256 << 10)) == 0);
    BOOST_TEST(StatBlocks::of(file) + (256 << 10) / 512 <= before);
    AlignedBuffer back(1 << 20);
    const auto contents = pattern(1 << 20, 1);
    BOOST_TEST(run(*backend, *device, read_request(0, back.span())) == 0);
    BOOST_TEST(all_zero(back.span(0, 256 << 10)));
    BOOST_TEST(same(back.span(256 << 10, 256 << 10), std::span(contents).subspan(256 << 10, 256 << 10)));
    BOOST_TEST(all_zero(back.span(512 << 10, 256 << 10)));
    BOOST_TEST(same(back.span(768 << 10, 256 << 10), std::span(contents).subspan(768 << 10, 256 << 10)));
}

BOOST_AUTO_TEST_SUITE_END()
