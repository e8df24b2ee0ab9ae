// RTRS CM private data: conn_req and conn_rsp (docs/protocol.md §1.3, §1.4).
#include <boost/test/unit_test.hpp>

#include "bytes.hpp"
#include "core/wire/rtrs.hpp"

using namespace ibnbd::wire;
using namespace ibnbd::wire::test;
namespace tt = boost::test_tools;

namespace {

ConnReq sample_conn_req() {
    ConnReq req;
    req.cid = 3;
    req.cid_num = 9;
    req.recon_cnt = 0x0102;
    for (std::size_t i = 0; i < 16; ++i) {
        req.sess_uuid[i] = static_cast<std::uint8_t>(0x10 + i);
        req.paths_uuid[i] = static_cast<std::uint8_t>(0x20 + i);
    }
    req.first_conn = true;
    return req;
}

// Hand-written from the table of §1.4.
const Bytes kConnReqGolden = bytes({
    0x00, 0x00,              // __cma_version, __ip_version
    0xBD, 0x1B,              // magic 0x1BBD
    0x00, 0x02,              // version 0x0200
    0x03, 0x00,              // cid 3
    0x09, 0x00,              // cid_num 9
    0x02, 0x01,              // recon_cnt 0x0102
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,  // sess_uuid
    0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,  // paths_uuid
    0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F,
    0x01,                    // first_conn
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // reserved[11]
});

ConnRsp sample_conn_rsp() {
    ConnRsp rsp;
    rsp.status = -104;  // -ECONNRESET
    rsp.queue_depth = 512;
    rsp.max_io_size = 126976;
    rsp.max_hdr_size = 4096;
    rsp.flags = kConnRspNewRkeyFlag;
    return rsp;
}

const Bytes kConnRspGolden = bytes_padded({
    0xBD, 0x1B,              // magic
    0x00, 0x02,              // version
    0x98, 0xFF,              // errno -104 as le16 two's complement
    0x00, 0x02,              // queue_depth 512
    0x00, 0xF0, 0x01, 0x00,  // max_io_size 126976 = 0x1F000
    0x00, 0x10, 0x00, 0x00,  // max_hdr_size 4096
    0x02, 0x00, 0x00, 0x00,  // flags NEW_RKEY_F
}, 56);

}  // namespace

BOOST_AUTO_TEST_SUITE(rtrs_conn_req)

BOOST_AUTO_TEST_CASE(encodes_the_golden_bytes) {
    BOOST_TEST(kConnReqGolden.size() == kConnReqSize);
    Bytes out(64, std::byte{0xEE});
    auto written = encode_conn_req(sample_conn_req(), out);
    BOOST_TEST_REQUIRE(written.has_value());
    BOOST_TEST(*written == 56u);
    BOOST_TEST(values(prefix(out, 56)) == values(kConnReqGolden), tt::per_element());
    BOOST_TEST(std::to_integer<unsigned>(out[56]) == 0xEEu);  // nothing beyond the message
}

BOOST_AUTO_TEST_CASE(decodes_the_golden_bytes) {
    auto req = decode_conn_req(kConnReqGolden);
    BOOST_TEST_REQUIRE(req.has_value());
    BOOST_TEST((*req == sample_conn_req()));
    BOOST_TEST(check_conn_req(*req).has_value());
}

BOOST_AUTO_TEST_CASE(first_conn_is_bit_zero_and_reserved_bits_are_ignored) {
    Bytes in = kConnReqGolden;
    in[44] = std::byte{0xFE};  // all reserved bits, first_conn clear
    in[50] = std::byte{0x55};
    auto req = decode_conn_req(in);
    BOOST_TEST_REQUIRE(req.has_value());
    BOOST_TEST(!req->first_conn);
    ConnReq not_first = sample_conn_req();
    not_first.first_conn = false;
    Bytes out(56);
    BOOST_TEST_REQUIRE(encode_conn_req(not_first, out).has_value());
    BOOST_TEST(std::to_integer<unsigned>(out[44]) == 0u);
}

