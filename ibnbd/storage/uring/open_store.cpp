#include "ibnbd/storage/uring/open_store.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>

namespace ibnbd::storage::uring {

namespace {

constexpr std::uint64_t kMaxOpSectors = UINT32_MAX >> 9;
constexpr std::uint32_t kSafeAlign = 4096;

bool power_of_two(std::uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

// The largest discard / write-zeroes request we advertise: whole logical blocks, within the size.
std::uint32_t op_limit_sectors(std::uint64_t limit_sectors, const Geometry& geometry) {
    std::uint64_t sectors = std::min({limit_sectors, kMaxOpSectors, geometry.size_bytes >> 9});
    sectors &= ~std::uint64_t{geometry.logical_block_size / 512 - 1};
    return static_cast<std::uint32_t>(sectors);
}

// Opens without blocking (a FIFO swapped in after the stat must not hang us), then makes the
// descriptor blocking again: io_uring would answer -EAGAIN on an O_NONBLOCK file.
int open_blocking(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    const int current = ::fcntl(fd, F_GETFL);
    if (current < 0 || ::fcntl(fd, F_SETFL, current & ~O_NONBLOCK) < 0) {
        const int error = -errno;
        ::close(fd);
        return error;
    }
    return fd;
}

int kind_error(const struct stat& st) {
    if (S_ISDIR(st.st_mode)) return -EISDIR;
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) return -ENOTBLK;
    return 0;
}

bool same_object(int fd, const struct stat& expected) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && st.st_dev == expected.st_dev && st.st_ino == expected.st_ino &&
           st.st_rdev == expected.st_rdev;
}

// First line of a sysfs attribute of a block device's queue (or of its whole disk, for a partition).
std::optional<std::string> queue_attribute(dev_t device, const std::string& name) {
    const std::string base = "/sys/dev/block/" + std::to_string(major(device)) + ":" + std::to_string(minor(device));
    for (const std::string& dir : {base + "/queue/", base + "/../queue/", base + "/"}) {
        std::ifstream in(dir + name);
        std::string line;
        if (in && std::getline(in, line)) return line;
    }
    return std::nullopt;
}

std::uint64_t queue_number(dev_t device, const std::string& name) {
    const auto text = queue_attribute(device, name);
    if (!text) return 0;
    try {
        return std::stoull(*text);
    } catch (...) {  // an unexpected format counts as "not reported"
        return 0;
    }
}

// Direct-IO alignment from statx; nullopt when the kernel does not report it.
struct DirectAlign {
    std::uint32_t offset;
    std::uint32_t memory;
};
std::optional<DirectAlign> statx_direct_align(int fd) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0) return std::nullopt;
    if ((stx.stx_mask & STATX_DIOALIGN) == 0) return std::nullopt;
    return DirectAlign{stx.stx_dio_offset_align, stx.stx_dio_mem_align};
}

void open_direct(const std::string& path, int flags, const struct stat& st, OpenStore& store) {
    const int fd = open_blocking(path, flags | O_DIRECT);
    if (fd < 0) return;  // typically -EINVAL: the file system has no O_DIRECT
    if (!same_object(fd, st)) {
        ::close(fd);
        return;
    }
    const std::uint32_t fallback = store.block_device ? store.geometry.logical_block_size : kSafeAlign;
    DirectAlign align{fallback, kSafeAlign};
    if (const auto reported = statx_direct_align(fd)) {
        if (reported->offset == 0) {  // reported as unsupported for this file
            ::close(fd);
            return;
        }
        align = *reported;
    }
    store.direct_fd = fd;
    store.direct_offset_align = std::max(align.offset, store.geometry.logical_block_size);
    store.direct_memory_align = std::max(align.memory, kSafeAlign);
}

// A punch beyond the end of the file with KEEP_SIZE changes nothing but tells whether the file
// system can punch holes at all.
bool file_can_punch(int fd, std::uint64_t file_size) {
    const auto beyond = static_cast<off_t>((file_size + 2 * 4096 - 1) / 4096 * 4096);
    return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, beyond, 4096) == 0 || errno != EOPNOTSUPP;
}

