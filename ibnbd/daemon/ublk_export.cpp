#include "ibnbd/daemon/ublk_export.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <future>

#include "core/log.hpp"
#include "ibnbd/daemon/block_device_target.hpp"
#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/ublk/ublk_queue.hpp"

namespace ibnbd::daemon {

namespace {

// A reactor answers a task in microseconds; this only bounds a daemon that is going down.
constexpr auto kReactorTaskDeadline = std::chrono::seconds(30);

// Runs `task` on `reactor` and waits for its status (-ETIMEDOUT when the reactor never ran it).
int run_on(runtime::Reactor& reactor, std::function<int()> task) {
    auto answer = std::make_shared<std::promise<int>>();
    std::future<int> status = answer->get_future();
    reactor.post_message([answer, task = std::move(task)] { answer->set_value(task()); });
    if (status.wait_for(kReactorTaskDeadline) != std::future_status::ready) return -ETIMEDOUT;
    return status.get();
}

}  // namespace

struct UblkExport::Queue {
    runtime::Reactor* reactor = nullptr;
    std::unique_ptr<BlockDeviceTarget> target;
    std::unique_ptr<ublk::UblkQueue> queue;
};

UblkExport::UblkExport(runtime::Reactor& home, std::vector<Shard> shards, ublk::DeviceShape shape)
    : home_(home), shards_(std::move(shards)), shape_(shape) {}

UblkExport::~UblkExport() {
    join();
    // Not stopped (the daemon is going down without its stop): the queues go on their reactors,
    // and the kernel stops the disk once this process is gone.
    for (auto& queue : queues_) {
        if (!queue || !queue->queue) continue;
        Queue* left = queue.release();
        left->reactor->post_message([left] {
            left->reactor->remove(*left->queue);
            delete left;
        });
    }
    if (char_fd_ >= 0) ::close(char_fd_);
}

void UblkExport::join() {
    if (worker_.joinable()) worker_.join();
}

std::string UblkExport::block_device() const {
    return dev_id_ >= 0 ? ublk::block_device_path(static_cast<std::uint32_t>(dev_id_)) : std::string();
}

UblkExport::QueueTotals UblkExport::totals() const {
    QueueTotals totals;
    if (!live_) return totals;  // queues change only while not live
    for (const auto& queue : queues_) {
        const ublk::QueueCounters& counters = queue->queue->counters();
        totals.requests += counters.requests.get();
        totals.errors += counters.errors.get();
        totals.busy += counters.busy.get();
    }
    return totals;
}

void UblkExport::finish(Done done, int status, std::string why) {
    home_.post_message([this, done = std::move(done), status, why = std::move(why)] {
        join();
        live_ = char_fd_ >= 0;  // started, or a stop refused before it began
        done(status, why);
    });
}

void UblkExport::start(Done done) {
    join();
    info_ = BlockDeviceTarget(*shards_.front().device).info();  // the session's thread reads shard 0
    worker_ = std::thread([this, done = std::move(done)]() mutable {
        std::string why;
        const int status = run_start(why);
        if (status != 0) undo_start();
        finish(std::move(done), status, std::move(why));
    });
}

int UblkExport::run_start(std::string& why) {
    auto control = ublk::UblkControl::open();
    if (!control) {
        why = control.error() == -ENOENT
                  ? std::string(ublk::kControlPath) + " does not exist: load ublk_drv (modprobe ublk_drv; Linux 6.0 or later)"
                  : "cannot open " + std::string(ublk::kControlPath) + ": " + errno_text(control.error());
        return control.error();
    }
    control_ = std::move(control.value());
    auto wanted = ublk::make_device_info(shape_, ublk::owner_tag(::getpid()), why);
    if (!wanted) return wanted.error();
    auto params = ublk::make_params(info_, why);
    if (!params) return params.error();
    auto added = control_->add_device(*wanted);
    if (!added) {
        why = "the kernel refused a new ublk device: " + errno_text(added.error()) +
              (added.error() == -EPERM ? " (adding one needs CAP_SYS_ADMIN)" : "");
        return added.error();
    }
    dev_id_ = added->dev_id;
    if (auto set = control_->set_params(added->dev_id, *params); !set) {
        why = "the kernel refused the device's limits: " + errno_text(set.error());
        return set.error();
    }
    const std::string char_path = ublk::char_device_path(added->dev_id);
    for (int attempt = 0; attempt < 200 && char_fd_ < 0; ++attempt) {  // devtmpfs creates it at once; udev may lag
        char_fd_ = ::open(char_path.c_str(), O_RDWR | O_CLOEXEC);
        if (char_fd_ < 0 && errno != ENOENT) break;
        if (char_fd_ < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (char_fd_ < 0) {
        const int error = errno;
        why = "cannot open " + char_path + ": " + errno_text(-error);
        return -error;
    }
    if (const int status = set_up_queues(why); status != 0) return status;
    if (auto started = control_->start(added->dev_id, ::getpid()); !started) {
        why = "the kernel did not start " + block_device() + ": " + errno_text(started.error());
        return started.error();
    }
    log().info("ublk: {} started: {} queue(s) of depth {}, {} bytes", block_device(), shape_.queues, shape_.depth,
               info_.size);
    return 0;
}

void UblkExport::undo_start() {
    if (dev_id_ < 0) return;
    const auto id = static_cast<std::uint32_t>(dev_id_);
    (void)control_->stop(id);  // gives back the tags the queues fetched
    tear_down_queues();
    if (char_fd_ >= 0) ::close(char_fd_);
    char_fd_ = -1;
    (void)control_->remove(id);
    dev_id_ = -1;
}

int UblkExport::set_up_queues(std::string& why) {
    queues_.resize(shards_.size());
    for (std::size_t index = 0; index < shards_.size(); ++index) {
        queues_[index] = std::make_unique<Queue>();
        Queue& queue = *queues_[index];
        queue.reactor = shards_[index].reactor;
        block::DeviceIo& device = *shards_[index].device;
        const int status = run_on(*queue.reactor, [this, &queue, &device, index] {
            queue.target = std::make_unique<BlockDeviceTarget>(device);  // reads the copy: its thread
            auto created = ublk::UblkQueue::create(char_fd_, static_cast<std::uint16_t>(index), shape_.depth,
                                                   shape_.max_io_bytes, *queue.target);
            if (!created) return created.error();
            if (auto started = (*created)->start(); !started) return started.error();
            queue.queue = std::move(created.value());
            queue.reactor->add(*queue.queue);
            return 0;
        });
        if (status != 0) {
            why = "cannot set up queue " + std::to_string(index) + ": " + errno_text(status);
            return status;
        }
    }
    return 0;
}

void UblkExport::tear_down_queues() {
    for (auto& queue : queues_) {
        if (!queue) continue;
        Queue* torn = queue.get();
        const int status = run_on(*torn->reactor, [torn] {
            if (torn->queue) torn->reactor->remove(*torn->queue);
            torn->queue.reset();
            torn->target.reset();
            return 0;
        });
        if (status != 0) {
            log().error("ublk: a queue of {} was not torn down: {}", block_device(), errno_text(status));
            (void)queue.release();  // its reactor may still run the task: leak rather than race
            continue;
        }
        queue.reset();
    }
    queues_.clear();
}

void UblkExport::invalidate() {
    for (auto& queue : queues_) {
        Queue* target_of = queue.get();
        if (target_of->reactor == &home_) {
            if (target_of->target) target_of->target->invalidate();
            continue;
        }
        target_of->reactor->post_message([target_of] {
            if (target_of->target) target_of->target->invalidate();
        });
    }
}

void UblkExport::stop(bool force, Done done) {
    join();
    live_ = false;
    worker_ = std::thread([this, force, done = std::move(done)]() mutable {
        std::string why;
        const int status = run_stop(force, why);
        finish(std::move(done), status, std::move(why));
    });
}

int UblkExport::run_stop(bool force, std::string& why) {
    if (dev_id_ < 0) return 0;
    const auto id = static_cast<std::uint32_t>(dev_id_);
    if (!force) {
        if (const std::string users = ublk::block_device_users(id); !users.empty()) {
            why = block_device() + " is " + users + "; unmount or close it, or use --force";
            return -EBUSY;
        }
    }
    if (auto stopped = control_->stop(id); !stopped) {
        log().warn("ublk: stopping {}: {}", block_device(), errno_text(stopped.error()));
    }
    tear_down_queues();
    ::close(char_fd_);
    char_fd_ = -1;
    if (auto removed = control_->remove(id); !removed) {
        why = "cannot delete " + ublk::char_device_path(id) + ": " + errno_text(removed.error());
        return removed.error();
    }
    log().info("ublk: {} deleted", block_device());
    dev_id_ = -1;
    return 0;
}

}  // namespace ibnbd::daemon
