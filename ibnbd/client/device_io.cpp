#include "ibnbd/client/device_io.hpp"

#include <cerrno>

#include "ibnbd/client/block_shard.hpp"

namespace ibnbd::block {

std::string_view to_string(DeviceState state) {
    switch (state) {
        case DeviceState::init: return "init";
        case DeviceState::mapped: return "mapped";
        case DeviceState::mapped_disconnected: return "mapped-disconnected";
        case DeviceState::closed_by_server: return "closed-by-server";
        case DeviceState::unmapped: return "unmapped";
    }
    return "unknown";
}

DeviceIo::DeviceIo(BlockShard& shard, std::string name, wire::AccessMode mode)
    : shard_(shard), name_(std::move(name)), mode_(mode) {}

bool DeviceIo::change_state(DeviceState to) {
    if (state_ == to) return false;
    state_ = to;
    loss_reported_ = false;
    return true;
}

bool DeviceIo::adopt(DeviceState state, const DeviceInfo& info) {
    info_ = info;
    return change_state(state);
}

bool DeviceIo::claim_loss_report() {
    if (loss_reported_ || state_ != DeviceState::mapped) return false;
    loss_reported_ = true;
    return true;
}

int DeviceIo::check(wire::RnbdOp op, std::uint64_t offset, std::uint32_t length) const {
    if (state_ != DeviceState::mapped && state_ != DeviceState::mapped_disconnected) return -ENODEV;
    const bool writes = op != wire::RnbdOp::read;
    if (writes && mode_ == wire::AccessMode::ro) return -EROFS;
    if (op == wire::RnbdOp::flush) return 0;
    const std::uint32_t block = info_.logical_block_size;
    if (offset % block != 0 || length % block != 0) return -EINVAL;
    if (offset > info_.size_bytes || length > info_.size_bytes - offset) return -EINVAL;
    switch (op) {
        case wire::RnbdOp::read:
        case wire::RnbdOp::write: return length <= info_.max_io_bytes ? 0 : -EINVAL;
        case wire::RnbdOp::discard:
        case wire::RnbdOp::secure_erase:
            if (op == wire::RnbdOp::secure_erase && !info_.secure_discard) return -EINVAL;
            return length != 0 && length <= info_.max_discard_bytes ? 0 : -EINVAL;
        case wire::RnbdOp::write_zeroes: return length != 0 && length <= info_.max_write_zeroes_bytes ? 0 : -EINVAL;
        case wire::RnbdOp::flush: return 0;
    }
    return -EINVAL;
}

Status<int> DeviceIo::submit(wire::RnbdOp op, std::uint32_t flags, std::uint64_t offset, std::uint32_t length,
                                std::span<std::byte> read_into, std::span<const std::byte> write_from,
                                BlockIoHandler& handler, std::uint64_t cookie) {
    if (const int error = check(op, offset, length); error != 0) return unexpected(error);
    if (state_ == DeviceState::mapped_disconnected && shard_.wait_while_reconnecting() == 0) {
        return unexpected(-EIO);
    }
    return shard_.submit(*this, op, flags, offset, length, read_into, write_from, handler, cookie);
}

Status<int> DeviceIo::read(std::uint64_t offset, std::span<std::byte> destination, BlockIoHandler& handler,
                              std::uint64_t cookie) {
    if (destination.size() > UINT32_MAX) return unexpected(-EINVAL);
    return submit(wire::RnbdOp::read, 0, offset, static_cast<std::uint32_t>(destination.size()), destination, {},
                  handler, cookie);
}

Status<int> DeviceIo::write(std::uint64_t offset, std::span<const std::byte> source, bool fua,
                               BlockIoHandler& handler, std::uint64_t cookie) {
    if (source.size() > UINT32_MAX) return unexpected(-EINVAL);
    return submit(wire::RnbdOp::write, fua ? wire::kRnbdFlagFua : 0, offset,
                  static_cast<std::uint32_t>(source.size()), {}, source, handler, cookie);
}

Status<int> DeviceIo::flush(BlockIoHandler& handler, std::uint64_t cookie) {
    return submit(wire::RnbdOp::flush, wire::kRnbdFlagPreflush, 0, 0, {}, {}, handler, cookie);
}

Status<int> DeviceIo::discard(std::uint64_t offset, std::uint32_t length, BlockIoHandler& handler,
                                 std::uint64_t cookie) {
    return submit(wire::RnbdOp::discard, 0, offset, length, {}, {}, handler, cookie);
}

Status<int> DeviceIo::secure_erase(std::uint64_t offset, std::uint32_t length, BlockIoHandler& handler,
                                      std::uint64_t cookie) {
    return submit(wire::RnbdOp::secure_erase, 0, offset, length, {}, {}, handler, cookie);
}

Status<int> DeviceIo::write_zeroes(std::uint64_t offset, std::uint32_t length, bool no_unmap,
                                      BlockIoHandler& handler, std::uint64_t cookie) {
    return submit(wire::RnbdOp::write_zeroes, no_unmap ? wire::kRnbdFlagNoUnmap : 0, offset, length, {}, {},
                  handler, cookie);
}

}  // namespace ibnbd::block
