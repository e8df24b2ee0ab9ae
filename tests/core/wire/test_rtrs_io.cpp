// RTRS IO-path messages: WRITE trailer, READ request, RKEY response, type peeking (§1.7).
#include <boost/test/unit_test.hpp>

#include "bytes.hpp"
#include "core/wire/rtrs.hpp"

using namespace ibnbd::wire;
using namespace ibnbd::wire::test;
namespace tt = boost::test_tools;

namespace {

const Bytes kRdmaWriteGolden = bytes({0x02, 0x00, 0x20, 0x00});  // WRITE, usr_len 32

const SgDesc kClientBuf{0x00007F0012345000ull, 0x00ABCDEFu, 4096};

const Bytes kRdmaReadGolden = bytes({
    0x03, 0x00,                                      // type READ
    0x20, 0x00,                                      // usr_len 32
    0x01, 0x00,                                      // flags NEED_INVAL
    0x01, 0x00,                                      // sg_cnt 1
    0x00, 0x50, 0x34, 0x12, 0x00, 0x7F, 0x00, 0x00,  // desc.addr
    0xEF, 0xCD, 0xAB, 0x00,                          // desc.key
    0x00, 0x10, 0x00, 0x00,                          // desc.len 4096
});

const Bytes kRkeyRspGolden = bytes({0x04, 0x00, 0x05, 0x00, 0x78, 0x56, 0x34, 0x12});

}  // namespace

BOOST_AUTO_TEST_SUITE(rtrs_rdma_write)

BOOST_AUTO_TEST_CASE(golden_bytes_both_ways) {
    Bytes out(4);
    BOOST_TEST(*encode_rdma_write(RdmaWrite{32}, out) == kRdmaWriteSize);
    BOOST_TEST(values(out) == values(kRdmaWriteGolden), tt::per_element());
    auto msg = decode_rdma_write(kRdmaWriteGolden);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST(msg->usr_len == 32u);
}

BOOST_AUTO_TEST_CASE(trailer_placed_in_a_chunk_as_in_appendix_b) {
    // 4096 data bytes, a 32-byte user message, then the trailer at offset 4128.
    Bytes chunk(8192);
    auto trailer = std::span<std::byte>(chunk).subspan(4128);
    BOOST_TEST_REQUIRE(encode_rdma_write(RdmaWrite{32}, trailer).has_value());
    BOOST_TEST(*peek_type(chunk, 4128) == static_cast<std::uint16_t>(MsgType::write));
    BOOST_TEST(decode_rdma_write(std::span<const std::byte>(chunk).subspan(4128))->usr_len == 32u);
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rdma_write(prefix(kRdmaWriteGolden, 3)).error() == Error::too_short);
    BOOST_TEST(decode_rdma_write(kRdmaReadGolden).error() == Error::bad_type);
    Bytes small(3);
    BOOST_TEST(encode_rdma_write(RdmaWrite{1}, small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_rdma_read)

BOOST_AUTO_TEST_CASE(encodes_the_golden_bytes) {
    const SgDesc descs[] = {kClientBuf};
    Bytes out(32, std::byte{0xEE});
    BOOST_TEST(*encode_rdma_read(32, kReadNeedInvalFlag, descs, out) == 24u);
    BOOST_TEST(values(prefix(out, 24)) == values(kRdmaReadGolden), tt::per_element());
    BOOST_TEST(std::to_integer<unsigned>(out[24]) == 0xEEu);
}

BOOST_AUTO_TEST_CASE(decodes_the_golden_bytes_without_copying) {
    auto msg = decode_rdma_read(kRdmaReadGolden);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST(msg->usr_len == 32u);
    BOOST_TEST(msg->flags == kReadNeedInvalFlag);
    BOOST_TEST(msg->sg_cnt == 1u);
    BOOST_TEST(msg->size() == 24u);
    BOOST_TEST(msg->desc_bytes.data() == kRdmaReadGolden.data() + 8);
    BOOST_TEST(msg->desc_bytes.size() == 16u);
    BOOST_TEST((msg->desc(0) == kClientBuf));
}

BOOST_AUTO_TEST_CASE(no_data_read_has_no_descriptors) {
    const Bytes golden = bytes({0x03, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00});
    Bytes out(8);
    BOOST_TEST(*encode_rdma_read(36, 0, {}, out) == 8u);
    BOOST_TEST(values(out) == values(golden), tt::per_element());
    auto msg = decode_rdma_read(golden);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST(msg->sg_cnt == 0u);
    BOOST_TEST(msg->desc_bytes.empty());
}

BOOST_AUTO_TEST_CASE(many_descriptors_round_trip) {
    std::vector<SgDesc> descs;
    for (std::uint32_t i = 0; i < 5; ++i) descs.push_back(SgDesc{0x1000ull * i, i, 512 * i + 1});
    Bytes out(rdma_read_size(5) + 3);
    BOOST_TEST(*encode_rdma_read(7, 0x8001, descs, out) == 88u);
    auto msg = decode_rdma_read(out);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST(msg->flags == 0x8001u);  // unknown flag bits pass through
    BOOST_TEST_REQUIRE(msg->sg_cnt == 5u);
    for (std::size_t i = 0; i < 5; ++i) BOOST_TEST((msg->desc(i) == descs[i]));
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rdma_read(prefix(kRdmaReadGolden, 7)).error() == Error::too_short);
    BOOST_TEST(decode_rdma_read(prefix(kRdmaReadGolden, 23)).error() == Error::too_short);
    Bytes claims_more = kRdmaReadGolden;
    claims_more[7] = std::byte{0x80};  // sg_cnt 0x8001
    BOOST_TEST(decode_rdma_read(claims_more).error() == Error::too_short);
    BOOST_TEST(decode_rdma_read(kRdmaWriteGolden).error() == Error::too_short);
    Bytes wrong_type = kRdmaReadGolden;
    wrong_type[0] = std::byte{0x02};
    BOOST_TEST(decode_rdma_read(wrong_type).error() == Error::bad_type);
    const SgDesc descs[] = {kClientBuf};
    Bytes small(23);
    BOOST_TEST(encode_rdma_read(0, 0, descs, small).error() == Error::buffer_too_small);
    const std::vector<SgDesc> too_many(65536);
    Bytes big(rdma_read_size(65536));
    BOOST_TEST(encode_rdma_read(0, 0, too_many, big).error() == Error::out_of_range);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_rkey_rsp)

