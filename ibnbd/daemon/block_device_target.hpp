// Exports a mapped IBNBD device (or its copy on another reactor's shard) over NBD: the device's
// limits become the export's, and the device's user count tracks NBD connections (so a normal
// unmap is refused while one is open).
// Before a forced unmap, invalidate() gives the device its users back and turns every later call
// into -ENODEV, so that connections closing afterwards never touch the unmapped device.
#pragma once

#include "ibnbd/client/block_device.hpp"
#include "ibnbd/export_target.hpp"

namespace ibnbd::daemon {

class BlockDeviceTarget : public block::ExportTarget {
public:
    explicit BlockDeviceTarget(block::DeviceIo& device) : device_(&device), info_(make_info(device)) {}

    block::ExportInfo info() const override { return device_ ? make_info(*device_) : info_; }
    Status<int> read(std::uint64_t offset, std::span<std::byte> into, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        if (!device_) return unexpected(-ENODEV);
        return device_->read(offset, into, handler, cookie);
    }
    Status<int> write(std::uint64_t offset, std::span<const std::byte> from, bool fua, block::BlockIoHandler& handler,
                      std::uint64_t cookie) override {
        if (!device_) return unexpected(-ENODEV);
        return device_->write(offset, from, fua, handler, cookie);
    }
    Status<int> flush(block::BlockIoHandler& handler, std::uint64_t cookie) override {
        if (!device_) return unexpected(-ENODEV);
        return device_->flush(handler, cookie);
    }
    Status<int> trim(std::uint64_t offset, std::uint32_t length, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        if (!device_) return unexpected(-ENODEV);
        return device_->discard(offset, length, handler, cookie);
    }
    Status<int> write_zeroes(std::uint64_t offset, std::uint32_t length, bool no_hole, block::BlockIoHandler& handler,
                             std::uint64_t cookie) override {
        if (!device_) return unexpected(-ENODEV);
        return device_->write_zeroes(offset, length, no_hole, handler, cookie);
    }
    void attach() override {
        ++attached_;
        if (device_) device_->acquire();
    }
    void detach() override {
        --attached_;
        if (device_) device_->release();
    }
    void invalidate() {
        if (!device_) return;
        for (std::uint32_t i = 0; i < attached_; ++i) device_->release();
        device_ = nullptr;
    }

private:
    static block::ExportInfo make_info(const block::DeviceIo& device) {
        const block::DeviceInfo& info = device.info();
        block::ExportInfo result;
        result.size = info.size_bytes;
        result.block_size = info.logical_block_size;
        result.physical_block_size = info.physical_block_size;
        result.trim_granularity = info.discard_granularity;
        result.max_io = info.max_io_bytes;
        result.max_trim = info.max_discard_bytes;
        result.max_zeroes = info.max_write_zeroes_bytes;
        result.read_only = device.mode() == wire::AccessMode::ro;
        result.flush = info.writeback_cache;
        result.fua = info.fua;
        return result;
    }

    block::DeviceIo* device_;
    block::ExportInfo info_;
    std::uint32_t attached_ = 0;
};

}  // namespace ibnbd::daemon
