// A mapped device's ublk export: /dev/ublkbN with one queue per IO shard of its session, each
// queue on its shard's reactor and doing its IO on that shard's copy of the device (the same
// split as the NBD connections of shard_export.hpp), so no lock is shared on the IO path.
//
// LIFE     start() → live → stop() → gone. Both run the ublk control commands on a thread of
//          their own (ublk_control.hpp: START_DEV and STOP_DEV wait for IO the reactors serve),
//          set up and tear down the queues through tasks on their reactors, and report on the
//          session's reactor through `done`.
// LIMITS   one queue per shard, depth = the shard's permits (at most 4096), tag buffers of the
//          device's largest IO; sizes, block sizes, discard / write-zeroes limits, write-back
//          cache and FUA come from the device's OPEN response (ublk_params.hpp).
// STOP     without force, refused with -EBUSY while /dev/ublkbN is open or mounted; with force
//          (after invalidate()) its IO fails with -ENODEV and the device goes anyway.
// CRASH    a daemon that dies leaves the kernel to stop the disk (IO fails, nothing hangs);
//          ublk user recovery is not used: Linux 6.12 would queue IO until a new daemon recovers
//          the device, for ever if none does. The next daemon deletes what is left
//          (ublk::remove_orphans at start).
// THREADING everything but the worker on the session's reactor; destroy only after `done` of
//          the last start()/stop() ran (the destructor joins the worker).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ibnbd/client/device_io.hpp"
#include "ibnbd/runtime/reactor.hpp"
#include "ibnbd/ublk/ublk_control.hpp"
#include "ibnbd/ublk/ublk_params.hpp"

namespace ibnbd::daemon {

class BlockDeviceTarget;

class UblkExport {
public:
    struct Shard {
        runtime::Reactor* reactor = nullptr;
        std::shared_ptr<block::DeviceIo> device;  // shard 0: the device itself (not owned)
    };
    // status 0 or a negative errno; `why` says what to do.
    using Done = std::function<void(int status, const std::string& why)>;
    struct QueueTotals {
        std::uint64_t requests = 0;
        std::uint64_t errors = 0;
        std::uint64_t busy = 0;
    };

    UblkExport(runtime::Reactor& home, std::vector<Shard> shards, ublk::DeviceShape shape);
    ~UblkExport();
    UblkExport(const UblkExport&) = delete;
    UblkExport& operator=(const UblkExport&) = delete;

    void start(Done done);
    void stop(bool force, Done done);
    // Before a forced unmap: every queue's target fails IO with -ENODEV from now on.
    void invalidate();

    bool live() const { return live_; }
    std::string block_device() const;  // /dev/ublkbN, once live
    QueueTotals totals() const;        // any queue's counters (read across threads)

private:
    struct Queue;
    int run_start(std::string& why);
    void undo_start();
    int run_stop(bool force, std::string& why);
    int set_up_queues(std::string& why);
    void tear_down_queues();
    void finish(Done done, int status, std::string why);
    void join();

    runtime::Reactor& home_;
    std::vector<Shard> shards_;
    const ublk::DeviceShape shape_;
    block::ExportInfo info_;
    std::vector<std::unique_ptr<Queue>> queues_;  // each used on its shard's reactor
    std::thread worker_;
    std::unique_ptr<ublk::UblkControl> control_;  // the worker's
    int char_fd_ = -1;
    std::int64_t dev_id_ = -1;
    bool live_ = false;
};

}  // namespace ibnbd::daemon
