#include "bench/ibnbd_bench/engine_block.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ibnbd::bench {

namespace {

std::string errno_text(int error) { return std::strerror(error < 0 ? -error : error); }

class BlockEngine final : public Engine {
public:
    BlockEngine(const BlockTarget& target, CompletionList& done) : target_(target), done_(done) {}
    ~BlockEngine() override { close(); }

    Expected<Geometry, std::string> open(const EngineSetup& setup) override {
        fd_ = ::open(target_.path.c_str(), (setup.writable ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
        if (fd_ < 0) return unexpected("cannot open " + target_.path + ": " + errno_text(errno));
        Geometry geometry;
        struct stat status {};
        if (::fstat(fd_, &status) != 0) return unexpected("cannot stat " + target_.path + ": " + errno_text(errno));
        if (S_ISBLK(status.st_mode)) {
            int sector = 512;
            if (::ioctl(fd_, BLKGETSIZE64, &geometry.size) != 0 || ::ioctl(fd_, BLKSSZGET, &sector) != 0) {
                return unexpected("cannot read the size of " + target_.path + ": " + errno_text(errno));
            }
            geometry.block_size = static_cast<std::uint32_t>(sector);
        } else {
            geometry.size = static_cast<std::uint64_t>(status.st_size);
        }
        const unsigned entries = setup.jobs * setup.slots_per_job;
        slots_per_job_ = setup.slots_per_job;
        lengths_.assign(entries, 0);
        if (const int error = io_uring_queue_init(entries, &ring_, 0); error < 0) {
            return unexpected("io_uring_queue_init: " + errno_text(error));
        }
        ring_ready_ = true;
        geometry.description = "io_uring, O_DIRECT on " + target_.path;
        return geometry;
    }

    int submit(std::uint32_t job, std::uint32_t slot, const IoSpec& io, std::byte* buffer) override {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) return -EAGAIN;
        if (io.write) {
            io_uring_prep_write(sqe, fd_, buffer, io.length, io.offset);
        } else {
            io_uring_prep_read(sqe, fd_, buffer, io.length, io.offset);
        }
        io_uring_sqe_set_data64(sqe, (std::uint64_t{job} << 32) | slot);
        lengths_[std::size_t{job} * slots_per_job_ + slot] = io.length;
        const int submitted = io_uring_submit(&ring_);
        return submitted < 0 ? submitted : 0;
    }

    void poll(bool may_block) override {
        io_uring_cqe* cqe = nullptr;
        if (may_block) {
            __kernel_timespec wait{0, 2'000'000};
            if (io_uring_wait_cqe_timeout(&ring_, &cqe, &wait) != 0) return;
        }
        while (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {
            const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
            const auto job = static_cast<std::uint32_t>(tag >> 32);
            const auto slot = static_cast<std::uint32_t>(tag);
            // A short transfer is an error here: the runner asks only for ranges inside the device.
            const bool whole = cqe->res >= 0 && static_cast<std::uint32_t>(cqe->res) == lengths_[std::size_t{job} * slots_per_job_ + slot];
            const int status = cqe->res < 0 ? cqe->res : whole ? 0 : -EIO;
            io_uring_cqe_seen(&ring_, cqe);
            done_.push(job, slot, status);
        }
    }

    void close() override {
        if (ring_ready_) io_uring_queue_exit(&ring_);
        ring_ready_ = false;
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    const BlockTarget& target_;
    CompletionList& done_;
    int fd_ = -1;
    io_uring ring_{};
    bool ring_ready_ = false;
    std::uint32_t slots_per_job_ = 1;
    std::vector<std::uint32_t> lengths_;  // of the IO in each slot
};

}  // namespace

std::unique_ptr<Engine> make_block_engine(const BlockTarget& target, CompletionList& done) {
    return std::make_unique<BlockEngine>(target, done);
}

}  // namespace ibnbd::bench
