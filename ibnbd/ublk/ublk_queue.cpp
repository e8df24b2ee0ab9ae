#include "ibnbd/ublk/ublk_queue.hpp"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace ibnbd::ublk {

namespace {

constexpr std::uint32_t kSectorShift = 9;

}  // namespace

Expected<std::unique_ptr<UblkQueue>, int> UblkQueue::create(int char_fd, std::uint16_t queue, std::uint32_t depth,
                                                           std::uint32_t max_io_bytes, block::ExportTarget& target) {
    if (depth == 0 || depth > UBLK_MAX_QUEUE_DEPTH || max_io_bytes == 0) return unexpected(-EINVAL);
    std::unique_ptr<UblkQueue> created(new UblkQueue(char_fd, queue, depth, max_io_bytes, target));
    if (const int error = created->map_memory(); error != 0) return unexpected(error);
    if (const int error = created->init_ring(); error != 0) return unexpected(error);
    return created;
}

UblkQueue::UblkQueue(int char_fd, std::uint16_t queue, std::uint32_t depth, std::uint32_t max_io_bytes,
                     block::ExportTarget& target)
    : char_fd_(char_fd), queue_(queue), max_io_bytes_(max_io_bytes), target_(target), tags_(depth) {
    busy_.reserve(2 * std::size_t{depth});  // the retried ones and those refused again
}

int UblkQueue::map_memory() {
    void* descriptors = ::mmap(nullptr, descriptors_bytes(tags_.size()), PROT_READ, MAP_SHARED | MAP_POPULATE, char_fd_,
                               static_cast<off_t>(descriptors_offset(queue_)));
    if (descriptors == MAP_FAILED) return -errno;
    descriptors_ = static_cast<const ublksrv_io_desc*>(descriptors);
    // Pages are touched only as IO of that size comes: a deep queue of large IOs costs what it uses.
    void* buffers = ::mmap(nullptr, tags_.size() * std::size_t{max_io_bytes_}, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (buffers == MAP_FAILED) return -errno;
    buffers_ = static_cast<std::byte*>(buffers);
    return 0;
}

int UblkQueue::init_ring() {
    event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0) return -errno;
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE;  // one command per tag at most: neither queue overflows
    params.cq_entries = static_cast<unsigned>(2 * tags_.size());
    if (const int error = io_uring_queue_init_params(static_cast<unsigned>(tags_.size()), &ring_, &params); error < 0) {
        return error;
    }
    ring_ready_ = true;
    if (const int error = io_uring_register_eventfd(&ring_, event_fd_); error < 0) return error;
    return 0;
}

UblkQueue::~UblkQueue() {
    if (ring_ready_) io_uring_queue_exit(&ring_);  // cancels what the kernel still holds
    if (event_fd_ >= 0) ::close(event_fd_);
    if (buffers_ != nullptr) ::munmap(buffers_, tags_.size() * std::size_t{max_io_bytes_});
    if (descriptors_ != nullptr) ::munmap(const_cast<ublksrv_io_desc*>(descriptors_), descriptors_bytes(tags_.size()));
}

Status<int> UblkQueue::start() {
    for (std::size_t tag = 0; tag < tags_.size(); ++tag) {
        assert(tags_[tag].state == TagState::idle);
        prep_command(kIoFetchReq, static_cast<std::uint16_t>(tag), 0);
        tags_[tag].state = TagState::fetching;
    }
    if (const int submitted = io_uring_submit(&ring_); submitted < 0) return unexpected(submitted);
    return {};
}

void UblkQueue::prep_command(std::uint32_t op, std::uint16_t tag, int result) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    assert(sqe != nullptr);  // the SQ has a slot per tag and a tag has one command at a time
    std::memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = char_fd_;
    sqe->cmd_op = op;
    io_uring_sqe_set_data64(sqe, tag);
    ublksrv_io_cmd command{};
    command.q_id = queue_;
    command.tag = tag;
    command.result = result;
    command.addr = reinterpret_cast<std::uintptr_t>(buffer(tag));
    std::memcpy(sqe->cmd, &command, sizeof(command));
}

