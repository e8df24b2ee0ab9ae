// What an export serves: an asynchronous block target, seen by the NBD export (nbd/) and the ublk
// export (ublk/) alike. ibnbd's mapped devices are one (ibnbd/daemon/block_device_target.hpp);
// tests use a memory target.
#pragma once

#include <cstdint>
#include <span>

#include "fabric/expected.hpp"
#include "ibnbd/block_io_handler.hpp"

namespace ibnbd::block {

// Initialize it with designated initializers: fields are added where they belong.
struct ExportInfo {
    std::uint64_t size = 0;
    std::uint32_t block_size = 512;     // minimum and alignment of requests
    std::uint32_t physical_block_size = 512;
    std::uint32_t max_io = 0;           // largest read/write the target takes at once
    std::uint32_t max_trim = 0;         // largest discard at once (0: no trim)
    std::uint32_t max_zeroes = 0;       // largest write-zeroes at once (0: none)
    std::uint32_t trim_granularity = 0; // 0: block_size
    bool read_only = false;
    bool flush = false;                 // a volatile cache: flush and FUA mean something
    bool fua = false;                   // the target honours FUA (else a flush follows the write)
};

// Completions go to BlockIoHandler; they never run inside the call that started them.
// Errors are negative errnos, returned at once or in the completion.
class ExportTarget {
public:
    virtual ~ExportTarget() = default;
    virtual ExportInfo info() const = 0;
    virtual Status<int> read(std::uint64_t offset, std::span<std::byte> into, BlockIoHandler& handler,
                             std::uint64_t cookie) = 0;
    virtual Status<int> write(std::uint64_t offset, std::span<const std::byte> from, bool fua,
                              BlockIoHandler& handler, std::uint64_t cookie) = 0;
    virtual Status<int> flush(BlockIoHandler& handler, std::uint64_t cookie) = 0;
    virtual Status<int> trim(std::uint64_t offset, std::uint32_t length, BlockIoHandler& handler,
                             std::uint64_t cookie) = 0;
    virtual Status<int> write_zeroes(std::uint64_t offset, std::uint32_t length, bool no_hole,
                                     BlockIoHandler& handler, std::uint64_t cookie) = 0;
    // NBD connections using the export: unmap without force is refused while there are any.
    virtual void attach() {}
    virtual void detach() {}
};

}  // namespace ibnbd::block
