// One queue of a ublk device, driven by one reactor: the kernel hands each block request of this
// queue to the reactor through the queue's io_uring (a completed FETCH_REQ / COMMIT_AND_FETCH_REQ
// names a tag; the request is in the tag's IO descriptor, mapped read-only from /dev/ublkcN), the
// queue starts it on its ExportTarget, and the target's completion commits the result and fetches
// the tag's next request in one command.
//
// TAGS     every tag has a buffer of the device's largest IO, allocated at create(); the kernel
//          copies write data into it before handing the request over and read data out of it
//          after the commit. A tag is in one state at a time:
//            idle       not given to the kernel yet (before start())
//            fetching   the kernel holds it, waiting for a request
//            serving    the target has the request
//            busy       the target refused it for now (-EAGAIN): started again on the next poll
//            aborted    the kernel gave it back without a request (the device stopped)
// RESULTS  a read or write returns its length; an error is the target's negative errno, which the
//          kernel turns into the block status, except -ETIMEDOUT (no path came back within the
//          wait): it is given as -EIO, the status the kernel's RNBD fails IO with when it has no
//          path. The kernel reports errnos it has no status for (-ENODEV, -ENOTCONN) as EIO too.
// THREADING create() on any thread; everything else on the reactor that polls the queue: the
//          kernel binds a queue to the task that fetched its tags. No locks, no allocation after
//          create().
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/ibtrs/io_shard.hpp"
#include "fabric/expected.hpp"
#include "ibnbd/export_target.hpp"
#include "ibnbd/runtime/reactor.hpp"
#include "ibnbd/ublk/ublk_uapi.hpp"

namespace ibnbd::ublk {

enum class TagState : std::uint8_t { idle, fetching, serving, busy, aborted };

struct QueueCounters {
    ibtrs::SharedCounter<std::uint64_t> requests;  // handed over by the kernel
    ibtrs::SharedCounter<std::uint64_t> errors;    // committed with an error
    ibtrs::SharedCounter<std::uint64_t> busy;      // refused by the target for now, retried
};

class UblkQueue final : public runtime::Pollable, public block::BlockIoHandler {
public:
    // `char_fd`: the open /dev/ublkcN (stays the caller's). Errors: mmap's and io_uring's.
    static Expected<std::unique_ptr<UblkQueue>, int> create(int char_fd, std::uint16_t queue, std::uint32_t depth,
                                                           std::uint32_t max_io_bytes, block::ExportTarget& target);
    ~UblkQueue() override;
    UblkQueue(const UblkQueue&) = delete;
    UblkQueue& operator=(const UblkQueue&) = delete;

    // Gives every tag to the kernel (on the reactor's thread). Errors: io_uring_submit's.
    Status<int> start();
    // The kernel gave back every tag: the device stopped; remove and destroy the queue.
    bool stopped() const { return aborted_ == tags_.size(); }
    const QueueCounters& counters() const { return counters_; }

    std::size_t poll(std::size_t budget) override;
    int wait_fd() const override { return event_fd_; }
    bool prepare_sleep() override;

private:
    struct Tag {
        TagState state = TagState::idle;
        std::uint32_t length = 0;  // bytes of the request being served
    };

    UblkQueue(int char_fd, std::uint16_t queue, std::uint32_t depth, std::uint32_t max_io_bytes,
              block::ExportTarget& target);
    int map_memory();
    int init_ring();
    void on_block_io_complete(std::uint64_t cookie, int status) override;
    void on_kernel(std::uint16_t tag, int result);
    void serve(std::uint16_t tag);
    Status<int> start_on_target(std::uint16_t tag, const ublksrv_io_desc& request);
    void commit(std::uint16_t tag, int result);
    void prep_command(std::uint32_t op, std::uint16_t tag, int result);
    std::byte* buffer(std::uint16_t tag) const { return buffers_ + std::size_t{tag} * max_io_bytes_; }

    const int char_fd_;
    const std::uint16_t queue_;
    const std::uint32_t max_io_bytes_;
    block::ExportTarget& target_;
    std::vector<Tag> tags_;
    std::vector<std::uint16_t> busy_;  // capacity: every tag
    const ublksrv_io_desc* descriptors_ = nullptr;
    std::byte* buffers_ = nullptr;
    io_uring ring_{};
    bool ring_ready_ = false;
    int event_fd_ = -1;
    std::size_t aborted_ = 0;
    QueueCounters counters_;
};

}  // namespace ibnbd::ublk