void measure_file(const struct stat& st, bool writable, OpenStore& store) {
    Geometry& geometry = store.geometry;
    geometry.size_bytes = static_cast<std::uint64_t>(st.st_size) & ~std::uint64_t{511};
    geometry.logical_block_size = 512;
    geometry.physical_block_size = power_of_two(st.st_blksize) && st.st_blksize >= 512
                                       ? static_cast<std::uint32_t>(st.st_blksize)
                                       : 4096;
    const bool punches = !writable || file_can_punch(store.buffered_fd, static_cast<std::uint64_t>(st.st_size));
    if (punches) {
        geometry.max_discard_sectors = op_limit_sectors(kMaxOpSectors, geometry);
        geometry.discard_granularity = 4096;
        geometry.max_write_zeroes_sectors = geometry.max_discard_sectors;
    }
    geometry.volatile_write_cache = true;
    store.identity = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

bool device_can_secure_erase(int fd) {
    std::uint64_t misaligned_empty[2] = {1, 0};
    return ::ioctl(fd, BLKSECDISCARD, misaligned_empty) != 0 && errno == EINVAL;
}

int measure_device(const struct stat& st, bool writable, OpenStore& store) {
    Geometry& geometry = store.geometry;
    const int fd = store.buffered_fd;
    std::uint64_t size = 0;
    int logical = 0;
    unsigned int physical = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0 || ::ioctl(fd, BLKSSZGET, &logical) != 0 ||
        ::ioctl(fd, BLKPBSZGET, &physical) != 0 || !power_of_two(static_cast<std::uint64_t>(logical))) {
        return -EIO;
    }
    geometry.size_bytes = size;
    geometry.logical_block_size = static_cast<std::uint32_t>(logical);
    geometry.physical_block_size = std::max<std::uint32_t>(physical, geometry.logical_block_size);
    geometry.max_hw_sectors = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(queue_number(st.st_rdev, "max_hw_sectors_kb") * 2, UINT32_MAX));
    const std::uint64_t discard_max = queue_number(st.st_rdev, "discard_max_bytes");
    if (discard_max != 0) {
        geometry.max_discard_sectors = op_limit_sectors(discard_max >> 9, geometry);
        geometry.discard_granularity = static_cast<std::uint32_t>(queue_number(st.st_rdev, "discard_granularity"));
        geometry.discard_alignment = static_cast<std::uint32_t>(queue_number(st.st_rdev, "discard_alignment"));
    }
    geometry.max_write_zeroes_sectors = op_limit_sectors(kMaxOpSectors, geometry);
    geometry.secure_discard = writable && geometry.max_discard_sectors != 0 && device_can_secure_erase(fd);
    geometry.volatile_write_cache = queue_attribute(st.st_rdev, "write_cache") == std::optional<std::string>("write back");
    store.identity = {static_cast<std::uint64_t>(st.st_rdev), 0};
    return 0;
}

}  // namespace

void close_store(OpenStore& store) {
    if (store.direct_fd >= 0) ::close(store.direct_fd);
    if (store.buffered_fd >= 0) ::close(store.buffered_fd);
    store.direct_fd = store.buffered_fd = -1;
}

Expected<OpenStore, int> open_store(const std::string& path, bool writable) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return unexpected(-errno);
    if (const int error = kind_error(st); error != 0) return unexpected(error);
    const int flags = writable ? O_RDWR : O_RDONLY;
    OpenStore store;
    store.buffered_fd = open_blocking(path, flags);
    if (store.buffered_fd < 0) return unexpected(store.buffered_fd);
    // The name may have changed between stat() and open(): judge what was opened.
    if (::fstat(store.buffered_fd, &st) != 0 || kind_error(st) != 0) {
        const int error = kind_error(st) != 0 ? kind_error(st) : -EIO;
        close_store(store);
        return unexpected(error);
    }
    store.block_device = S_ISBLK(st.st_mode);
    if (store.block_device) {
        if (const int error = measure_device(st, writable, store); error != 0) {
            close_store(store);
            return unexpected(error);
        }
    } else {
        measure_file(st, writable, store);
    }
    store.geometry.fua = true;
    store.geometry.read_only = !writable;
    open_direct(path, flags, st, store);
    return store;
}

}  // namespace ibnbd::storage::uring
