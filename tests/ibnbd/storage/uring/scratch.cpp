#define BOOST_TEST_MODULE ibnbd_storage_uring
#include "tests/ibnbd/storage/uring/scratch.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ibnbd::storage::uring::test {

namespace {

std::string fs_name(long type) {
    switch (type) {
        case EXT4_SUPER_MAGIC: return "ext2/3/4";
        case XFS_SUPER_MAGIC: return "xfs";
        case BTRFS_SUPER_MAGIC: return "btrfs";
        case TMPFS_MAGIC: return "tmpfs";
        case RAMFS_MAGIC: return "ramfs";
        case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
        default: {
            char hex[32];
            std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(type));
            return hex;
        }
    }
}

std::vector<std::string> candidates() {
    std::vector<std::string> result;
    if (const char* tmpdir = std::getenv("TMPDIR"); tmpdir && *tmpdir) result.emplace_back(tmpdir);
    result.emplace_back(IBNBD_TEST_BUILD_DIR);
    result.emplace_back("/var/tmp");
    return result;
}

// Probes O_DIRECT with a real aligned write, since some file systems accept the flag at open()
// and refuse the IO.
bool probe_direct(const std::string& dir, std::string& why) {
    const std::string file = dir + "/direct-probe";
    const int fd = ::open(file.c_str(), O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
    if (fd < 0) {
        why = std::string("open(O_DIRECT): ") + std::strerror(errno);
        return false;
    }
    AlignedBuffer buffer(4096);
    std::memset(buffer.data(), 1, 4096);
    const bool ok = ::pwrite(fd, buffer.data(), 4096, 0) == 4096;
    if (!ok) why = std::string("O_DIRECT write: ") + std::strerror(errno);
    ::close(fd);
    ::unlink(file.c_str());
    return ok;
}

ScratchArea find_area() {
    ScratchArea area;
    for (const std::string& candidate : candidates()) {
        struct statfs info {};
        if (::statfs(candidate.c_str(), &info) != 0 || ::access(candidate.c_str(), W_OK) != 0) continue;
        if (info.f_type == TMPFS_MAGIC || info.f_type == RAMFS_MAGIC) {
            BOOST_TEST_MESSAGE("scratch: " << candidate << " is " << fs_name(info.f_type) << ", not a disk; skipped");
            continue;
        }
        std::string pattern = candidate + "/ibnbd-storage-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) continue;
        area.root = pattern;
        area.fs_type = fs_name(info.f_type);
        area.direct_io = probe_direct(area.root, area.why_no_direct);
        BOOST_TEST_MESSAGE("scratch: " << area.root << " on " << area.fs_type << ", O_DIRECT "
                                       << (area.direct_io ? "works" : "refused (" + area.why_no_direct + ")"));
        return area;
    }
    return area;
}

// Removes the run's scratch root when the test module ends.
struct ScratchCleanup {
    ~ScratchCleanup() {
        const ScratchArea& area = scratch_area();
        if (!area.root.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(area.root, ignored);
        }
    }
};
BOOST_TEST_GLOBAL_FIXTURE(ScratchCleanup);

}  // namespace

const ScratchArea& scratch_area() {
    static const ScratchArea area = find_area();
    return area;
}

boost::test_tools::assertion_result scratch_available(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result result(!scratch_area().root.empty());
    result.message() << "no writable disk file system among $TMPDIR, the build directory and /var/tmp";
    return result;
}

boost::test_tools::assertion_result direct_io_available(boost::unit_test::test_unit_id id) {
    if (!scratch_available(id)) return scratch_available(id);
    boost::test_tools::assertion_result result(scratch_area().direct_io);
    result.message() << "the scratch file system (" << scratch_area().fs_type
                     << ") refuses O_DIRECT: " << scratch_area().why_no_direct;
    return result;
}

// ---- ScratchDir ----

ScratchDir::ScratchDir() {
    BOOST_REQUIRE_MESSAGE(!scratch_area().root.empty(), "no scratch directory on a disk file system");
    std::string pattern = scratch_area().root + "/test-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
}

ScratchDir::~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::string ScratchDir::make_file(const std::string& name, std::uint64_t size, std::span<const std::byte> contents) {
    const std::string file = path_ + "/" + name;
    const int fd = ::open(file.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
    if (!contents.empty()) {
        BOOST_REQUIRE(::pwrite(fd, contents.data(), contents.size(), 0) == static_cast<ssize_t>(contents.size()));
        BOOST_REQUIRE(::fsync(fd) == 0);  // allocated on disk, so that st_blocks counts it
    }
    ::close(fd);
    return file;
}

std::string ScratchDir::make_symlink(const std::string& name, const std::string& target) {
    const std::string link = path_ + "/" + name;
    BOOST_REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    return link;
}

std::string ScratchDir::make_directory(const std::string& name) {
    const std::string dir = path_ + "/" + name;
    BOOST_REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    return dir;
}

std::string ScratchDir::make_fifo(const std::string& name) {
    const std::string fifo = path_ + "/" + name;
    BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    return fifo;
}

std::uint64_t StatBlocks::of(const std::string& path) {
    struct stat st {};
    BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
    return static_cast<std::uint64_t>(st.st_blocks);
}

AlignedBuffer::AlignedBuffer(std::size_t size)
    : data_(static_cast<std::byte*>(std::aligned_alloc(4096, (size + 4095) / 4096 * 4096))), size_(size) {
    BOOST_REQUIRE(data_ != nullptr);
    std::memset(data_.get(), 0, size_);
}

// ---- driving a backend ----

int Recorder::status_of(std::uint64_t cookie) const {
    for (const auto& [done, status] : completions) {
        if (done == cookie) return status;
    }
    return 1;
}

std::unique_ptr<UringBackend> make_backend(UringConfig config) {
    auto backend = UringBackend::create(config);
    BOOST_REQUIRE_MESSAGE(backend.has_value(), "io_uring: " << (backend ? 0 : backend.error()));
    return std::move(backend.value());
}

bool wait_for(UringBackend& backend, const Recorder& recorder, std::size_t count) {
    for (int rounds = 0; rounds < 5000 && recorder.completions.size() < count; ++rounds) {
        pollfd readable{backend.event_fd(), POLLIN, 0};
        ::poll(&readable, 1, 1);
        backend.poll(64);
    }
    return recorder.completions.size() >= count;
}

int run(UringBackend& backend, Device& device, const Request& request) {
    Recorder recorder;
    auto submitted = device.submit(request, recorder, 1);
    if (!submitted) return submitted.error();
    BOOST_REQUIRE(wait_for(backend, recorder, 1));
    return recorder.completions.front().second;
}

std::unique_ptr<Device> open_device(UringBackend& backend, const std::string& path, bool writable) {
    auto device = backend.open(path, writable);
    BOOST_REQUIRE_MESSAGE(device.has_value(), "open " << path << ": " << (device ? 0 : device.error()));
    return std::move(device.value());
}

void fill_pattern(std::span<std::byte> data, std::uint64_t seed) {
    std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (auto& byte : data) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        byte = static_cast<std::byte>(state);
    }
}

std::vector<std::byte> pattern(std::size_t size, std::uint64_t seed) {
    std::vector<std::byte> data(size);
    fill_pattern(data, seed);
    return data;
}

bool all_zero(std::span<const std::byte> data) {
    return std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
}

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace ibnbd::storage::uring::test
