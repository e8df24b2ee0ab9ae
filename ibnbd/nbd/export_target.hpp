// What an NBD export serves: an asynchronous block target. ibnbd's mapped devices are one
// (ibnbd/daemon/block_device_target.hpp); tests use a memory target.
#pragma once

#include <cstdint>
#include <span>

#include "fabric/expected.hpp"
#include "ibnbd/block_io_handler.hpp"

namespace ibnbd::nbd {

struct ExportInfo {
    std::uint64_t size = 0;
    std::uint32_t block_size = 512;     // minimum and alignment of requests
    std::uint32_t max_io = 0;           // largest read/write the target takes at once
    std::uint32_t max_trim = 0;         // largest discard at once (0: no trim)
    std::uint32_t max_zeroes = 0;       // largest write-zeroes at once (0: none)
    bool read_only = false;
    bool flush = false;                 // a volatile cache: flush and FUA mean something
};

// Completions go to block::BlockIoHandler; they never run inside the call that started them.
// Errors are negative errnos, returned at once or in the completion.
class ExportTarget {
public:
    virtual ~ExportTarget() = default;
    virtual ExportInfo info() const = 0;
    virtual Status<int> read(std::uint64_t offset, std::span<std::byte> into, block::BlockIoHandler& handler,
                             std::uint64_t cookie) = 0;
    virtual Status<int> write(std::uint64_t offset, std::span<const std::byte> from, bool fua,
                              block::BlockIoHandler& handler, std::uint64_t cookie) = 0;
    virtual Status<int> flush(block::BlockIoHandler& handler, std::uint64_t cookie) = 0;
    virtual Status<int> trim(std::uint64_t offset, std::uint32_t length, block::BlockIoHandler& handler,
                             std::uint64_t cookie) = 0;
    virtual Status<int> write_zeroes(std::uint64_t offset, std::uint32_t length, bool no_hole,
                                     block::BlockIoHandler& handler, std::uint64_t cookie) = 0;
    // Connections using the export (unmap without force is refused while there are any).
    virtual void attach() {}
    virtual void detach() {}
};

}  // namespace ibnbd::nbd
