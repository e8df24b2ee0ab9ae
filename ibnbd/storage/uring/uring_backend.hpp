// Files and block devices through io_uring: the storage backend of the real daemons.
//
// NAME
//     ibnbd::storage::uring::UringBackend - storage::Backend over one io_uring ring.
//
// SYNOPSIS
//     auto backend = UringBackend::create({.ring_entries = 256});   // one per reactor thread
//     auto device = (*backend)->open(*(*backend)->canonical_path("/srv/vol0.img"), true);
//     (*device)->submit(request, handler, cookie);
//     ... wait until event_fd() is readable (epoll), then backend->poll(64) ...
//
// DESCRIPTION
//     One ring and one pool of `max_inflight` operation slots, both made by create(); submit()
//     and poll() allocate nothing. A backend and all its devices belong to one thread.
//
//     submit() validates (storage::validate), takes a slot (-EAGAIN if none is free), prepares the
//     operation's first step and submits it to the kernel at once, or at the next poll()/flush()
//     with UringConfig::defer_submit (-EAGAIN if the submission queue has no room). It never blocks, except for secure erase (below), and never completes inline.
//
//     Steps per operation (each one io_uring request, run one after the other):
//       preflush          an fsync (IORING_FSYNC_DATASYNC) before anything else
//       read / write      read/write of the remaining range, repeated after a short transfer until
//                         the range is done or an error comes back; a read that hits the end of the
//                         file (a file shrunk since the open) fills the rest with zeros. fua sets
//                         RWF_DSYNC on the write. The priority is passed on as the request's ioprio
//                         for the best-effort (level 0-7) and idle classes only; anything else
//                         (real-time needs privileges, unknown bits are refused) becomes 0.
//       flush             fsync with IORING_FSYNC_DATASYNC
//       discard           fallocate(PUNCH_HOLE|KEEP_SIZE); on a block device -EOPNOTSUPP (no
//                         hardware zeroing behind the kernel's punch) falls back to ZERO_RANGE
//       write_zeroes      nounmap: fallocate(ZERO_RANGE|KEEP_SIZE); a file system without zero
//                         range (tmpfs) gets PUNCH_HOLE then fallocate(KEEP_SIZE), which leaves
//                         the range allocated and zero. Otherwise PUNCH_HOLE|KEEP_SIZE (block
//                         devices fall back to ZERO_RANGE as for discard). Both read back zeros.
//       secure_erase      block devices only (-EOPNOTSUPP at submit on files): the BLKSECDISCARD
//                         ioctl, which is SYNCHRONOUS (io_uring has no such operation); it runs
//                         when its step starts (inside submit() or poll()) and its result is
//                         delivered through a NOP, so the completion still comes from poll().
//       fua on discard, secure_erase or write_zeroes: an fsync after the step.
//     Each read or write goes O_DIRECT when the store has an O_DIRECT descriptor and offset,
//     length and buffer address are aligned (open_store.hpp), buffered otherwise; stats() counts
//     which (once per request).
//
//     poll(budget) reaps up to `budget` completions without blocking, advances or finishes their
//     operations and calls handlers, which may submit again or destroy a device that has no more
//     operations in flight (but not call poll() or destroy the backend). It returns how many
//     handlers it called. event_fd() is an eventfd
//     registered with the ring (io_uring_register_eventfd): readable when completions may be
//     waiting. poll() reads it empty first and, when it stops because of the budget with
//     completions left, makes it readable again, so a reactor never sleeps on a pending completion.
//
// ERRORS
//     create(): the negative errno of io_uring_queue_init or eventfd (-ENOMEM, -EPERM when
//     io_uring is disabled, ...).
//     canonical_path(): realpath(3)'s errno, negated (-ENOENT, -EACCES, -ELOOP, -ENAMETOOLONG,
//     -ENOTDIR).
//     open(): see open_store.hpp.
//     completion: the kernel's negative errno for the step that failed; -EIO for a write that
//     made no progress.
//
// LIFETIME
//     Devices must be destroyed before their backend, and only with no operation in flight
//     (asserted).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fabric/expected.hpp"
#include "ibnbd/storage/device.hpp"
#include "ibnbd/storage/uring/uring_device.hpp"

