// The block layer's part of one IO shard of an IBNBD client session (one reactor): a
// pre-allocated pool of block IOs, the RNBD IO messages, copies through the shard's registered
// buffers, and IO that waits for a path or a remap. A BlockClient has one per IO shard; devices
// submit through the BlockShard of the thread they are used on (DeviceIo).
//
// WAITING   IO submitted while a device is mapped_disconnected, and IO whose transport failed,
//           waits up to wait_while_reconnecting, else fails with -ETIMEDOUT: for the remap, or (the
//           device still mapped: the session kept a path) for a path of the shard to (re)connect.
// LIMITS    the pool holds 2 × the shard's permits, allocated once by allocate(); nothing is
//           allocated per IO.
// THREADING the shard's thread only. Constructing touches no fabric, so the session's thread may
//           build a remote shard's BlockShard and hand it over.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/ibtrs/io_shard.hpp"
#include "ibnbd/client/device_io.hpp"

namespace ibnbd::block {

// Where a block IO is in its life. One IO at a time per BlockIo (pre-allocated, pooled):
//   free           in the pool
//   permit_queued  queued in the shard's permit pool (holds no permit)
//   in_transport   its request is with the transport, on its permit; the completion decides
//   waiting        waits for a path or a remap (at most wait_while_reconnecting); holds its permit
//                  only while an old copy of its request may still land (has_permit)
//   abandoned      completed to its user early (force unmap) while the transport still has the
//                  request: the transport's completion only frees it
// Allowed transitions (asserted in BlockShard::set_state):
//   free → permit_queued | in_transport | waiting     permit_queued → in_transport | waiting | free
//   in_transport → waiting | abandoned | free         waiting → permit_queued | in_transport | free
//   abandoned → free
enum class BlockIoState : std::uint8_t { free, permit_queued, in_transport, waiting, abandoned };

// One block IO (pre-allocated).
struct BlockIo : ibtrs::PermitQueueEntry {
    BlockShard* shard = nullptr;
    DeviceIo* device = nullptr;
    BlockIoHandler* handler = nullptr;
    std::uint64_t cookie = 0;
    wire::RnbdOp op = wire::RnbdOp::read;
    std::uint32_t flags = 0;
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
    std::span<std::byte> read_into;
    std::span<const std::byte> write_from;
    BlockIoState state = BlockIoState::free;
    ibtrs::Permit permit = 0;
    bool has_permit = false;
    fabric::Nanos deadline = 0;  // of its wait, from the first time it waited
    BlockIo* next_free = nullptr;
    void on_permit(ibtrs::Permit permit) override;
};

class BlockShard : private ibtrs::IoHandler, private ibtrs::PathWatcher, private fabric::TimerHandler {
public:
    BlockShard(fabric::Fabric& fabric, ibtrs::IoShard& shard, fabric::Nanos wait_while_reconnecting);
    ~BlockShard() override;
    BlockShard(const BlockShard&) = delete;
    BlockShard& operator=(const BlockShard&) = delete;

    // Sizes the pool from the shard's permits; once (later calls do nothing).
    void allocate();
    // Why the server did not serve a device's IO: it does not know the id (-ENOTCONN: the session's
    // side re-opens the device) or it closed the device (-ENODEV: closed_by_server).
    enum class DeviceLoss : std::uint8_t { unknown_id, closed_by_server };
    // Called (on this shard's thread) once per device until its next state change.
    void on_device_lost(std::function<void(std::uint32_t device_id, DeviceLoss loss)> hook) {
        device_lost_ = std::move(hook);
    }
    fabric::Fabric& fabric() { return fabric_; }
    ibtrs::IoShard& shard() { return shard_; }
    fabric::Nanos wait_while_reconnecting() const { return wait_while_reconnecting_; }

    // A remote device's new state and info from the session's thread. mapped: its waiting IO
    // goes out (with the new device id); closed_by_server: its waiting IO fails with -ENODEV;
    // unmapped: all its IO completes with -EIO now.
    void update(ShardDevice& device, DeviceState state, const DeviceInfo& info);

    // Submits (DeviceIo::submit has checked the request). Errors: -EAGAIN (pool empty).
    Status<int> submit(DeviceIo& device, wire::RnbdOp op, std::uint32_t flags, std::uint64_t offset,
                       std::uint32_t length, std::span<std::byte> read_into, std::span<const std::byte> write_from,
                       BlockIoHandler& handler, std::uint64_t cookie);
    // The device is mapped again: its waiting IO goes out.
    void resume_waiting(DeviceIo& device);
    // Fails waiting IO: of `device`, or (nullptr) whatever is past its deadline.
    void fail_waiting(DeviceIo* device, int status);
    // Force unmap: every IO of the device completes with -EIO at once.
    void fail_all(DeviceIo& device);
    // BlockIo state transitions so far (counted, not logged: one IO makes several); any thread.
    std::uint64_t io_transitions() const { return io_transitions_.get(); }

private:
    friend struct BlockIo;

    void on_path_usable() override;
    void report_loss(DeviceIo& device, DeviceLoss loss);
    bool keep_permit_for_retry(BlockIo& io);
    void release_permit(BlockIo& io);
    template <class Predicate>
    void resume_waiting_if(const Predicate& predicate);
    void set_state(BlockIo& io, BlockIoState to);
    BlockIo* take_io();
    void give_back(BlockIo& io);
    void start_io(BlockIo& io);
    void issue_io(BlockIo& io);
    void finish_io(BlockIo& io, int status);
    void wait(BlockIo& io);
    void arm_wait_timer();
    void on_io_complete(std::uint64_t cookie, int status) override;
    void on_timer(std::uint64_t cookie) override;

    fabric::Fabric& fabric_;
    ibtrs::IoShard& shard_;
    const fabric::Nanos wait_while_reconnecting_;
    std::vector<BlockIo> pool_;
    BlockIo* free_ = nullptr;
    std::vector<BlockIo*> waiting_;  // capacity pool size
    fabric::TimerId wait_timer_ = 0;
    ibtrs::SharedCounter<std::uint64_t> io_transitions_;
    std::function<void(std::uint32_t, DeviceLoss)> device_lost_;
};

}  // namespace ibnbd::block
