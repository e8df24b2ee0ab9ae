// The block-device path, on a loop device over a scratch file. Needs root and /dev/loop-control;
// elsewhere these tests are reported as skipped, with the reason.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/ibnbd/storage/uring/scratch.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::uring;
using namespace ibnbd::storage::uring::test;
namespace utf = boost::unit_test;

namespace {

// A loop device over `backing`, detached when the last descriptor closes (LO_FLAGS_AUTOCLEAR).
class LoopDevice {
public:
    // Empty path() and a reason in `why` when it cannot be made.
    LoopDevice(const std::string& backing, std::string& why) {
        const int control = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (control < 0) {
            why = std::string("/dev/loop-control: ") + std::strerror(errno);
            return;
        }
        const int file = ::open(backing.c_str(), O_RDWR | O_CLOEXEC);
        for (int attempt = 0; attempt < 10 && fd_ < 0 && file >= 0; ++attempt) try_attach(control, file, why);
        if (file >= 0) ::close(file);
        ::close(control);
    }
    ~LoopDevice() {
        if (fd_ >= 0) ::close(fd_);
    }
    LoopDevice(const LoopDevice&) = delete;
    LoopDevice& operator=(const LoopDevice&) = delete;
    const std::string& path() const { return path_; }

private:
    // Another process may take the free device first: then LOOP_CONFIGURE says -EBUSY.
    void try_attach(int control, int file, std::string& why) {
        const int number = ::ioctl(control, LOOP_CTL_GET_FREE);
        if (number < 0) {
            why = std::string("LOOP_CTL_GET_FREE: ") + std::strerror(errno);
            return;
        }
        const std::string path = "/dev/loop" + std::to_string(number);
        const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            why = path + ": " + std::strerror(errno);
            return;
        }
        loop_config config{};
        config.fd = static_cast<std::uint32_t>(file);
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        if (::ioctl(fd, LOOP_CONFIGURE, &config) != 0) {
            why = "LOOP_CONFIGURE on " + path + ": " + std::strerror(errno);
            ::close(fd);
            return;
        }
        fd_ = fd;
        path_ = path;
    }

    int fd_ = -1;
    std::string path_;
};

boost::test_tools::assertion_result loop_available(utf::test_unit_id id) {
    static const auto verdict = [] {
        std::string why;
        if (::geteuid() != 0) return std::make_pair(false, std::string("not root: no loop devices"));
        if (scratch_area().root.empty()) return std::make_pair(false, std::string("no scratch directory"));
        ScratchDir dir;
        const std::string backing = dir.make_file("probe", 1 << 20);
        LoopDevice loop(backing, why);
        return std::make_pair(!loop.path().empty(), why);
    }();
    (void)id;
    boost::test_tools::assertion_result result(verdict.first);
    result.message() << "no loop block device on this machine: " << verdict.second;
    return result;
}

struct LoopFixture {
    LoopFixture() : backing(dir.make_file("backing", 4 << 20, pattern(4 << 20, 1))), loop(backing, why) {
        BOOST_REQUIRE_MESSAGE(!loop.path().empty(), why);
        BOOST_TEST_MESSAGE("block device " << loop.path() << " over " << backing);
    }
    ScratchDir dir;
    std::string why;
    std::string backing;
    LoopDevice loop;
    std::unique_ptr<UringBackend> backend = make_backend();
};

}  // namespace

BOOST_AUTO_TEST_SUITE(uring_block_device, *utf::precondition(loop_available))

BOOST_FIXTURE_TEST_CASE(geometry_and_identity_of_a_block_device, LoopFixture) {
    auto device = open_device(*backend, loop.path());
    struct stat st {};
    BOOST_REQUIRE(::stat(loop.path().c_str(), &st) == 0);
    const Geometry& geometry = device->geometry();
    BOOST_TEST(geometry.size_bytes == (4u << 20));
    BOOST_TEST(geometry.logical_block_size == 512u);
    BOOST_TEST(geometry.physical_block_size >= geometry.logical_block_size);
    BOOST_TEST(geometry.max_write_zeroes_sectors > 0u);
    BOOST_TEST(geometry.fua);
    BOOST_TEST(!geometry.read_only);
    BOOST_TEST_MESSAGE("max_hw_sectors " << geometry.max_hw_sectors << ", max_discard_sectors "
                                         << geometry.max_discard_sectors << ", granularity "
                                         << geometry.discard_granularity << ", volatile cache "
                                         << geometry.volatile_write_cache << ", secure discard "
                                         << geometry.secure_discard);
    BOOST_TEST(geometry.max_hw_sectors > 0u);
    BOOST_TEST(device->identity().device == static_cast<std::uint64_t>(st.st_rdev));
    BOOST_TEST(device->identity().inode == 0u);
    const std::string link = dir.make_symlink("disk", loop.path());
    BOOST_TEST((open_device(*backend, link, false)->identity() == device->identity()));
    BOOST_TEST(open_device(*backend, loop.path(), false)->geometry().read_only);
}

