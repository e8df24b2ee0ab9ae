// RTRS immediate data (docs/protocol.md §1.7.5) and the worked examples of Appendix B.
#include <boost/test/unit_test.hpp>

#include <climits>

#include "bytes.hpp"
#include "core/wire/rtrs.hpp"

using namespace ibnbd::wire;
using namespace ibnbd::wire::test;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_SUITE(rtrs_imm_appendix_b)

BOOST_AUTO_TEST_CASE(write_request_of_4096_bytes_into_chunk_5) {
    const unsigned bits_for_offset = mem_bits(512);
    BOOST_TEST(bits_for_offset == 19u);
    auto payload = io_req_payload(5, bits_for_offset, 4096 + 32);
    BOOST_TEST_REQUIRE(payload.has_value());
    BOOST_TEST(*payload == 0x00281020u);
    const std::uint32_t imm = imm_encode(ImmType::io_req, *payload);
    BOOST_TEST(imm == 0x00281020u);
    BOOST_TEST(values(imm_to_wire_bytes(imm)) == values(bytes({0x00, 0x28, 0x10, 0x20})),
               tt::per_element());
    // Server side.
    const Imm decoded = imm_decode(imm);
    BOOST_TEST((decoded.type == ImmType::io_req));
    const IoReq req = io_req_decode(decoded.payload, bits_for_offset);
    BOOST_TEST(req.msg_id == 5u);
    BOOST_TEST(req.off == 4128u);
    BOOST_TEST(req.off - 32u == 4096u);  // data_len
}

BOOST_AUTO_TEST_CASE(io_responses) {
    BOOST_TEST(*io_rsp_imm(5, 0, false) == 0x10000005u);
    BOOST_TEST(*io_rsp_imm(5, -5, false) == 0x10280005u);  // -EIO
    BOOST_TEST(*io_rsp_imm(5, 5, false) == 0x10280005u);   // magnitude is sent
    BOOST_TEST(*io_rsp_imm(5, 0, true) == 0x20000005u);
    const Imm failure = imm_decode(0x10280005u);
    BOOST_TEST((failure.type == ImmType::io_rsp));
    BOOST_TEST((io_rsp_decode(failure.payload) == IoRsp{5, -5}));
    const Imm inval = imm_decode(0x20000005u);
    BOOST_TEST((inval.type == ImmType::io_rsp_w_inv));
    BOOST_TEST((io_rsp_decode(inval.payload) == IoRsp{5, 0}));
}

BOOST_AUTO_TEST_CASE(heartbeat) {
    BOOST_TEST(kHbMsgImm == 0x80000000u);
    BOOST_TEST(kHbAckImm == 0x90000000u);
    BOOST_TEST((imm_decode(0x80000000u) == Imm{ImmType::hb_msg, 0}));
    BOOST_TEST((imm_decode(0x90000000u) == Imm{ImmType::hb_ack, 0}));
    BOOST_TEST(values(imm_to_wire_bytes(kHbAckImm)) == values(bytes({0x90, 0, 0, 0})),
               tt::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_imm)

BOOST_AUTO_TEST_CASE(encode_masks_like_the_kernel) {
    BOOST_TEST(imm_encode(ImmType::io_rsp, 0xFFFFFFFFu) == 0x1FFFFFFFu);
    BOOST_TEST(imm_encode(static_cast<ImmType>(0x1F), 0) == 0xF0000000u);
}

BOOST_AUTO_TEST_CASE(unknown_types_decode_and_are_flagged) {
    const Imm imm = imm_decode(0x3ABCDEF0u);
    BOOST_TEST(static_cast<unsigned>(imm.type) == 3u);
    BOOST_TEST(imm.payload == 0x0ABCDEF0u);
    BOOST_TEST(!is_known_imm_type(imm.type));
    for (unsigned t : {0u, 1u, 2u, 8u, 9u}) BOOST_TEST(is_known_imm_type(static_cast<ImmType>(t)));
    for (unsigned t : {3u, 4u, 5u, 6u, 7u, 10u, 15u})
        BOOST_TEST(!is_known_imm_type(static_cast<ImmType>(t)));
}

BOOST_AUTO_TEST_CASE(io_req_payload_limits) {
    // mem_bits 19: offsets < 2^19, chunk indexes < 2^9.
    BOOST_TEST(*io_req_payload(511, 19, (1u << 19) - 1) == 0x0FFFFFFFu);
    BOOST_TEST(io_req_payload(512, 19, 0).error() == Error::out_of_range);
    BOOST_TEST(io_req_payload(0, 19, 1u << 19).error() == Error::out_of_range);
    BOOST_TEST(io_req_payload(0, 29, 0).error() == Error::out_of_range);
    BOOST_TEST(*io_req_payload(0, 28, (1u << 28) - 1) == 0x0FFFFFFFu);
    BOOST_TEST(io_req_payload(1, 28, 0).error() == Error::out_of_range);
    BOOST_TEST(*io_req_payload((1u << 28) - 1, 0, 0) == 0x0FFFFFFFu);
    BOOST_TEST((io_req_decode(0xF0000001u, 0) == IoReq{1, 0}));  // type bits ignored
    BOOST_TEST((io_req_decode(0x0FFFFFFFu, 28) == IoReq{0, 0x0FFFFFFF}));
}

BOOST_AUTO_TEST_CASE(io_rsp_limits) {
    BOOST_TEST(*io_rsp_imm(kMaxIoRspMsgId, -kMaxIoRspErrno, true) == 0x2FFFFFFFu);
    BOOST_TEST((io_rsp_decode(0x0FFFFFFFu) == IoRsp{0x7FFFF, -511}));
    BOOST_TEST(io_rsp_imm(0x80000, 0, false).error() == Error::out_of_range);
    BOOST_TEST(io_rsp_imm(0, -512, false).error() == Error::out_of_range);
    BOOST_TEST(io_rsp_imm(0, 512, false).error() == Error::out_of_range);
    BOOST_TEST(io_rsp_imm(0, INT_MIN, false).error() == Error::out_of_range);
    BOOST_TEST(io_rsp_imm(0, INT_MAX, false).error() == Error::out_of_range);
}

BOOST_AUTO_TEST_CASE(every_io_rsp_payload_round_trips) {
    // Exhaustive over both fields' edges, strided through the middle.
    for (std::uint32_t payload = 0; payload <= kImmPayloadMask; payload += 0x1357) {
        const IoRsp rsp = io_rsp_decode(payload);
        auto imm = io_rsp_imm(rsp.msg_id, rsp.status, false);
        BOOST_TEST_REQUIRE(imm.has_value());
        BOOST_TEST_REQUIRE(imm_decode(*imm).payload == payload);
    }
}

BOOST_AUTO_TEST_CASE(wire_bytes_are_big_endian_and_invert) {
    const auto wire = imm_to_wire_bytes(0x12345678u);
    BOOST_TEST(values(wire) == values(bytes({0x12, 0x34, 0x56, 0x78})), tt::per_element());
    BOOST_TEST(imm_from_wire_bytes(wire) == 0x12345678u);
    const Bytes example = bytes({0x00, 0x28, 0x10, 0x20});
    BOOST_TEST(imm_from_wire_bytes(std::span<const std::byte, 4>(example.data(), 4)) ==
               0x00281020u);
}

BOOST_AUTO_TEST_SUITE_END()
