// The IBNBD client session (docs/protocol.md §3.1, §3.3, §3.11): one per IBTRS session, many devices.
//
// MAP      map(name, mode) returns the device at once in state init and reports the outcome to the
//          handler: the session is opened if needed, SESS_INFO is exchanged (once per session
//          establishment), then OPEN. Errors in on_mapped: the server's errno (-ENOENT, -EPERM,
//          -EACCES, ...) or the session's failure to open. Mapping a name twice → -EEXIST at once.
// UNMAP    normal: refused with -EBUSY while the device has users or IO in flight; force: in-flight
//          and queued IO completes with -EIO at once. Either way CLOSE goes to the server if the
//          session is up, and the device is gone (its pointer invalid) once on_unmapped ran.
// REMAP    after the transport reconnects (every path had been lost), SESS_INFO and OPEN are sent
//          again for every mapped device; the device id and the capacity may change
//          (on_device_changed). remap() asks for it by hand (also for a device closed_by_server):
//          -EALREADY when mapped, -ENODEV when unmapped, -EBUSY in init, -ENOTCONN while the
//          session is down. A device whose IO the server answers with -ENOTCONN (it does not know
//          the id) is re-opened the same way (mapped_disconnected, OPEN, mapped); its IO waits.
//          One whose IO it answers with -ENODEV (force-closed there) turns closed_by_server and
//          is not re-opened until remap(): its IO fails with -ENODEV.
// WAITING  IO submitted while a device is mapped_disconnected, and IO whose transport failed,
//          waits up to wait_while_reconnecting for the remap, else fails with -ETIMEDOUT. Only this
//          layer waits (the IBTRS session fails at once, as the kernel's RTRS does): a waiting
//          request is re-encoded with the device id the remap gives.
// SHARDS   created with an ibtrs::ShardLayout, the client has a BlockShard per IO
//          shard; shard s's is for its own thread, and so are the devices' copies for shard s
//          (BlockDevice::shard_copy). Control (SESS_INFO, OPEN, CLOSE) runs on the session's
//          thread, which sends every device change to the copies; remote BlockShards are destroyed on
//          their threads, through their mailboxes.
// LIMITS   each BlockShard's pool holds 2 × its shard's permits, allocated once when the session
//          first connects; nothing is allocated per IO.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/client_session.hpp"
#include "core/wire/rnbd.hpp"
#include "ibnbd/client/block_device.hpp"
#include "ibnbd/client/block_shard.hpp"

namespace ibnbd::block {

class BlockClientHandler {
public:
    virtual ~BlockClientHandler() = default;
    virtual void on_mapped(BlockDevice& device, int status) = 0;
    virtual void on_unmapped(BlockDevice& device) { (void)device; }
    virtual void on_device_state(BlockDevice& device, DeviceState from, DeviceState to) {
        (void)device, (void)from, (void)to;
    }
    // After a remap: the id or the capacity changed.
    virtual void on_device_changed(BlockDevice& device, const DeviceInfo& before) { (void)device, (void)before; }
    // The IBTRS session's own events (paths, failovers, reconnects).
    virtual ibtrs::ClientEventListener* transport_listener() { return nullptr; }
};

struct BlockClientConfig {
    ibtrs::ClientConfig transport;
    fabric::Nanos wait_while_reconnecting = 0;
};

class BlockClient : private ibtrs::ClientSessionHandler, private fabric::TimerHandler {
public:
    // Errors: the IBTRS session's (-EINVAL for bad names, paths or shards).
    static Expected<std::unique_ptr<BlockClient>, int> create(fabric::Fabric& fabric, BlockClientConfig config,
                                                              std::vector<ibtrs::PathSpec> paths,
                                                              BlockClientHandler& handler,
                                                              ibtrs::ShardLayout shards = {});
    ~BlockClient() override;

    Expected<BlockDevice*, int> map(const std::string& name, wire::AccessMode mode);
    Status<int> unmap(BlockDevice& device, bool force);
    Status<int> remap(BlockDevice& device);

    ibtrs::ClientSession& transport() { return *transport_; }
    std::size_t shard_count() const { return shards_.size(); }
    // IO shard `shard`'s BlockShard: use it only on that shard's thread (its counters: any thread).
    BlockShard& block_shard(std::size_t shard) { return *shards_[shard].shard; }
    const BlockShard& block_shard(std::size_t shard) const { return *shards_[shard].shard; }
    const std::list<std::unique_ptr<BlockDevice>>& devices() const { return devices_; }
    BlockDevice* find(std::string_view name);
    bool ready() const { return ready_; }
    std::uint8_t protocol_version() const { return version_; }
    fabric::Fabric& fabric() { return fabric_; }

private:
    friend class BlockDevice;
    struct ControlOp;
    struct ShardPart {
        std::unique_ptr<BlockShard> shard;
        ibtrs::Mailbox* mailbox = nullptr;  // nullptr: shard 0, this thread
    };

    BlockClient(fabric::Fabric& fabric, BlockClientConfig config, BlockClientHandler& handler);

    // ibtrs::ClientSessionHandler
    void on_open(int status) override;
    void on_session_disconnected() override;
    void on_session_reconnected() override;
    void on_path_state(std::string_view path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                       std::string_view reason) override;
    void on_failover(std::string_view from, std::string_view to, std::uint32_t ios) override;
    void on_reconnect_attempt(std::string_view path, std::uint32_t attempt, bool ok) override;
    void on_timer(std::uint64_t cookie) override;

    // Control messages.
    void send_sess_info();
    void send_open(BlockDevice& device);
    void send_close(std::uint32_t device_id);
    void start_control(std::unique_ptr<ControlOp> op);
    void issue_control(ControlOp& op, ibtrs::Permit permit);
    void control_done(ControlOp& op, int status);
    void on_sess_info_done(ControlOp& op, int status);
    void on_open_done(ControlOp& op, int status);
    void fail_pending_maps(int status);
    using DeviceLoss = BlockShard::DeviceLoss;
    void queue_lost(std::uint32_t device_id, DeviceLoss loss);
    void handle_lost_devices();
    void remove_device(BlockDevice& device);
    // Runs `action(path, copy)` for each of the device's copies, on their shards' threads.
    template <class Action>
    void each_copy(const BlockDevice& device, const Action& action);
    // Sends the device's state and info to its copies.
    void share(const BlockDevice& device);

    fabric::Fabric& fabric_;
    BlockClientConfig config_;
    BlockClientHandler& handler_;
    std::unique_ptr<ibtrs::ClientSession> transport_;
    std::list<std::unique_ptr<BlockDevice>> devices_;
    std::list<std::unique_ptr<ControlOp>> controls_;
    std::vector<ShardPart> shards_;  // by shard; [0] is this thread's
    std::uint8_t version_ = wire::kRnbdVersionMajor;
    bool opened_ = false;
    bool ready_ = false;  // SESS_INFO done on the current establishment
    std::vector<std::pair<std::uint32_t, DeviceLoss>> lost_ids_;  // device ids the server did not serve
    // Tasks from other threads check that the client still exists (they run on its thread).
    std::shared_ptr<BlockClient*> alive_ = std::make_shared<BlockClient*>(this);
};

}  // namespace ibnbd::block
