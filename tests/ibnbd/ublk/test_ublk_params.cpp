// What ibnbd tells the kernel about a ublk device (ibnbd/ublk/ublk_params.hpp): the limits of the
// IBNBD OPEN response become SET_PARAMS, the shape ADD_DEV, within the kernel's rules
// (drivers/block/ublk_drv.c: ublk_validate_params, ublk_ctrl_add_dev).
#define BOOST_TEST_MODULE ibnbd_ublk
#include <boost/test/unit_test.hpp>

#include "ibnbd/daemon/client_service.hpp"
#include "ibnbd/ublk/ublk_params.hpp"

using namespace ibnbd;

namespace {

block::ExportInfo volume() {
    block::ExportInfo info;
    info.size = 128ull << 20;
    info.block_size = 512;
    info.physical_block_size = 4096;
    info.max_io = 126976;
    info.max_trim = 1u << 20;
    info.max_zeroes = 2u << 20;
    info.trim_granularity = 4096;
    info.flush = true;
    info.fua = true;
    return info;
}

}  // namespace

BOOST_AUTO_TEST_CASE(limits_of_the_open_response_become_the_device_params) {
    std::string why;
    auto params = ublk::make_params(volume(), why);
    BOOST_REQUIRE_MESSAGE(params, why);
    BOOST_TEST(params->len == sizeof(ublk_params));
    BOOST_TEST(params->types == (UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD));
    BOOST_TEST(params->basic.logical_bs_shift == 9);
    BOOST_TEST(params->basic.physical_bs_shift == 12);
    BOOST_TEST(params->basic.max_sectors == 126976u / 512);
    BOOST_TEST(params->basic.dev_sectors == (128ull << 20) / 512);
    BOOST_TEST(params->basic.attrs == (UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA));
    BOOST_TEST(params->discard.max_discard_sectors == (1u << 20) / 512);
    BOOST_TEST(params->discard.max_write_zeroes_sectors == (2u << 20) / 512);
    BOOST_TEST(params->discard.discard_granularity == 4096u);
    BOOST_TEST(params->discard.max_discard_segments == 1);  // the kernel takes only 1 with discard
}

BOOST_AUTO_TEST_CASE(read_only_write_through_and_no_discard) {
    block::ExportInfo info = volume();
    info.read_only = true;
    info.flush = false;  // write-through: FUA means nothing and is not announced
    info.max_trim = 0;
    info.max_zeroes = 0;
    std::string why;
    auto params = ublk::make_params(info, why);
    BOOST_REQUIRE(params);
    BOOST_TEST(params->basic.attrs == UBLK_ATTR_READ_ONLY);
    BOOST_TEST(params->types == UBLK_PARAM_TYPE_BASIC);
}

BOOST_AUTO_TEST_CASE(write_zeroes_without_discard_still_needs_a_granularity) {
    block::ExportInfo info = volume();
    info.max_trim = 0;
    info.trim_granularity = 0;
    std::string why;
    auto params = ublk::make_params(info, why);
    BOOST_REQUIRE(params);
    BOOST_TEST(params->types == (UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD));
    BOOST_TEST(params->discard.max_discard_sectors == 0u);
    BOOST_TEST(params->discard.discard_granularity == 512u);  // the kernel refuses 0
}

BOOST_AUTO_TEST_CASE(a_physical_block_below_the_logical_one_is_the_logical_one) {
    block::ExportInfo info = volume();
    info.block_size = 4096;
    info.physical_block_size = 512;
    std::string why;
    auto params = ublk::make_params(info, why);
    BOOST_REQUIRE(params);
    BOOST_TEST(params->basic.logical_bs_shift == 12);
    BOOST_TEST(params->basic.physical_bs_shift == 12);
}

BOOST_AUTO_TEST_CASE(limits_the_kernel_cannot_take_are_refused_with_the_reason) {
    for (const std::uint32_t block_size : {0u, 256u, 1000u, 8192u}) {
        block::ExportInfo info = volume();
        info.block_size = block_size;
        std::string why;
        auto params = ublk::make_params(info, why);
        BOOST_TEST(!params);
        BOOST_TEST((!params && params.error() == -EINVAL));
        BOOST_TEST(why.find("logical block size") != std::string::npos);
    }
    block::ExportInfo small = volume();
    small.max_io = 2048;
    std::string why;
    BOOST_TEST(!ublk::make_params(small, why));
    BOOST_TEST(why.find("4 KiB") != std::string::npos);
    block::ExportInfo ragged = volume();
    ragged.size += 100;
    BOOST_TEST(!ublk::make_params(ragged, why));
}

BOOST_AUTO_TEST_CASE(device_shape_within_the_kernel_limits) {
    std::string why;
    auto info = ublk::make_device_info({4, 128, 126976}, ublk::owner_tag(4242), why);
    BOOST_REQUIRE_MESSAGE(info, why);
    BOOST_TEST(info->nr_hw_queues == 4);
    BOOST_TEST(info->queue_depth == 128);
    BOOST_TEST(info->max_io_buf_bytes == 126976u);
    BOOST_TEST(info->dev_id == ~0u);  // the driver picks the number
    BOOST_TEST(info->flags == 0u);    // no user recovery (ublk_export.hpp says why)
    for (const ublk::DeviceShape bad : {ublk::DeviceShape{0, 128, 1 << 20}, ublk::DeviceShape{4097, 128, 1 << 20},
                                        ublk::DeviceShape{1, 0, 1 << 20}, ublk::DeviceShape{1, 4097, 1 << 20},
                                        ublk::DeviceShape{1, 128, 2048}}) {
        std::string reason;
        auto refused = ublk::make_device_info(bad, 0, reason);
        BOOST_TEST(!refused);
        BOOST_TEST(!reason.empty());
    }
}

BOOST_AUTO_TEST_CASE(owner_tags_name_ibnbd_and_the_pid) {
    const std::uint64_t tag = ublk::owner_tag(31337);
    BOOST_TEST(ublk::is_ibnbd_owner(tag));
    BOOST_TEST(ublk::owner_pid(tag) == 31337);
    BOOST_TEST(!ublk::is_ibnbd_owner(0));          // a device another ublk server added
    BOOST_TEST(!ublk::is_ibnbd_owner(0x12345678));
}

BOOST_AUTO_TEST_CASE(queue_descriptors_sit_where_the_driver_maps_them) {
    // ublk_ch_mmap: queue q at q × round_up(4096 descriptors × 24 bytes, page).
    BOOST_TEST(ublk::descriptors_offset(0) == 0u);
    BOOST_TEST(ublk::descriptors_offset(1) == 98304u);
    BOOST_TEST(ublk::descriptors_bytes(128) == 4096u);
    BOOST_TEST(ublk::descriptors_bytes(200) == 8192u);
}

BOOST_AUTO_TEST_CASE(export_kinds_parse) {
    daemon::ExportKind kind{};
    BOOST_TEST(daemon::parse_export_kind("ublk", kind));
    BOOST_TEST((kind == daemon::ExportKind::ublk));
    BOOST_TEST(daemon::exports_ublk(kind));
    BOOST_TEST(!daemon::exports_nbd(kind));
    BOOST_TEST(daemon::parse_export_kind("both", kind));
    BOOST_TEST((daemon::exports_ublk(kind) && daemon::exports_nbd(kind)));
    BOOST_TEST(!daemon::parse_export_kind("UBLK", kind));
    BOOST_TEST(!daemon::parse_export_kind("", kind));
}
