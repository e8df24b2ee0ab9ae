// The ublk uapi as ibnbd uses it (linux/ublk_cmd.h, Linux 6.0+). Debian 12's header predates the
// ioctl-encoded command numbers, which every kernel since 6.4 accepts and which are the only ones a
// kernel without CONFIG_BLKDEV_UBLK_LEGACY_OPCODES takes: they are defined here when missing.
#pragma once

#include <linux/ioctl.h>
#include <linux/ublk_cmd.h>

#include <cstddef>
#include <cstdint>

namespace ibnbd::ublk {

// Older headers lack the queue count limit (the kernel's UBLK_QID_BITS is 12).
#ifndef UBLK_MAX_NR_QUEUES
#define UBLK_MAX_NR_QUEUES (1U << 12)
#endif

inline constexpr unsigned kCmdType = 'u';
inline constexpr std::uint32_t ctrl_op(unsigned nr, bool read_only) {
    return read_only ? _IOR(kCmdType, nr, struct ublksrv_ctrl_cmd) : _IOWR(kCmdType, nr, struct ublksrv_ctrl_cmd);
}
inline constexpr std::uint32_t io_op(unsigned nr) { return _IOWR(kCmdType, nr, struct ublksrv_io_cmd); }

inline constexpr std::uint32_t kCmdGetDevInfo = ctrl_op(UBLK_CMD_GET_DEV_INFO, true);
inline constexpr std::uint32_t kCmdAddDev = ctrl_op(UBLK_CMD_ADD_DEV, false);
inline constexpr std::uint32_t kCmdDelDev = ctrl_op(UBLK_CMD_DEL_DEV, false);
inline constexpr std::uint32_t kCmdStartDev = ctrl_op(UBLK_CMD_START_DEV, false);
inline constexpr std::uint32_t kCmdStopDev = ctrl_op(UBLK_CMD_STOP_DEV, false);
inline constexpr std::uint32_t kCmdSetParams = ctrl_op(UBLK_CMD_SET_PARAMS, false);
// Linux 6.9+: delete without waiting for the device's last opener to close it.
inline constexpr std::uint32_t kCmdDelDevAsync = ctrl_op(0x14, true);
inline constexpr std::uint32_t kIoFetchReq = io_op(UBLK_IO_FETCH_REQ);
inline constexpr std::uint32_t kIoCommitAndFetchReq = io_op(UBLK_IO_COMMIT_AND_FETCH_REQ);

// The driver's mmap of a queue's IO descriptors: queue q starts at q × the size of the largest
// queue's array, page aligned (the kernel's ublk_max_cmd_buf_size()).
inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::size_t round_to_page(std::size_t bytes) { return (bytes + kPageSize - 1) / kPageSize * kPageSize; }
inline constexpr std::size_t descriptors_bytes(std::size_t depth) { return round_to_page(depth * sizeof(ublksrv_io_desc)); }
inline constexpr std::size_t descriptors_offset(std::size_t queue) {
    return UBLKSRV_CMD_BUF_OFFSET + queue * descriptors_bytes(UBLK_MAX_QUEUE_DEPTH);
}

static_assert(sizeof(ublksrv_ctrl_cmd) == 32);
static_assert(sizeof(ublksrv_io_cmd) == 16, "an IO command fits the 16 bytes of a plain 64-byte SQE");
static_assert(sizeof(ublksrv_io_desc) == 24);

}  // namespace ibnbd::ublk