// No system call unless there is work: the completion queue is shared memory, and the eventfd
// is drained only before the reactor sleeps on it.
std::size_t UblkQueue::poll(std::size_t budget) {
    std::size_t handled = 0;
    const std::size_t retries = busy_.size();
    for (std::size_t i = 0; i < retries; ++i) serve(busy_[i]);  // may queue a tag again, behind
    busy_.erase(busy_.begin(), busy_.begin() + static_cast<std::ptrdiff_t>(retries));
    for (; handled < budget; ++handled) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_peek_cqe(&ring_, &cqe) != 0 || cqe == nullptr) break;
        const auto tag = static_cast<std::uint16_t>(io_uring_cqe_get_data64(cqe));
        const int result = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        on_kernel(tag, result);
    }
    if (io_uring_sq_ready(&ring_) > 0) (void)io_uring_submit(&ring_);
    return handled;
}

bool UblkQueue::prepare_sleep() {
    eventfd_t ignored = 0;
    (void)::eventfd_read(event_fd_, &ignored);  // -EAGAIN when already empty; a later CQE signals again
    // Commits prepared by completions after this queue's poll in the round are not submitted yet.
    return io_uring_sq_ready(&ring_) == 0 && busy_.empty() && io_uring_cq_ready(&ring_) == 0;
}

void UblkQueue::on_kernel(std::uint16_t tag, int result) {
    assert(tag < tags_.size() && tags_[tag].state == TagState::fetching);
    if (result == UBLK_IO_RES_OK) {
        counters_.requests.add(1);
        tags_[tag].state = TagState::serving;
        return serve(tag);
    }
    // UBLK_IO_RES_ABORT: the device is stopping; anything else is a command the kernel refused.
    if (result != UBLK_IO_RES_ABORT) log().error("ublk: queue {} tag {}: the kernel refused a command: {}", queue_, tag,
                                                std::strerror(-result));
    tags_[tag].state = TagState::aborted;
    ++aborted_;
}

void UblkQueue::serve(std::uint16_t tag) {
    const ublksrv_io_desc& request = descriptors_[tag];
    auto started = start_on_target(tag, request);
    if (started) return;
    if (started.error() == -EAGAIN) {
        counters_.busy.add(1);
        tags_[tag].state = TagState::busy;
        busy_.push_back(tag);
        return;
    }
    commit(tag, started.error());
}

Status<int> UblkQueue::start_on_target(std::uint16_t tag, const ublksrv_io_desc& request) {
    const std::uint32_t op = request.op_flags & 0xff;
    const std::uint32_t flags = request.op_flags;  // UBLK_IO_F_* are bits of the whole word
    const std::uint64_t offset = request.start_sector << kSectorShift;
    const std::uint64_t length = std::uint64_t{request.nr_sectors} << kSectorShift;
    tags_[tag].state = TagState::serving;
    tags_[tag].length = static_cast<std::uint32_t>(length);
    if ((op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) && length > max_io_bytes_) return unexpected(-EINVAL);
    switch (op) {
        case UBLK_IO_OP_READ:
            return target_.read(offset, {buffer(tag), length}, *this, tag);
        case UBLK_IO_OP_WRITE:
            return target_.write(offset, {buffer(tag), length}, (flags & UBLK_IO_F_FUA) != 0, *this, tag);
        case UBLK_IO_OP_FLUSH:
            return target_.flush(*this, tag);
        case UBLK_IO_OP_DISCARD:
            return target_.trim(offset, static_cast<std::uint32_t>(length), *this, tag);
        case UBLK_IO_OP_WRITE_ZEROES:
            return target_.write_zeroes(offset, static_cast<std::uint32_t>(length), (flags & UBLK_IO_F_NOUNMAP) != 0,
                                        *this, tag);
        default:
            return unexpected(-EOPNOTSUPP);
    }
}

void UblkQueue::on_block_io_complete(std::uint64_t cookie, int status) {
    const auto tag = static_cast<std::uint16_t>(cookie);
    assert(tag < tags_.size() && tags_[tag].state == TagState::serving);
    commit(tag, status < 0 ? status : static_cast<int>(tags_[tag].length));
}

void UblkQueue::commit(std::uint16_t tag, int result) {
    if (result < 0) counters_.errors.add(1);
    if (result == -ETIMEDOUT) result = -EIO;  // else the block layer would say "timed out" (header)
    prep_command(kIoCommitAndFetchReq, tag, result);
    tags_[tag].state = TagState::fetching;
}

}  // namespace ibnbd::ublk
