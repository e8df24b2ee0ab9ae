// Opening a file or block device for the io_uring backend, and what it is.
//
// NAME
//     ibnbd::storage::uring::open_store - opens a regular file or a block device and measures it.
//
// DESCRIPTION
//     Two descriptors per store where possible: a buffered one, always, and an O_DIRECT one when the
//     file system (or device) accepts O_DIRECT and reports direct-IO alignment (statx
//     STATX_DIOALIGN; without that report a block device is assumed to need its logical block
//     size and a file 4096 bytes). tmpfs, for instance, refuses O_DIRECT: then direct_fd is -1.
//
//     Geometry of a regular file (sparse files are the main use):
//       size_bytes             st_size rounded down to 512 (a partial last sector is not exposed)
//       logical_block_size     512; physical_block_size st_blksize (4096 if not a power of two)
//       discard, write_zeroes  up to (UINT32_MAX >> 9) sectors (clamped to the size), granularity
//                              4096; when opened writable, a punch-hole probe beyond the end of the
//                              file (which changes nothing) decides whether they are supported at all
//       secure_discard         false; volatile_write_cache true (the page cache); fua true (RWF_DSYNC)
//     Geometry of a block device (from ioctls and /sys/dev/block/MAJ:MIN[/..]/queue/):
//       size BLKGETSIZE64; logical BLKSSZGET; physical BLKPBSZGET; max_hw_sectors_kb;
//       discard from discard_max_bytes / discard_granularity (0 when unreadable: no discard) and
//       the device's discard_alignment; write zeroes always (the kernel zeroes by writing when the
//       device cannot); volatile_write_cache when queue/write_cache reads "write back"; fua true.
//       secure_discard: probed on writable opens with BLKSECDISCARD over a misaligned empty range
//       (start 1, length 0): Linux >= 5.19 answers -EOPNOTSUPP when the device cannot secure-erase
//       and -EINVAL (bad alignment) when it can, before touching anything.
//     read_only = !writable. Identity (st_dev, st_ino) for files, (st_rdev, 0) for block devices.
//
// ERRORS (negative errno)
//     -ENOENT, -EACCES, -EROFS, -ELOOP, -ENAMETOOLONG, ... as open(2) and stat(2) give them;
//     -EISDIR for a directory; -ENOTBLK for anything neither regular file nor block device;
//     -EIO if an ioctl that every block device supports fails.
#pragma once

#include <cstdint>
#include <string>

#include "fabric/expected.hpp"
#include "ibnbd/storage/device.hpp"

namespace ibnbd::storage::uring {

struct OpenStore {
    int buffered_fd = -1;
    int direct_fd = -1;                      // -1: no O_DIRECT
    bool block_device = false;
    std::uint32_t direct_offset_align = 0;   // offsets and lengths of direct IO: multiples of this
    std::uint32_t direct_memory_align = 0;   // buffer addresses of direct IO: multiples of this
    Geometry geometry;
    Identity identity;
};

Expected<OpenStore, int> open_store(const std::string& path, bool writable);
// Closes both descriptors.
void close_store(OpenStore& store);

}  // namespace ibnbd::storage::uring
