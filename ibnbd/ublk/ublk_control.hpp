// The ublk control device (/dev/ublk-control): adding, starting, stopping and deleting ublk
// devices, through an io_uring of 128-byte SQEs (the control commands do not fit a plain one).
//
// BLOCKING   every call waits for the kernel. START_DEV returns only after the device's queues
//            have served the partition scan, and STOP_DEV only after the IO in flight completed:
//            never call them on a reactor that drives one of the device's queues (use a thread of
//            its own; daemon/ublk_export.hpp does).
// PRIVILEGE  adding a device needs CAP_SYS_ADMIN (ibnbd does not add unprivileged devices).
// ERRORS     open(): -ENOENT (no /dev/ublk-control: ublk_drv not loaded or Linux < 6.0), -EACCES,
//            or the io_uring setup's error; the commands: the kernel's negative errno.
#pragma once

#include <liburing.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fabric/expected.hpp"
#include "ibnbd/ublk/ublk_uapi.hpp"

namespace ibnbd::ublk {

inline constexpr const char* kControlPath = "/dev/ublk-control";
std::string block_device_path(std::uint32_t dev_id);  // /dev/ublkbN
std::string char_device_path(std::uint32_t dev_id);   // /dev/ublkcN

class UblkControl {
public:
    static Expected<std::unique_ptr<UblkControl>, int> open();
    ~UblkControl();
    UblkControl(const UblkControl&) = delete;
    UblkControl& operator=(const UblkControl&) = delete;

    // Returns the device as the kernel added it (dev_id and the feature flags filled in).
    Expected<ublksrv_ctrl_dev_info, int> add_device(const ublksrv_ctrl_dev_info& wanted);
    Expected<ublksrv_ctrl_dev_info, int> device_info(std::uint32_t dev_id);
    Status<int> set_params(std::uint32_t dev_id, const ublk_params& params);
    Status<int> start(std::uint32_t dev_id, pid_t server);
    Status<int> stop(std::uint32_t dev_id);
    // Deletes the device without waiting for a process that still holds the stopped /dev/ublkbN
    // open (its number stays taken until it closes); kernels before 6.9 lack that and wait.
    Status<int> remove(std::uint32_t dev_id);

    // The ids of every ublk device (from /sys/class/ublk-char).
    static std::vector<std::uint32_t> device_ids();

private:
    UblkControl(int fd) : fd_(fd) {}
    Expected<int, int> run(std::uint32_t op, std::uint32_t dev_id, void* buffer, std::uint16_t length,
                           std::uint64_t data0 = 0);

    int fd_;
    io_uring ring_{};
    bool ring_ready_ = false;
};

// Deletes the devices that an ibnbd process left when it died (its owner tag names a pid that no
// longer runs): without a server their IO fails, and their ids stay taken. Any thread but a
// reactor. Returns what it did ("deleted /dev/ublkcN left by pid P; ..."), empty when nothing.
std::string remove_orphans(UblkControl& control);

// Who holds /dev/ublkbN open: an exclusive holder (a mounted file system, device mapper), or a
// process with it open (found through /proc/PID/fd). Empty: nobody. Any thread but a reactor (an
// open of a block device may flush it).
std::string block_device_users(std::uint32_t dev_id);

}  // namespace ibnbd::ublk
