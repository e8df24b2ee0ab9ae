#include "ibnbd/storage/uring/uring_backend.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ibnbd::storage::uring {

namespace {

constexpr int kPunchHole = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
constexpr int kZeroRange = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
constexpr int kAllocate = FALLOC_FL_KEEP_SIZE;

// ioprio: class in the top three bits, level in the low three. Best-effort (2) and idle (3) are
// open to everybody; a real-time class would fail the IO with -EPERM without privileges, and
// unknown classes, levels above 7 or hint bits with -EINVAL, so only what is always valid passes.
std::uint16_t allowed_priority(std::uint16_t priority) {
    constexpr unsigned kClassShift = 13;
    constexpr unsigned kBestEffort = 2, kIdle = 3;
    const unsigned io_class = priority >> kClassShift;
    if (io_class == kBestEffort) return static_cast<std::uint16_t>((kBestEffort << kClassShift) | (priority & 7));
    if (io_class == kIdle) return static_cast<std::uint16_t>(kIdle << kClassShift);
    return 0;
}

bool zeroes_range(Op op) { return op == Op::discard || op == Op::secure_erase || op == Op::write_zeroes; }

}  // namespace

// ---- lifecycle ----

Expected<std::unique_ptr<UringBackend>, int> UringBackend::create(UringConfig config) {
    if (config.ring_entries == 0) return unexpected(-EINVAL);
    if (config.max_inflight == 0) config.max_inflight = config.ring_entries;
    const int event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd < 0) return unexpected(-errno);
    std::unique_ptr<UringBackend> backend(new UringBackend(config, event_fd));
    if (const int error = backend->init_ring(); error != 0) return unexpected(error);
    return backend;
}

UringBackend::UringBackend(UringConfig config, int event_fd)
    : config_(config), event_fd_(event_fd), slots_(config.max_inflight) {
    free_.reserve(config_.max_inflight);
    for (std::uint32_t index = config_.max_inflight; index > 0; --index) free_.push_back(index - 1);
    stalled_.reserve(config_.max_inflight);
}

int UringBackend::init_ring() {
    io_uring_params params{};
    // Room in the completion queue for every operation in flight, so it never overflows.
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = std::max(2 * config_.ring_entries, config_.max_inflight);
    if (const int error = io_uring_queue_init_params(config_.ring_entries, &ring_, &params); error < 0) return error;
    ring_ready_ = true;
    if (const int error = io_uring_register_eventfd(&ring_, event_fd_); error < 0) return error;
    return 0;
}

UringBackend::~UringBackend() {
    assert(open_devices_ == 0);
    assert(inflight() == 0);
    if (ring_ready_) io_uring_queue_exit(&ring_);
    if (event_fd_ >= 0) ::close(event_fd_);
}

Expected<std::string, int> UringBackend::canonical_path(const std::string& path) {
    char* resolved = ::realpath(path.c_str(), nullptr);
    if (resolved == nullptr) return unexpected(-errno);
    std::string result(resolved);
    std::free(resolved);
    return result;
}

Expected<std::unique_ptr<Device>, int> UringBackend::open(const std::string& canonical, bool writable) {
    auto store = open_store(canonical, writable);
    if (!store) return unexpected(store.error());
    return std::unique_ptr<Device>(std::make_unique<UringDevice>(*this, std::move(store.value())));
}

// ---- submission ----

Status<int> UringBackend::submit(UringDevice& device, const Request& request, CompletionHandler& handler,
                                 std::uint64_t cookie) {
    if (const int invalid = validate(request, device.geometry()); invalid != 0) return unexpected(invalid);
    if (request.op == Op::secure_erase && !device.block_device()) return unexpected(-EOPNOTSUPP);
    if (free_.empty()) {
        ++stats_.rejected_busy;
        return unexpected(-EAGAIN);
    }
    const std::uint32_t index = free_.back();
    Slot& slot = slots_[index];
    slot = Slot{};
    slot.device = &device;
    slot.handler = &handler;
    slot.cookie = cookie;
    slot.request = request;
    plan(slot);
    if (!start_step(index)) {
        ++stats_.rejected_busy;
        return unexpected(-EAGAIN);
    }
    free_.pop_back();
    device.operation_started();
    ++stats_.submitted;
    count_io_mode(slot);
    // On failure (-EBUSY, -EINTR) the entry stays queued in the ring; poll() submits it. Deferred
    // only while other operations are in flight: alone, it goes at once (latency at queue depth 1).
    if (!config_.defer_submit || inflight() == 1) (void)io_uring_submit(&ring_);
    return {};
}

