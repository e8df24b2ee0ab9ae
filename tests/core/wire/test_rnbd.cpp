// RNBD messages (docs/protocol.md §3.2-§3.7).
#include <boost/test/unit_test.hpp>

#include <string>

#include "bytes.hpp"
#include "core/wire/rnbd.hpp"

using namespace ibnbd::wire;
using namespace ibnbd::wire::test;
namespace tt = boost::test_tools;

namespace {

const Bytes kSessInfoGolden = bytes_padded({0x00, 0x00, 0x00, 0x00, 0x02}, 36);
const Bytes kSessInfoRspGolden = bytes_padded({0x01, 0x00, 0x00, 0x00, 0x02}, 36);

const Bytes kOpenGolden = bytes_padded({
    0x02, 0x00, 0x00, 0x00,  // hdr OPEN
    0x01,                    // access_mode RW
    0x00,                    // resv1
    0x73, 0x64, 0x61,        // "sda", then NUL padding and reserved[3]
}, 264);

RnbdOpenRsp sample_open_rsp() {
    RnbdOpenRsp rsp;
    rsp.device_id = 7;
    rsp.nsectors = 0x123456789ull;
    rsp.max_hw_sectors = 248;
    rsp.max_write_zeroes_sectors = 0x10000;
    rsp.max_discard_sectors = 0x20000;
    rsp.discard_granularity = 4096;
    rsp.discard_alignment = 512;
    rsp.physical_block_size = 4096;
    rsp.logical_block_size = 512;
    rsp.max_segments = 128;
    rsp.secure_discard = 1;
    rsp.obsolete_rotational = 1;
    rsp.cache_policy = kRnbdCacheFua | kRnbdCacheWriteback;
    return rsp;
}

const Bytes kOpenRspGolden = bytes_padded({
    0x03, 0x00, 0x00, 0x00,                          // hdr OPEN_RSP
    0x07, 0x00, 0x00, 0x00,                          // device_id 7
    0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00,  // nsectors 0x123456789
    0xF8, 0x00, 0x00, 0x00,                          // max_hw_sectors 248
    0x00, 0x00, 0x01, 0x00,                          // max_write_zeroes_sectors 0x10000
    0x00, 0x00, 0x02, 0x00,                          // max_discard_sectors 0x20000
    0x00, 0x10, 0x00, 0x00,                          // discard_granularity 4096
    0x00, 0x02, 0x00, 0x00,                          // discard_alignment 512
    0x00, 0x10,                                      // physical_block_size 4096
    0x00, 0x02,                                      // logical_block_size 512
    0x80, 0x00,                                      // max_segments 128
    0x01, 0x00,                                      // secure_discard
    0x01,                                            // obsolete_rotational
    0x03,                                            // cache_policy FUA | WRITEBACK
}, 56);

const Bytes kCloseGolden = bytes({0x05, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00});

RnbdIo sample_io() {
    RnbdIo io;
    io.device_id = 7;
    io.sector = 0x0000000200000010ull;
    io.rw = rnbd_rw(RnbdOp::write, kRnbdFlagSync | kRnbdFlagFua);
    io.bi_size = 4096;
    io.prio = 0x4003;  // class 2, level 3
    return io;
}

const Bytes kIoGolden = bytes({
    0x04, 0x00, 0x00, 0x00,                          // hdr IO
    0x07, 0x00, 0x00, 0x00,                          // device_id 7
    0x10, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,  // sector
    0x01, 0x03, 0x00, 0x00,                          // rw WRITE | SYNC | FUA
    0x00, 0x10, 0x00, 0x00,                          // bi_size 4096
    0x03, 0x40,                                      // prio
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,              // tail padding
});

}  // namespace

BOOST_AUTO_TEST_SUITE(rnbd_hdr)

BOOST_AUTO_TEST_CASE(type_of_every_golden_message) {
    BOOST_TEST((*decode_rnbd_type(kSessInfoGolden) == RnbdMsgType::sess_info));
    BOOST_TEST((*decode_rnbd_type(kSessInfoRspGolden) == RnbdMsgType::sess_info_rsp));
    BOOST_TEST((*decode_rnbd_type(kOpenGolden) == RnbdMsgType::open));
    BOOST_TEST((*decode_rnbd_type(kOpenRspGolden) == RnbdMsgType::open_rsp));
    BOOST_TEST((*decode_rnbd_type(kIoGolden) == RnbdMsgType::io));
    BOOST_TEST((*decode_rnbd_type(kCloseGolden) == RnbdMsgType::close));
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rnbd_type(bytes({0x00, 0x00, 0x00})).error() == Error::too_short);
    BOOST_TEST(decode_rnbd_type(bytes({0x06, 0x00, 0x00, 0x00})).error() == Error::bad_type);
    BOOST_TEST(decode_rnbd_type(bytes({0x00, 0x01, 0x00, 0x00})).error() == Error::bad_type);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rnbd_sess_info)

