#include "ibnbd/ublk/ublk_control.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ibnbd/ublk/ublk_params.hpp"

namespace ibnbd::ublk {

std::string block_device_path(std::uint32_t dev_id) { return "/dev/ublkb" + std::to_string(dev_id); }
std::string char_device_path(std::uint32_t dev_id) { return "/dev/ublkc" + std::to_string(dev_id); }

Expected<std::unique_ptr<UblkControl>, int> UblkControl::open() {
    const int fd = ::open(kControlPath, O_RDWR | O_CLOEXEC);
    if (fd < 0) return unexpected(-errno);
    std::unique_ptr<UblkControl> control(new UblkControl(fd));
    io_uring_params params{};
    params.flags = IORING_SETUP_SQE128;
    if (const int error = io_uring_queue_init_params(4, &control->ring_, &params); error < 0) return unexpected(error);
    control->ring_ready_ = true;
    return control;
}

UblkControl::~UblkControl() {
    if (ring_ready_) io_uring_queue_exit(&ring_);
    ::close(fd_);
}

Expected<int, int> UblkControl::run(std::uint32_t op, std::uint32_t dev_id, void* buffer, std::uint16_t length,
                                    std::uint64_t data0) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return unexpected(-EBUSY);  // one command at a time: never
    std::memset(sqe, 0, 2 * sizeof(io_uring_sqe));  // an SQE128 slot
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = fd_;
    sqe->cmd_op = op;
    ublksrv_ctrl_cmd command{};
    command.dev_id = dev_id;
    command.queue_id = 0xffff;  // not a queue command
    command.addr = reinterpret_cast<std::uintptr_t>(buffer);
    command.len = length;
    command.data[0] = data0;
    std::memcpy(sqe->cmd, &command, sizeof(command));
    int submitted = io_uring_submit_and_wait(&ring_, 1);
    while (submitted == -EINTR) submitted = io_uring_submit_and_wait(&ring_, 1);
    if (submitted < 0) return unexpected(submitted);
    io_uring_cqe* cqe = nullptr;
    int waited = io_uring_wait_cqe(&ring_, &cqe);
    while (waited == -EINTR) waited = io_uring_wait_cqe(&ring_, &cqe);
    if (waited < 0) return unexpected(waited);
    const int result = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    if (result < 0) return unexpected(result);
    return result;
}

Expected<ublksrv_ctrl_dev_info, int> UblkControl::add_device(const ublksrv_ctrl_dev_info& wanted) {
    ublksrv_ctrl_dev_info info = wanted;
    auto added = run(kCmdAddDev, wanted.dev_id, &info, sizeof(info));
    if (!added) return unexpected(added.error());
    return info;
}

Expected<ublksrv_ctrl_dev_info, int> UblkControl::device_info(std::uint32_t dev_id) {
    ublksrv_ctrl_dev_info info{};
    auto got = run(kCmdGetDevInfo, dev_id, &info, sizeof(info));
    if (!got) return unexpected(got.error());
    return info;
}

Status<int> UblkControl::set_params(std::uint32_t dev_id, const ublk_params& params) {
    ublk_params copy = params;
    if (auto set = run(kCmdSetParams, dev_id, &copy, sizeof(copy)); !set) return unexpected(set.error());
    return {};
}

Status<int> UblkControl::start(std::uint32_t dev_id, pid_t server) {
    if (auto started = run(kCmdStartDev, dev_id, nullptr, 0, static_cast<std::uint64_t>(server)); !started) {
        return unexpected(started.error());
    }
    return {};
}

Status<int> UblkControl::stop(std::uint32_t dev_id) {
    if (auto stopped = run(kCmdStopDev, dev_id, nullptr, 0); !stopped) return unexpected(stopped.error());
    return {};
}

Status<int> UblkControl::remove(std::uint32_t dev_id) {
    auto removed = run(kCmdDelDevAsync, dev_id, nullptr, 0);
    if (!removed && (removed.error() == -EOPNOTSUPP || removed.error() == -EINVAL)) {
        removed = run(kCmdDelDev, dev_id, nullptr, 0);  // an older kernel
    }
    if (!removed) return unexpected(removed.error());
    return {};
}

std::vector<std::uint32_t> UblkControl::device_ids() {
    std::vector<std::uint32_t> ids;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/sys/class/ublk-char", error)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("ublkc", 0) != 0) continue;
        char* end = nullptr;
        const unsigned long id = std::strtoul(name.c_str() + 5, &end, 10);
        if (end != name.c_str() + 5 && *end == '\0') ids.push_back(static_cast<std::uint32_t>(id));
    }
    return ids;
}

namespace {

bool process_runs(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

}  // namespace

std::string remove_orphans(UblkControl& control) {
    std::string report;
    for (const std::uint32_t id : UblkControl::device_ids()) {
        auto info = control.device_info(id);
        if (!info || !is_ibnbd_owner(info->ublksrv_flags) || process_runs(owner_pid(info->ublksrv_flags))) continue;
        (void)control.stop(id);  // a live device of a dead server: its disk goes first
        if (auto deleted = control.remove(id); !deleted) {
            report += "cannot delete " + char_device_path(id) + " (left by pid " +
                      std::to_string(owner_pid(info->ublksrv_flags)) + "): " + std::strerror(-deleted.error()) + "; ";
            continue;
        }
        report += "deleted " + char_device_path(id) + " left by pid " + std::to_string(owner_pid(info->ublksrv_flags)) + "; ";
    }
    return report;
}

std::string block_device_users(std::uint32_t dev_id) {
    const std::string path = block_device_path(dev_id);
    struct stat device {};
    if (::stat(path.c_str(), &device) != 0) return {};
    const int exclusive = ::open(path.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
    if (exclusive < 0 && errno == EBUSY) return "held exclusively (mounted, or used by device mapper or md)";
    if (exclusive >= 0) ::close(exclusive);
    const std::string self = std::to_string(::getpid());
    std::error_code error;
    for (const auto& process : std::filesystem::directory_iterator("/proc", error)) {
        const std::string pid = process.path().filename().string();
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
        std::error_code fd_error;
        for (const auto& fd : std::filesystem::directory_iterator(process.path() / "fd", fd_error)) {
            struct stat opened {};
            if (::stat(fd.path().c_str(), &opened) == 0 && S_ISBLK(opened.st_mode) && opened.st_rdev == device.st_rdev) {
                return "open by pid " + pid;
            }
        }
    }
    return {};
}

}  // namespace ibnbd::ublk