BOOST_AUTO_TEST_CASE(decode_fails_only_on_short_input) {
    BOOST_TEST(decode_conn_req(prefix(kConnReqGolden, 55)).error() == Error::too_short);
    BOOST_TEST(decode_conn_req({}).error() == Error::too_short);
    Bytes bad = kConnReqGolden;
    bad[2] = std::byte{0x00};  // bad magic still decodes: the server rejects with its own errno
    bad[5] = std::byte{0x01};
    auto req = decode_conn_req(bad);
    BOOST_TEST_REQUIRE(req.has_value());
    BOOST_TEST(req->magic == 0x1B00u);
    BOOST_TEST(req->version == 0x0100u);
}

BOOST_AUTO_TEST_CASE(encode_refuses_a_short_buffer) {
    Bytes out(55);
    BOOST_TEST(encode_conn_req(sample_conn_req(), out).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(server_checks) {
    ConnReq req = sample_conn_req();
    req.magic = 0x1BBC;
    BOOST_TEST(check_conn_req(req).error() == Error::bad_magic);
    req = sample_conn_req();
    req.version = 0x0100;
    BOOST_TEST(check_conn_req(req).error() == Error::bad_version);
    req.version = 0x0207;  // minor ignored
    BOOST_TEST(check_conn_req(req).has_value());
    req.cid_num = 4097;
    BOOST_TEST(check_conn_req(req).error() == Error::out_of_range);
    req.cid_num = 4096;
    req.cid = 4095;
    BOOST_TEST(check_conn_req(req).has_value());
    req.cid = 4096;
    BOOST_TEST(check_conn_req(req).error() == Error::out_of_range);
    req.cid = 0;
    req.cid_num = 0;
    BOOST_TEST(check_conn_req(req).error() == Error::out_of_range);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_conn_rsp)

BOOST_AUTO_TEST_CASE(encodes_the_golden_bytes) {
    Bytes out(56, std::byte{0xEE});
    auto written = encode_conn_rsp(sample_conn_rsp(), out);
    BOOST_TEST_REQUIRE(written.has_value());
    BOOST_TEST(*written == kConnRspSize);
    BOOST_TEST(values(out) == values(kConnRspGolden), tt::per_element());
}

BOOST_AUTO_TEST_CASE(decodes_the_golden_bytes_with_negative_errno) {
    auto rsp = decode_conn_rsp(kConnRspGolden);
    BOOST_TEST_REQUIRE(rsp.has_value());
    BOOST_TEST((*rsp == sample_conn_rsp()));
    BOOST_TEST(rsp->status == -104);
    BOOST_TEST(chunk_size_of(*rsp) == 131072u);
    BOOST_TEST(check_conn_rsp(*rsp).has_value());
}

BOOST_AUTO_TEST_CASE(accept_round_trip_and_extreme_values) {
    ConnRsp rsp;
    rsp.queue_depth = 65535;
    rsp.max_io_size = 0xFFFFFFFF;
    rsp.max_hdr_size = 0xFFFFFFFF;
    rsp.status = -32768;
    Bytes out(56);
    BOOST_TEST_REQUIRE(encode_conn_rsp(rsp, out).has_value());
    BOOST_TEST(std::to_integer<unsigned>(out[5]) == 0x80u);
    auto back = decode_conn_rsp(out);
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST((*back == rsp));
    BOOST_TEST(chunk_size_of(*back) == 0x1FFFFFFFEull);  // no 32-bit wrap
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_conn_rsp(prefix(kConnRspGolden, 55)).error() == Error::too_short);
    Bytes small(40);
    BOOST_TEST(encode_conn_rsp(sample_conn_rsp(), small).error() == Error::buffer_too_small);
    ConnRsp rsp = sample_conn_rsp();
    rsp.magic = 0;
    BOOST_TEST(check_conn_rsp(rsp).error() == Error::bad_magic);
    rsp = sample_conn_rsp();
    rsp.version = 0x0300;
    BOOST_TEST(check_conn_rsp(rsp).error() == Error::bad_version);
    rsp.version = 0x02FF;
    BOOST_TEST(check_conn_rsp(rsp).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