BOOST_AUTO_TEST_CASE(golden_bytes_both_ways) {
    Bytes out(8);
    BOOST_TEST(*encode_rkey_rsp(RkeyRsp{5, 0x12345678}, out) == kRkeyRspSize);
    BOOST_TEST(values(out) == values(kRkeyRspGolden), tt::per_element());
    auto msg = decode_rkey_rsp(kRkeyRspGolden);
    BOOST_TEST_REQUIRE(msg.has_value());
    BOOST_TEST((*msg == RkeyRsp{5, 0x12345678}));
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(decode_rkey_rsp(prefix(kRkeyRspGolden, 7)).error() == Error::too_short);
    Bytes wrong_type = kRkeyRspGolden;
    wrong_type[1] = std::byte{0x01};  // 0x0104
    BOOST_TEST(decode_rkey_rsp(wrong_type).error() == Error::bad_type);
    Bytes small(7);
    BOOST_TEST(encode_rkey_rsp(RkeyRsp{}, small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_peek_type)

BOOST_AUTO_TEST_CASE(reads_any_type_at_any_offset) {
    const Bytes in = bytes({0xAA, 0x03, 0x00, 0xFF, 0xFF});
    BOOST_TEST(*peek_type(in) == 0x03AAu);
    BOOST_TEST(*peek_type(in, 1) == 3u);
    BOOST_TEST(*peek_type(in, 3) == 0xFFFFu);
}

BOOST_AUTO_TEST_CASE(too_short_at_or_past_the_end) {
    const Bytes in = bytes({0x02, 0x00, 0x07});
    BOOST_TEST(peek_type(in, 2).error() == Error::too_short);
    BOOST_TEST(peek_type(in, 3).error() == Error::too_short);
    BOOST_TEST(peek_type(in, ~std::size_t{0}).error() == Error::too_short);
    BOOST_TEST(peek_type({}).error() == Error::too_short);
}

BOOST_AUTO_TEST_SUITE_END()