BOOST_FIXTURE_TEST_CASE(reads_and_writes_reach_the_device, LoopFixture) {
    auto device = open_device(*backend, loop.path());
    AlignedBuffer data(64 << 10), back(64 << 10);
    fill_pattern(data.span(), 2);
    IoFlags fua;
    fua.fua = true;
    BOOST_TEST(run(*backend, *device, write_request(1 << 20, data.span(), fua)) == 0);
    BOOST_TEST(run(*backend, *device, flush_request()) == 0);
    BOOST_TEST(run(*backend, *device, read_request(1 << 20, back.span())) == 0);
    BOOST_TEST(same(back.span(), data.span()));
    // And the loop device put them into its backing file.
    std::vector<std::byte> in_file(64 << 10);
    const int fd = ::open(backing.c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    BOOST_TEST(::pread(fd, in_file.data(), in_file.size(), 1 << 20) == static_cast<ssize_t>(in_file.size()));
    ::close(fd);
    BOOST_TEST(same(in_file, data.span()));
    BOOST_TEST((backend->stats().direct_ios + backend->stats().buffered_ios) == 2u);
    BOOST_TEST_MESSAGE("direct " << backend->stats().direct_ios << ", buffered " << backend->stats().buffered_ios);
}

BOOST_FIXTURE_TEST_CASE(discard_and_write_zeroes_read_back_zeros, LoopFixture) {
    auto device = open_device(*backend, loop.path());
    const auto original = pattern(4 << 20, 1);
    IoFlags nounmap;
    nounmap.nounmap = true;
    if (device->geometry().max_discard_sectors > 0) {
        BOOST_TEST(run(*backend, *device, range_request(Op::discard, 0, 256 << 10)) == 0);
    } else {
        BOOST_TEST_MESSAGE("the loop device reports no discard; write_zeroes only");
        BOOST_TEST(run(*backend, *device, range_request(Op::discard, 0, 256 << 10)) == -EOPNOTSUPP);
        BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, 0, 256 << 10)) == 0);
    }
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, 512 << 10, 256 << 10, nounmap)) == 0);
    BOOST_TEST(run(*backend, *device, range_request(Op::write_zeroes, 1 << 20, 256 << 10)) == 0);
    AlignedBuffer back(2 << 20);
    BOOST_TEST(run(*backend, *device, read_request(0, back.span())) == 0);
    BOOST_TEST(all_zero(back.span(0, 256 << 10)));
    BOOST_TEST(same(back.span(256 << 10, 256 << 10), std::span(original).subspan(256 << 10, 256 << 10)));
    BOOST_TEST(all_zero(back.span(512 << 10, 256 << 10)));
    BOOST_TEST(same(back.span(768 << 10, 256 << 10), std::span(original).subspan(768 << 10, 256 << 10)));
    BOOST_TEST(all_zero(back.span(1 << 20, 256 << 10)));
    BOOST_TEST(same(back.span(1280 << 10, 768 << 10), std::span(original).subspan(1280 << 10, 768 << 10)));
}

BOOST_FIXTURE_TEST_CASE(secure_erase_follows_what_the_device_supports, LoopFixture) {
    auto device = open_device(*backend, loop.path());
    // Loop devices cannot secure-erase; the probe must have found that out.
    BOOST_TEST(!device->geometry().secure_discard);
    BOOST_TEST(run(*backend, *device, range_request(Op::secure_erase, 0, 4096)) == -EOPNOTSUPP);
}

BOOST_AUTO_TEST_SUITE_END()
