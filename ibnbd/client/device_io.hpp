// The IO face of a mapped IBNBD device on one IO shard (docs/protocol.md §3.6, §3.11): the checks and
// the submission of reads, writes, flushes, discards and write-zeroes onto that shard's BlockShard.
// BlockDevice (block_device.hpp) is a device's face on the session's own thread; ShardDevice is
// its copy on another reactor, kept current by the BlockClient through tasks.
//
// IO (asynchronous; the handler is called exactly once, never from inside the call)
//   Buffers are plain memory: data is copied through the shard's registered pool, so callers need
//   no registration. offset and length must be multiples of the logical block size and lie inside
//   the device; read/write length ≤ info().max_io_bytes, discard / write_zeroes lengths ≤ their
//   limits (0 = unsupported).
//   Errors returned at once: -EINVAL (alignment, range, size, unsupported op), -ENODEV (init,
//   unmapped or closed by the server), -EROFS (write-type op on a read-only mapping), -EIO (disconnected and the session
//   does not queue), -EAGAIN (more requests than the shard's request pool holds).
//   Errors in the completion: the server's errno; -EIO when the device was force-unmapped or the
//   session failed without queueing; -ETIMEDOUT when it waited longer than
//   wait_while_reconnecting for the session to come back; -ENODEV when the server closed the
//   device (force_close there): the device turns closed_by_server and stays so until a remap.
//   The server's -ENOTCONN (it does not know the device id: it lost the session) is not passed
//   on: the device is re-opened and the IO waits for that like for a remap (or fails with -EIO
//   without queueing).
//
// THREADING  everything on the shard's thread, except inflight() and users(), which any thread
//            may read (the session's thread sums them for unmap and stats).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/ibtrs/io_shard.hpp"
#include "core/wire/rnbd.hpp"
#include "ibnbd/block_io_handler.hpp"

namespace ibnbd::block {

class BlockShard;

enum class DeviceState : std::uint8_t { init, mapped, mapped_disconnected, closed_by_server, unmapped };
std::string_view to_string(DeviceState state);

struct DeviceInfo {
    std::uint32_t device_id = 0;
    std::uint64_t size_bytes = 0;
    std::uint32_t logical_block_size = 512;
    std::uint32_t physical_block_size = 512;
    std::uint32_t max_io_bytes = 0;
    std::uint32_t max_discard_bytes = 0;
    std::uint32_t max_write_zeroes_bytes = 0;
    std::uint32_t discard_granularity = 0;
    bool secure_discard = false;
    bool writeback_cache = false;
    bool fua = false;
};

class DeviceIo {
public:
    DeviceIo(BlockShard& shard, std::string name, wire::AccessMode mode);
    virtual ~DeviceIo() = default;
    DeviceIo(const DeviceIo&) = delete;
    DeviceIo& operator=(const DeviceIo&) = delete;

    Status<int> read(std::uint64_t offset, std::span<std::byte> destination, BlockIoHandler& handler,
                     std::uint64_t cookie);
    Status<int> write(std::uint64_t offset, std::span<const std::byte> source, bool fua, BlockIoHandler& handler,
                      std::uint64_t cookie);
    Status<int> flush(BlockIoHandler& handler, std::uint64_t cookie);
    Status<int> discard(std::uint64_t offset, std::uint32_t length, BlockIoHandler& handler, std::uint64_t cookie);
    Status<int> secure_erase(std::uint64_t offset, std::uint32_t length, BlockIoHandler& handler,
                             std::uint64_t cookie);
    Status<int> write_zeroes(std::uint64_t offset, std::uint32_t length, bool no_unmap, BlockIoHandler& handler,
                             std::uint64_t cookie);

    // Users that have the device open (an NBD connection, a file system): unmap without force
    // is refused while there are any.
    void acquire() { users_.add(1); }
    void release() { users_.sub(1); }

    DeviceState state() const { return state_; }
    const DeviceInfo& info() const { return info_; }
    const std::string& name() const { return name_; }
    wire::AccessMode mode() const { return mode_; }
    std::uint32_t inflight() const { return inflight_.get(); }
    std::uint32_t users() const { return users_.get(); }

    // ---- for the device's BlockShard, on its shard's thread ----
    // A remote copy takes the state and info its BlockClient sent; true when the state changed.
    bool adopt(DeviceState state, const DeviceInfo& info);
    // True once per mapped state: the server did not know, or had closed, info().device_id, and
    // this caller is the one to report it (until the next state change).
    bool claim_loss_report();
    void io_started() { inflight_.add(1); }
    void io_finished() { inflight_.sub(1); }

protected:
    // The state changes (false: it was `to` already); a new state may report a loss again.
    bool change_state(DeviceState to);
    Status<int> submit(wire::RnbdOp op, std::uint32_t flags, std::uint64_t offset, std::uint32_t length,
                       std::span<std::byte> read_into, std::span<const std::byte> write_from,
                       BlockIoHandler& handler, std::uint64_t cookie);
    int check(wire::RnbdOp op, std::uint64_t offset, std::uint32_t length) const;

    BlockShard& shard_;
    const std::string name_;
    const wire::AccessMode mode_;
    DeviceState state_ = DeviceState::init;
    DeviceInfo info_;
    bool loss_reported_ = false;  // the server did not know or had closed info_.device_id; reported
    ibtrs::SharedCounter<std::uint32_t> inflight_;
    ibtrs::SharedCounter<std::uint32_t> users_;
};

// A device's face on a remote shard: state and info are copies the BlockClient sends (through
// BlockShard::update).
class ShardDevice final : public DeviceIo {
public:
    using DeviceIo::DeviceIo;
};

}  // namespace ibnbd::block
