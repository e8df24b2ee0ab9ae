#include "ibnbd/client/block_device.hpp"

#include <cerrno>

#include "ibnbd/client/block_client.hpp"

namespace ibnbd::block {

BlockDevice::BlockDevice(BlockClient& client, std::string name, wire::AccessMode mode)
    : DeviceIo(client.block_shard(0), std::move(name), mode), client_(client) {
    for (std::size_t shard = 1; shard < client.shard_count(); ++shard) {
        copies_.push_back(std::make_shared<ShardDevice>(client.block_shard(shard), name_, mode_));
    }
}

void BlockDevice::set_state(DeviceState state) {
    const DeviceState from = state_;
    if (!change_state(state)) return;
    share();
    client_.handler_.on_device_state(*this, from, state);
}

void BlockDevice::share() const { client_.share(*this); }

std::uint32_t BlockDevice::inflight_all() const {
    std::uint32_t total = inflight();
    for (const auto& copy : copies_) total += copy->inflight();
    return total;
}

std::uint32_t BlockDevice::users_all() const {
    std::uint32_t total = users();
    for (const auto& copy : copies_) total += copy->users();
    return total;
}

Status<int> BlockDevice::resize(std::uint64_t size_bytes) {
    if (state_ != DeviceState::mapped) return unexpected(-ENODEV);
    if (size_bytes == 0 || size_bytes % info_.logical_block_size != 0) return unexpected(-EINVAL);
    info_.size_bytes = size_bytes;
    share();
    return {};
}

}  // namespace ibnbd::block
