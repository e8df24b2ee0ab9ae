// What the kernel is told about a ublk device: its shape (queues, depth, IO buffer size) for
// ADD_DEV and its limits for SET_PARAMS, both from an export's ExportInfo, i.e. from the IBNBD
// OPEN response (sizes, max IO, discard / write-zeroes, write-back cache and FUA).
//
// LIMITS  the logical block size must be a power of two from 512 to 4096 (the kernel's page) and
//         the largest IO at least 4 KiB; queue depth 1..4096 and 1..4096 queues (UBLK_MAX_*).
// OWNER   every device ibnbd adds carries an owner tag in ublksrv_flags (a field the driver keeps
//         for its server and never reads): a marker and the adding process's pid, so that a later
//         daemon recognises devices a crashed one left behind (ublk_control.hpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "fabric/expected.hpp"
#include "ibnbd/export_target.hpp"
#include "ibnbd/ublk/ublk_uapi.hpp"

namespace ibnbd::ublk {

struct DeviceShape {
    std::uint32_t queues = 1;
    std::uint32_t depth = 128;
    std::uint32_t max_io_bytes = 128 * 1024;
};

// -EINVAL with `why` filled when the shape or the limits cannot be given to the kernel.
Expected<ublksrv_ctrl_dev_info, int> make_device_info(const DeviceShape& shape, std::uint64_t owner, std::string& why);
Expected<ublk_params, int> make_params(const block::ExportInfo& info, std::string& why);

std::uint64_t owner_tag(pid_t pid);
bool is_ibnbd_owner(std::uint64_t tag);
pid_t owner_pid(std::uint64_t tag);

}  // namespace ibnbd::ublk
