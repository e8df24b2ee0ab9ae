#include "ibnbd/ublk/ublk_params.hpp"

#include <bit>
#include <cerrno>

namespace ibnbd::ublk {

namespace {

constexpr std::uint64_t kOwnerMarker = 0x1b4bdull << 32;  // "ibnbd", roughly
constexpr std::uint64_t kMarkerMask = 0xffffffffull << 32;
constexpr std::uint32_t kSectorShift = 9;

std::uint8_t shift_of(std::uint32_t power_of_two) { return static_cast<std::uint8_t>(std::countr_zero(power_of_two)); }

}  // namespace

Expected<ublksrv_ctrl_dev_info, int> make_device_info(const DeviceShape& shape, std::uint64_t owner, std::string& why) {
    if (shape.queues == 0 || shape.queues > UBLK_MAX_NR_QUEUES) {
        why = "ublk takes 1.." + std::to_string(UBLK_MAX_NR_QUEUES) + " queues, not " + std::to_string(shape.queues);
        return unexpected(-EINVAL);
    }
    if (shape.depth == 0 || shape.depth > UBLK_MAX_QUEUE_DEPTH) {
        why = "ublk takes a queue depth of 1.." + std::to_string(UBLK_MAX_QUEUE_DEPTH) + ", not " + std::to_string(shape.depth);
        return unexpected(-EINVAL);
    }
    if (shape.max_io_bytes < kPageSize) {
        why = "the device's largest IO (" + std::to_string(shape.max_io_bytes) + " bytes) is below ublk's 4 KiB minimum";
        return unexpected(-EINVAL);
    }
    ublksrv_ctrl_dev_info info{};
    info.nr_hw_queues = static_cast<std::uint16_t>(shape.queues);
    info.queue_depth = static_cast<std::uint16_t>(shape.depth);
    info.max_io_buf_bytes = shape.max_io_bytes;
    info.dev_id = ~0u;  // the driver picks
    info.ublksrv_flags = owner;
    return info;
}

Expected<ublk_params, int> make_params(const block::ExportInfo& info, std::string& why) {
    const std::uint32_t logical = info.block_size;
    if (!std::has_single_bit(logical) || logical < 512 || logical > kPageSize) {
        why = "logical block size " + std::to_string(logical) + " is not a power of two from 512 to 4096";
        return unexpected(-EINVAL);
    }
    const std::uint32_t physical = std::has_single_bit(info.physical_block_size) && info.physical_block_size >= logical
                                       ? info.physical_block_size
                                       : logical;
    if (info.max_io < kPageSize || info.size % logical != 0) {
        why = "largest IO " + std::to_string(info.max_io) + " bytes (ublk needs 4 KiB or more) or size " +
              std::to_string(info.size) + " not a multiple of the block size";
        return unexpected(-EINVAL);
    }
    ublk_params params{};
    params.len = sizeof(params);
    params.types = UBLK_PARAM_TYPE_BASIC;
    ublk_param_basic& basic = params.basic;
    basic.logical_bs_shift = shift_of(logical);
    basic.physical_bs_shift = shift_of(physical);
    basic.io_min_shift = basic.physical_bs_shift;
    basic.io_opt_shift = basic.physical_bs_shift;
    basic.max_sectors = info.max_io >> kSectorShift;
    basic.dev_sectors = info.size >> kSectorShift;
    if (info.read_only) basic.attrs |= UBLK_ATTR_READ_ONLY;
    if (info.flush) basic.attrs |= UBLK_ATTR_VOLATILE_CACHE;
    if (info.flush && info.fua) basic.attrs |= UBLK_ATTR_FUA;
    if (info.max_trim != 0 || info.max_zeroes != 0) {
        params.types |= UBLK_PARAM_TYPE_DISCARD;
        ublk_param_discard& discard = params.discard;
        discard.discard_granularity = info.trim_granularity != 0 ? info.trim_granularity : logical;
        discard.max_discard_sectors = info.max_trim >> kSectorShift;
        discard.max_write_zeroes_sectors = info.max_zeroes >> kSectorShift;
        discard.max_discard_segments = 1;  // one range per request, as an IBNBD discard carries
    }
    return params;
}

std::uint64_t owner_tag(pid_t pid) { return kOwnerMarker | static_cast<std::uint32_t>(pid); }
bool is_ibnbd_owner(std::uint64_t tag) { return (tag & kMarkerMask) == kOwnerMarker; }
pid_t owner_pid(std::uint64_t tag) { return static_cast<pid_t>(tag & 0xffffffffu); }

}  // namespace ibnbd::ublk
