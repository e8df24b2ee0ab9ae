// A mapped IBNBD device on the client (docs/protocol.md §3.6, §3.11), as the session's own thread
// sees it: the IO face of device_io.hpp on shard 0, plus the device's life cycle.
//
// STATES   init → mapped ⇄ mapped_disconnected → unmapped; mapped → closed_by_server → (remap) mapped
//   init                 OPEN not answered yet
//   mapped               IO flows
//   mapped_disconnected  the session lost every path; after it reconnects the device is re-opened
//                        by itself (its id and capacity may change) and becomes mapped again
//   closed_by_server     the server closed the device (its operator's force_close: IO answered
//                        -ENODEV); IO fails with -ENODEV until remap() opens it again
//   unmapped             final
//
// SHARDS   with an IBTRS session of several IO shards, the device has a copy (ShardDevice) per
//          other shard, for that shard's thread: every change of state or info is sent to the
//          copies, which take IO on their shard's own connections. A copy learns each change a
//          task later than the device: right after on_mapped it is still in init (IO: -ENODEV);
//          wait for its state, or start its users from a task posted to its shard after that.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ibnbd/client/device_io.hpp"

namespace ibnbd::block {

class BlockClient;

class BlockDevice final : public DeviceIo {
public:
    BlockDevice(BlockClient& client, std::string name, wire::AccessMode mode);

    // Changes the local capacity only, as the kernel's sysfs `resize` does (e.g. after the server's
    // device grew). IO is checked against the new size; the server still refuses IO beyond its
    // own end, and a remap brings back the server's size. NBD clients see it on their next
    // connection. Errors: -ENODEV (not mapped), -EINVAL (0 or not a multiple of the logical
    // block size).
    Status<int> resize(std::uint64_t size_bytes);

    std::uint64_t remaps() const { return remaps_; }
    // Re-opens after the server answered IO with -ENOTCONN (counted in remaps() too).
    std::uint64_t reopens() const { return reopens_; }
    std::size_t shard_count() const { return copies_.size() + 1; }
    // The copy for shard `shard` (1 .. shards - 1): use it only on that shard's thread.
    std::shared_ptr<ShardDevice> shard_copy(std::size_t shard) const { return copies_.at(shard - 1); }
    // In flight and users over every shard.
    std::uint32_t inflight_all() const;
    std::uint32_t users_all() const;

private:
    friend class BlockClient;
    void set_state(DeviceState state);
    void share() const;  // state and info to every copy

    BlockClient& client_;
    std::uint64_t remaps_ = 0;
    std::uint64_t reopens_ = 0;
    std::vector<std::shared_ptr<ShardDevice>> copies_;
};

}  // namespace ibnbd::block