void UringBackend::flush() {
    if (io_uring_sq_ready(&ring_) > 0) (void)io_uring_submit(&ring_);
}

void UringBackend::plan(Slot& slot) const {
    const Request& request = slot.request;
    auto add = [&slot](Step step) { slot.steps[slot.step_count++] = step; };
    if (request.flags.preflush && request.op != Op::flush) add(Step::fsync);
    switch (request.op) {
        case Op::read:
        case Op::write: add(Step::transfer); break;
        case Op::flush: add(Step::fsync); break;
        case Op::discard: add(Step::punch); break;
        case Op::secure_erase: add(Step::secure_erase); break;
        case Op::write_zeroes: add(request.flags.nounmap ? Step::zero_range : Step::punch); break;
    }
    // Writes carry fua as RWF_DSYNC; the other range operations need an fsync of their own.
    if (request.flags.fua && zeroes_range(request.op)) add(Step::fsync);
}

void UringBackend::count_io_mode(const Slot& slot) {
    const Request& request = slot.request;
    if (request.op != Op::read && request.op != Op::write) return;
    const int fd = slot.device->fd_for(request.offset, request.length, request.buffer.data());
    ++(fd == slot.device->buffered_fd() ? stats_.buffered_ios : stats_.direct_ios);
}

bool UringBackend::start_step(std::uint32_t index) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr && config_.defer_submit) {
        flush();  // the queue is full of deferred entries: hand them over and retry once
        sqe = io_uring_get_sqe(&ring_);
    }
    if (sqe == nullptr) return false;
    prepare_step(sqe, slots_[index]);
    io_uring_sqe_set_data64(sqe, index);
    return true;
}

void UringBackend::prepare_step(io_uring_sqe* sqe, Slot& slot) {
    const Request& request = slot.request;
    const int fd = slot.device->buffered_fd();
    const auto offset = static_cast<off_t>(request.offset);
    const auto length = static_cast<off_t>(request.length);
    switch (slot.steps[slot.step]) {
        case Step::fsync: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
        case Step::transfer: prepare_transfer(sqe, slot); break;
        case Step::punch: io_uring_prep_fallocate(sqe, fd, kPunchHole, offset, length); break;
        case Step::zero_range: io_uring_prep_fallocate(sqe, fd, kZeroRange, offset, length); break;
        case Step::allocate: io_uring_prep_fallocate(sqe, fd, kAllocate, offset, length); break;
        case Step::secure_erase: {
            std::uint64_t range[2] = {request.offset, request.length};
            slot.sync_result = ::ioctl(fd, BLKSECDISCARD, range) == 0 ? 0 : -errno;
            io_uring_prep_nop(sqe);
            break;
        }
    }
}

void UringBackend::prepare_transfer(io_uring_sqe* sqe, Slot& slot) {
    const Request& request = slot.request;
    std::byte* data = request.buffer.data() + slot.transferred;
    const std::uint32_t remaining = request.length - slot.transferred;
    const std::uint64_t at = request.offset + slot.transferred;
    const int fd = slot.device->fd_for(at, remaining, data);
    if (request.op == Op::read) {
        io_uring_prep_read(sqe, fd, data, remaining, at);
    } else {
        io_uring_prep_write(sqe, fd, data, remaining, at);
        if (request.flags.fua) sqe->rw_flags = RWF_DSYNC;
    }
    sqe->ioprio = allowed_priority(request.priority);
}

// ---- completion ----