BOOST_AUTO_TEST_CASE(golden_bytes_both_ways) {
    Bytes out(36, std::byte{0xEE});
    BOOST_TEST(*encode_rnbd_sess_info(RnbdSessInfo{}, out) == kRnbdSessInfoSize);
    BOOST_TEST(values(out) == values(kSessInfoGolden), tt::per_element());
    BOOST_TEST(*encode_rnbd_sess_info_rsp(RnbdSessInfo{2}, out) == kRnbdSessInfoRspSize);
    BOOST_TEST(values(out) == values(kSessInfoRspGolden), tt::per_element());
    BOOST_TEST(decode_rnbd_sess_info(kSessInfoGolden)->ver == 2u);
    BOOST_TEST(decode_rnbd_sess_info_rsp(kSessInfoRspGolden)->ver == 2u);
}

BOOST_AUTO_TEST_CASE(any_version_decodes_for_negotiation) {
    Bytes in = kSessInfoGolden;
    in[4] = std::byte{0xFF};
    BOOST_TEST(decode_rnbd_sess_info(in)->ver == 255u);
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rnbd_sess_info(prefix(kSessInfoGolden, 35)).error() == Error::too_short);
    BOOST_TEST(decode_rnbd_sess_info(kSessInfoRspGolden).error() == Error::bad_type);
    BOOST_TEST(decode_rnbd_sess_info_rsp(kSessInfoGolden).error() == Error::bad_type);
    Bytes small(35);
    BOOST_TEST(encode_rnbd_sess_info(RnbdSessInfo{}, small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rnbd_open)

BOOST_AUTO_TEST_CASE(golden_bytes_both_ways) {
    Bytes out(264, std::byte{0xEE});
    BOOST_TEST(*encode_rnbd_open(RnbdOpen{AccessMode::rw, "sda"}, out) == kRnbdOpenSize);
    BOOST_TEST(values(out) == values(kOpenGolden), tt::per_element());
    auto msg = decode_rnbd_open(kOpenGolden);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST((*msg == RnbdOpen{AccessMode::rw, "sda"}));
}

BOOST_AUTO_TEST_CASE(all_access_modes_and_longest_name_round_trip) {
    const std::string name(kMaxDevNameLen, 'd');
    for (AccessMode mode : {AccessMode::ro, AccessMode::rw, AccessMode::migration}) {
        Bytes out(264);
        BOOST_TEST_REQUIRE(encode_rnbd_open(RnbdOpen{mode, name}, out).has_value());
        BOOST_TEST(std::to_integer<unsigned>(out[4]) == static_cast<unsigned>(mode));
        BOOST_TEST(std::to_integer<unsigned>(out[260]) == 0u);
        auto back = decode_rnbd_open(out);
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST((*back == RnbdOpen{mode, name}));
    }
}

BOOST_AUTO_TEST_CASE(encode_errors) {
    Bytes out(264);
    BOOST_TEST(encode_rnbd_open(RnbdOpen{static_cast<AccessMode>(3), "x"}, out).error() ==
               Error::out_of_range);
    BOOST_TEST(encode_rnbd_open(RnbdOpen{AccessMode::ro, std::string(255, 'x')}, out).error() ==
               Error::name_too_long);
    BOOST_TEST(encode_rnbd_open(RnbdOpen{AccessMode::ro, std::string("a\0", 2)}, out).error() ==
               Error::bad_value);
    Bytes small(263);
    BOOST_TEST(encode_rnbd_open(RnbdOpen{}, small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(decode_errors) {
    BOOST_TEST(decode_rnbd_open(prefix(kOpenGolden, 263)).error() == Error::too_short);
    Bytes bad = kOpenGolden;
    bad[0] = std::byte{0x03};
    BOOST_TEST(decode_rnbd_open(bad).error() == Error::bad_type);
    bad = kOpenGolden;
    bad[4] = std::byte{0x03};
    BOOST_TEST(decode_rnbd_open(bad).error() == Error::out_of_range);
    bad = kOpenGolden;
    for (std::size_t i = 6; i < 261; ++i) bad[i] = std::byte{'z'};
    BOOST_TEST(decode_rnbd_open(bad).error() == Error::unterminated);
    bad[261] = std::byte{0};  // a NUL in the reserved bytes does not terminate the name
    BOOST_TEST(decode_rnbd_open(bad).error() == Error::unterminated);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rnbd_open_rsp)

BOOST_AUTO_TEST_CASE(golden_bytes_both_ways) {
    Bytes out(56, std::byte{0xEE});
    BOOST_TEST(*encode_rnbd_open_rsp(sample_open_rsp(), out) == kRnbdOpenRspSize);
    BOOST_TEST(values(out) == values(kOpenRspGolden), tt::per_element());
    auto msg = decode_rnbd_open_rsp(kOpenRspGolden);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST((*msg == sample_open_rsp()));
}

BOOST_AUTO_TEST_CASE(reserved_bytes_are_ignored) {
    Bytes in = kOpenRspGolden;
    for (std::size_t i = 46; i < 56; ++i) in[i] = std::byte{0xA5};
    in[2] = std::byte{0xA5};  // header padding
    BOOST_TEST((*decode_rnbd_open_rsp(in) == sample_open_rsp()));
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rnbd_open_rsp(prefix(kOpenRspGolden, 55)).error() == Error::too_short);
    BOOST_TEST(decode_rnbd_open_rsp(kOpenGolden).error() == Error::bad_type);
    Bytes small(55);
    BOOST_TEST(encode_rnbd_open_rsp(RnbdOpenRsp{}, small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rnbd_close)

BOOST_AUTO_TEST_CASE(golden_bytes_both_ways) {
    Bytes out(8);
    BOOST_TEST(*encode_rnbd_close(RnbdClose{9}, out) == kRnbdCloseSize);
    BOOST_TEST(values(out) == values(kCloseGolden), tt::per_element());
    BOOST_TEST(decode_rnbd_close(kCloseGolden)->device_id == 9u);
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rnbd_close(prefix(kCloseGolden, 7)).error() == Error::too_short);
    BOOST_TEST(decode_rnbd_close(prefix(kIoGolden, 8)).error() == Error::bad_type);
    Bytes small(7);
    BOOST_TEST(encode_rnbd_close(RnbdClose{}, small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rnbd_io)

BOOST_AUTO_TEST_CASE(golden_bytes_both_ways) {
    Bytes out(32, std::byte{0xEE});
    BOOST_TEST(*encode_rnbd_io(sample_io(), out) == kRnbdIoSize);
    BOOST_TEST(values(out) == values(kIoGolden), tt::per_element());
    auto msg = decode_rnbd_io(kIoGolden);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST((*msg == sample_io()));
}

BOOST_AUTO_TEST_CASE(short_message_without_prio_decodes_with_prio_zero) {
    auto v1 = decode_rnbd_io(prefix(kIoGolden, 24));
    BOOST_TEST_REQUIRE(v1.has_value());
    BOOST_TEST(v1->prio == 0u);
    BOOST_TEST(v1->bi_size == 4096u);
    BOOST_TEST(decode_rnbd_io(prefix(kIoGolden, 31))->prio == 0u);  // as the kernel: usrlen < 32
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rnbd_io(prefix(kIoGolden, 23)).error() == Error::too_short);
    BOOST_TEST(decode_rnbd_io(kOpenRspGolden).error() == Error::bad_type);
    Bytes small(31);
    BOOST_TEST(encode_rnbd_io(sample_io(), small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(rw_split_and_join) {
    const std::uint32_t rw = rnbd_rw(RnbdOp::write_zeroes, kRnbdFlagNoUnmap | kRnbdFlagPreflush);
    BOOST_TEST(rw == 0x0C05u);
    BOOST_TEST(rnbd_rw_op(rw) == 5u);
    BOOST_TEST(rnbd_rw_flags(rw) == 0x0C00u);
    BOOST_TEST(rnbd_rw(RnbdOp::flush, 0xFFu) == 2u);  // flag bits inside the op byte are dropped
    BOOST_TEST(!rnbd_has_unknown_flags(rw));
    BOOST_TEST(rnbd_has_unknown_flags(rnbd_rw(RnbdOp::read, 1u << 12)));
    BOOST_TEST(kRnbdFlagSync == 0x100u);
    BOOST_TEST(kRnbdFlagFua == 0x200u);
    BOOST_TEST(kRnbdFlagPreflush == 0x400u);
    BOOST_TEST(kRnbdFlagNoUnmap == 0x800u);
}

BOOST_AUTO_TEST_CASE(op_check) {
    for (std::uint32_t op = 0; op < 6; ++op)
        BOOST_TEST(static_cast<std::uint32_t>(*rnbd_checked_op(op | kRnbdFlagFua)) == op);
    BOOST_TEST(rnbd_checked_op(6).error() == Error::bad_value);
    BOOST_TEST(rnbd_checked_op(0xFF).error() == Error::bad_value);
    BOOST_TEST((*rnbd_checked_op(0xFFFFFF00u) == RnbdOp::read));  // unknown flags are not an error
}

BOOST_AUTO_TEST_SUITE_END()