namespace ibnbd::storage::uring {

struct UringConfig {
    unsigned ring_entries = 256;     // submission queue entries (a power of two is used by Linux)
    std::uint32_t max_inflight = 0;  // operation slots; 0: ring_entries
    // submit() only queues in the ring while other operations are in flight; poll() and flush()
    // hand everything queued to the kernel in one system call. For a reactor, which polls every
    // round and flushes before it sleeps (daemon::UringPollable); without it every submit() is a
    // system call. An operation submitted alone still goes at once.
    bool defer_submit = false;
};

struct UringStats {
    std::uint64_t submitted = 0;         // operations accepted by submit()
    std::uint64_t completed = 0;         // handlers called
    std::uint64_t direct_ios = 0;        // reads and writes that went O_DIRECT
    std::uint64_t buffered_ios = 0;      // reads and writes that went through the page cache
    std::uint64_t short_transfers = 0;   // resubmissions after a short read or write
    std::uint64_t fallbacks = 0;         // steps replaced after -EOPNOTSUPP
    std::uint64_t rejected_busy = 0;     // submit() answered -EAGAIN
    std::uint64_t stalled_steps = 0;    // later steps that waited for room in the submission queue
};

class UringBackend final : public Backend {
public:
    static Expected<std::unique_ptr<UringBackend>, int> create(UringConfig config = {});
    ~UringBackend() override;
    UringBackend(const UringBackend&) = delete;
    UringBackend& operator=(const UringBackend&) = delete;

    Expected<std::string, int> canonical_path(const std::string& path) override;
    Expected<std::unique_ptr<Device>, int> open(const std::string& canonical, bool writable) override;

    std::size_t poll(std::size_t budget);
    // Hands queued submissions to the kernel (see UringConfig::defer_submit).
    void flush();
    int event_fd() const { return event_fd_; }
    const UringStats& stats() const { return stats_; }
    std::uint32_t inflight() const { return static_cast<std::uint32_t>(slots_.size() - free_.size()); }
    std::uint32_t capacity() const { return static_cast<std::uint32_t>(slots_.size()); }
    // Completions the kernel has posted and poll() has not reaped yet.
    std::uint32_t ready() const { return io_uring_cq_ready(&ring_); }

    // ---- for this backend's UringDevices ----
    // An operation on `device` (UringDevice::submit): checks it and starts its first step.
    Status<int> submit(UringDevice& device, const Request& request, CompletionHandler& handler,
                       std::uint64_t cookie);
    // Open devices are counted: none may outlive the backend.
    void device_opened() { ++open_devices_; }
    void device_closed() { --open_devices_; }

private:
    enum class Step : std::uint8_t { fsync, transfer, punch, zero_range, allocate, secure_erase };
    static constexpr std::size_t kMaxSteps = 5;
    struct Slot {
        UringDevice* device = nullptr;
        CompletionHandler* handler = nullptr;
        std::uint64_t cookie = 0;
        Request request;
        Step steps[kMaxSteps] = {};
        std::uint8_t step_count = 0;
        std::uint8_t step = 0;           // the one running
        std::uint32_t transferred = 0;   // bytes of a read or write done so far
        int sync_result = 0;             // a synchronous step's result, delivered through a NOP
    };

    UringBackend(UringConfig config, int event_fd);
    int init_ring();
    void plan(Slot& slot) const;
    bool start_step(std::uint32_t index);
    void continue_step(std::uint32_t index);
    void prepare_step(io_uring_sqe* sqe, Slot& slot);
    void prepare_transfer(io_uring_sqe* sqe, Slot& slot);
    void count_io_mode(const Slot& slot);
    // Completion side: each returns true if the operation finished (its handler was called).
    bool on_cqe(std::uint32_t index, int result);
    bool on_transfer(std::uint32_t index, int result);
    bool next_step(std::uint32_t index);
    void finish(std::uint32_t index, int status);
    bool fall_back(Slot& slot);
    void restart_stalled();
    void drain_event_fd();

    UringConfig config_;
    io_uring ring_{};
    bool ring_ready_ = false;
    int event_fd_ = -1;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    // Operations whose next step found the submission queue full; started again by poll().
    std::vector<std::uint32_t> stalled_;
    std::uint32_t open_devices_ = 0;
    UringStats stats_;
};

}  // namespace ibnbd::storage::uring