std::size_t UringBackend::poll(std::size_t budget) {
    drain_event_fd();
    restart_stalled();
    std::size_t delivered = 0;
    for (std::size_t reaped = 0; reaped < budget; ++reaped) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_peek_cqe(&ring_, &cqe) != 0 || cqe == nullptr) break;
        const auto index = static_cast<std::uint32_t>(io_uring_cqe_get_data64(cqe));
        const int result = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        assert(index < slots_.size());
        if (on_cqe(index, result)) ++delivered;
    }
    flush();
    // Stopped by the budget, or steps waiting for room: the reactor must come back.
    if (io_uring_cq_ready(&ring_) > 0 || !stalled_.empty()) (void)::eventfd_write(event_fd_, 1);
    return delivered;
}

void UringBackend::drain_event_fd() {
    eventfd_t ignored = 0;
    (void)::eventfd_read(event_fd_, &ignored);  // -EAGAIN when already empty
}

void UringBackend::restart_stalled() {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < stalled_.size(); ++i) {
        if (!start_step(stalled_[i])) stalled_[kept++] = stalled_[i];
    }
    stalled_.resize(kept);
}

bool UringBackend::on_cqe(std::uint32_t index, int result) {
    Slot& slot = slots_[index];
    const Step step = slot.steps[slot.step];
    if (step == Step::transfer) return on_transfer(index, result);
    if (step == Step::secure_erase) result = slot.sync_result;
    if (result == -EOPNOTSUPP && fall_back(slot)) {
        ++stats_.fallbacks;
        continue_step(index);
        return false;
    }
    if (result < 0) {
        finish(index, result);
        return true;
    }
    return next_step(index);
}

bool UringBackend::on_transfer(std::uint32_t index, int result) {
    Slot& slot = slots_[index];
    const Request& request = slot.request;
    if (result < 0 || (result == 0 && request.op == Op::write)) {
        finish(index, result < 0 ? result : -EIO);
        return true;
    }
    if (result == 0) {
        // End of file inside the device: the file shrank since it was opened; a hole reads zeros.
        std::memset(request.buffer.data() + slot.transferred, 0, request.length - slot.transferred);
        slot.transferred = request.length;
    } else {
        slot.transferred += static_cast<std::uint32_t>(result);
    }
    if (slot.transferred < request.length) {
        ++stats_.short_transfers;
        continue_step(index);
        return false;
    }
    return next_step(index);
}

// Replaces a step the kernel refused with -EOPNOTSUPP by an equivalent; false if there is none.
bool UringBackend::fall_back(Slot& slot) {
    Step& step = slot.steps[slot.step];
    const Op op = slot.request.op;
    const bool block_device = slot.device->block_device();
    if (step == Step::punch && block_device && (op == Op::discard || op == Op::write_zeroes)) {
        step = Step::zero_range;  // the kernel zeroes by writing when the device cannot
        return true;
    }
    if (step == Step::zero_range && !block_device && op == Op::write_zeroes && slot.step_count < kMaxSteps) {
        std::copy_backward(slot.steps + slot.step + 1, slot.steps + slot.step_count, slot.steps + slot.step_count + 1);
        slot.steps[slot.step] = Step::punch;
        slot.steps[slot.step + 1] = Step::allocate;
        ++slot.step_count;
        return true;
    }
    return false;
}

bool UringBackend::next_step(std::uint32_t index) {
    Slot& slot = slots_[index];
    if (++slot.step == slot.step_count) {
        finish(index, 0);
        return true;
    }
    continue_step(index);
    return false;
}

void UringBackend::continue_step(std::uint32_t index) {
    if (start_step(index)) return;
    ++stats_.stalled_steps;
    stalled_.push_back(index);  // reserved: never allocates
}

void UringBackend::finish(std::uint32_t index, int status) {
    Slot& slot = slots_[index];
    CompletionHandler& handler = *slot.handler;
    const std::uint64_t cookie = slot.cookie;
    slot.device->operation_finished();
    free_.push_back(index);
    ++stats_.completed;
    // Last: the handler may submit again or destroy the device.
    handler.on_storage_complete(cookie, status);
}

}  // namespace ibnbd::storage::uring
