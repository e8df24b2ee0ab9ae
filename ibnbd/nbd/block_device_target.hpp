// Exports a mapped IBNBD device over NBD: the device's limits become the export's, and the
// device's user count tracks NBD connections (so a normal unmap is refused while one is open).
#pragma once

#include "ibnbd/client/block_device.hpp"
#include "ibnbd/nbd/export_target.hpp"

namespace ibnbd::nbd {

class BlockDeviceTarget : public ExportTarget {
public:
    explicit BlockDeviceTarget(block::BlockDevice& device) : device_(device) {}

    ExportInfo info() const override {
        const block::DeviceInfo& info = device_.info();
        ExportInfo result;
        result.size = info.size_bytes;
        result.block_size = info.logical_block_size;
        result.max_io = info.max_io_bytes;
        result.max_trim = info.max_discard_bytes;
        result.max_zeroes = info.max_write_zeroes_bytes;
        result.read_only = device_.mode() == wire::AccessMode::ro;
        result.flush = info.writeback_cache;
        return result;
    }
    Status<int> read(std::uint64_t offset, std::span<std::byte> into, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        return device_.read(offset, into, handler, cookie);
    }
    Status<int> write(std::uint64_t offset, std::span<const std::byte> from, bool fua, block::BlockIoHandler& handler,
                      std::uint64_t cookie) override {
        return device_.write(offset, from, fua, handler, cookie);
    }
    Status<int> flush(block::BlockIoHandler& handler, std::uint64_t cookie) override {
        return device_.flush(handler, cookie);
    }
    Status<int> trim(std::uint64_t offset, std::uint32_t length, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        return device_.discard(offset, length, handler, cookie);
    }
    Status<int> write_zeroes(std::uint64_t offset, std::uint32_t length, bool no_hole, block::BlockIoHandler& handler,
                             std::uint64_t cookie) override {
        return device_.write_zeroes(offset, length, no_hole, handler, cookie);
    }
    void attach() override { device_.acquire(); }
    void detach() override { device_.release(); }

    block::BlockDevice& device() { return device_; }

private:
    block::BlockDevice& device_;
};

}  // namespace ibnbd::nbd
