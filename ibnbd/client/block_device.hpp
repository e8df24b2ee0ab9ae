// A mapped IBNBD device on the client (protocol.md §3.6, §3.11).
//
// STATES   init → mapped ⇄ mapped_disconnected → unmapped
//   init                 OPEN not answered yet
//   mapped               IO flows
//   mapped_disconnected  the session lost every path; after it reconnects the device is re-opened
//                        by itself (its id and capacity may change) and becomes mapped again
//   unmapped             final
//
// IO (asynchronous; the handler is called exactly once, never from inside the call)
//   Buffers are plain memory: data is copied through the session's registered pool, so callers
//   need no registration. offset and length must be multiples of the logical block size and lie
//   inside the device; read/write length ≤ info().max_io_bytes, discard / write_zeroes lengths ≤
//   their limits (0 = unsupported).
//   Errors returned at once: -EINVAL (alignment, range, size, unsupported op), -ENODEV (init or
//   unmapped), -EROFS (write-type op on a read-only mapping), -EIO (disconnected and the session
//   does not queue), -EAGAIN (more requests than the session's request pool holds).
//   Errors in the completion: the server's errno; -EIO when the device was force-unmapped or the
//   session failed without queueing; -ETIMEDOUT when it waited longer than
//   queue_while_reconnecting for the session to come back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ibtrs/client_session.hpp"
#include "core/wire/rnbd.hpp"

namespace ibnbd::block {

class BlockClient;
struct BlockIo;

enum class DeviceState : std::uint8_t { init, mapped, mapped_disconnected, unmapped };
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

class BlockIoHandler {
public:
    virtual ~BlockIoHandler() = default;
    virtual void on_block_io_complete(std::uint64_t cookie, int status) = 0;
};

class BlockDevice {
public:
    BlockDevice(BlockClient& client, std::string name, wire::AccessMode mode);

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

    // Changes the local capacity only, as the kernel's sysfs `resize` does (e.g. after the server's
    // device grew). IO is checked against the new size; the server still refuses IO beyond its
    // own end, and a remap brings back the server's size. NBD clients see it on their next
    // connection. Errors: -ENODEV (not mapped), -EINVAL (0 or not a multiple of the logical
    // block size).
    Status<int> resize(std::uint64_t size_bytes);

    // Users that have the device open (an NBD connection, a file system): unmap without force
    // is refused while there are any.
    void acquire() { ++users_; }
    void release() { --users_; }

    DeviceState state() const { return state_; }
    const DeviceInfo& info() const { return info_; }
    const std::string& name() const { return name_; }
    wire::AccessMode mode() const { return mode_; }
    std::uint32_t inflight() const { return inflight_; }
    std::uint32_t users() const { return users_; }
    std::uint64_t remaps() const { return remaps_; }

private:
    friend class BlockClient;
    Status<int> submit(wire::RnbdOp op, std::uint32_t flags, std::uint64_t offset, std::uint32_t length,
                       std::span<std::byte> read_into, std::span<const std::byte> write_from,
                       BlockIoHandler& handler, std::uint64_t cookie);
    int check(wire::RnbdOp op, std::uint64_t offset, std::uint32_t length) const;
    void set_state(DeviceState state);

    BlockClient& client_;
    const std::string name_;
    const wire::AccessMode mode_;
    DeviceState state_ = DeviceState::init;
    DeviceInfo info_;
    std::uint32_t inflight_ = 0;
    std::uint32_t users_ = 0;
    std::uint64_t remaps_ = 0;
};

}  // namespace ibnbd::block
