// RTRS INFO exchange, server parameters and the client's chunk table (docs/protocol.md §1.2, §1.5).
#include <boost/test/unit_test.hpp>

#include <string>

#include "bytes.hpp"
#include "core/wire/rtrs.hpp"

using namespace ibnbd::wire;
using namespace ibnbd::wire::test;
namespace tt = boost::test_tools;

namespace {

const Bytes kInfoReqGolden = bytes_padded({
    0x00, 0x00,                    // type INFO_REQ
    0x73, 0x65, 0x73, 0x73, 0x31,  // "sess1", then NUL padding and reserved[15]
}, 272);

const SgDesc kDescA{0x1122334455667788ull, 0xAABBCCDDu, 0x00040000u};
const SgDesc kDescB{0x0102030405060708ull, 0x01020304u, 0x00020000u};

const Bytes kInfoRspGolden = bytes({
    0x01, 0x00,                                      // type INFO_RSP
    0x02, 0x00,                                      // sg_cnt 2
    0x00, 0x00, 0x00, 0x00,                          // reserved
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // desc[0].addr
    0xDD, 0xCC, 0xBB, 0xAA,                          // desc[0].key
    0x00, 0x00, 0x04, 0x00,                          // desc[0].len 256 KiB
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // desc[1].addr
    0x04, 0x03, 0x02, 0x01,                          // desc[1].key
    0x00, 0x00, 0x02, 0x00,                          // desc[1].len 128 KiB
});

}  // namespace

BOOST_AUTO_TEST_SUITE(rtrs_params)

BOOST_AUTO_TEST_CASE(bits_is_ilog2_plus_one) {
    BOOST_TEST(bits(0) == 0u);
    BOOST_TEST(bits(1) == 1u);
    BOOST_TEST(bits(2) == 2u);
    BOOST_TEST(bits(511) == 9u);
    BOOST_TEST(bits(512) == 10u);
    BOOST_TEST(bits(131071) == 17u);
    BOOST_TEST(bits(~0ull) == 64u);
}

BOOST_AUTO_TEST_CASE(mem_bits_examples) {
    BOOST_TEST(mem_bits(512) == 19u);  // Appendix B
    BOOST_TEST(mem_bits(1) == 28u);
    BOOST_TEST(mem_bits(2) == 27u);
    BOOST_TEST(mem_bits(65535) == 12u);
    BOOST_TEST(mem_bits(0) == 28u);
    BOOST_TEST(mem_bits(0xFFFFFFFFu) == 0u);
}

BOOST_AUTO_TEST_CASE(check_server_params_examples) {
    BOOST_TEST(check_server_params(512, 128 * 1024).has_value());         // 9 + 17 = 26
    BOOST_TEST(check_server_params(65535, 8192).error() == Error::out_of_range);  // 16 + 13
    BOOST_TEST(check_server_params(32768, 8192).has_value());             // 15 + 13 = 28
    BOOST_TEST(check_server_params(32769, 8192).error() == Error::out_of_range);
    BOOST_TEST(check_server_params(kDefaultSessQueueDepth, kDefaultMaxChunkSize).has_value());
}

BOOST_AUTO_TEST_CASE(check_server_params_bounds) {
    BOOST_TEST(check_server_params(0, 8192).error() == Error::out_of_range);
    BOOST_TEST(check_server_params(65536, 8192).error() == Error::out_of_range);
    BOOST_TEST(check_server_params(1, 4096).error() == Error::out_of_range);
    BOOST_TEST(check_server_params(1, 12288).error() == Error::bad_value);
    BOOST_TEST(check_server_params(1, 1ull << 28).has_value());
    BOOST_TEST(check_server_params(2, 1ull << 28).error() == Error::out_of_range);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_info_req)

BOOST_AUTO_TEST_CASE(encodes_the_golden_bytes) {
    Bytes out(300, std::byte{0xEE});
    auto written = encode_info_req(InfoReq{"sess1"}, out);
    BOOST_TEST_REQUIRE(written.has_value());
    BOOST_TEST(*written == kInfoReqSize);
    BOOST_TEST(values(prefix(out, 272)) == values(kInfoReqGolden), tt::per_element());
}

BOOST_AUTO_TEST_CASE(decodes_the_golden_bytes) {
    auto req = decode_info_req(kInfoReqGolden);
    BOOST_TEST_REQUIRE(req.has_value());
    BOOST_TEST(req->pathname == "sess1");
}

BOOST_AUTO_TEST_CASE(longest_name_round_trips) {
    const std::string name(kMaxPathnameLen, 'n');
    Bytes out(272);
    BOOST_TEST_REQUIRE(encode_info_req(InfoReq{name}, out).has_value());
    BOOST_TEST(std::to_integer<unsigned>(out[2 + 253]) == unsigned{'n'});
    BOOST_TEST(std::to_integer<unsigned>(out[2 + 254]) == 0u);
    auto back = decode_info_req(out);
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST(back->pathname == name);
    BOOST_TEST(decode_info_req(out)->pathname.size() == 254u);
}

BOOST_AUTO_TEST_CASE(encode_errors) {
    Bytes out(272);
    BOOST_TEST(encode_info_req(InfoReq{std::string(255, 'n')}, out).error() ==
               Error::name_too_long);
    BOOST_TEST(encode_info_req(InfoReq{std::string("a\0b", 3)}, out).error() == Error::bad_value);
    Bytes small(271);
    BOOST_TEST(encode_info_req(InfoReq{"x"}, small).error() == Error::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(decode_errors) {
    BOOST_TEST(decode_info_req(prefix(kInfoReqGolden, 271)).error() == Error::too_short);
    Bytes wrong_type = kInfoReqGolden;
    wrong_type[0] = std::byte{0x01};
    BOOST_TEST(decode_info_req(wrong_type).error() == Error::bad_type);
    Bytes unterminated = kInfoReqGolden;
    for (std::size_t i = 2; i < 257; ++i) unterminated[i] = std::byte{'x'};
    BOOST_TEST(decode_info_req(unterminated).error() == Error::unterminated);
    unterminated[256] = std::byte{0};  // a NUL in the last byte of the field is enough
    BOOST_TEST(decode_info_req(unterminated)->pathname.size() == 254u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_info_rsp)

BOOST_AUTO_TEST_CASE(encodes_the_golden_bytes) {
    const SgDesc descs[] = {kDescA, kDescB};
    Bytes out(info_rsp_size(2), std::byte{0xEE});
    auto written = encode_info_rsp(descs, out);
    BOOST_TEST_REQUIRE(written.has_value());
    BOOST_TEST(*written == 40u);
    BOOST_TEST(values(out) == values(kInfoRspGolden), tt::per_element());
}

BOOST_AUTO_TEST_CASE(decodes_the_golden_bytes) {
    std::vector<SgDesc> descs{SgDesc{}};  // replaced, not appended to
    BOOST_TEST_REQUIRE(decode_info_rsp(kInfoRspGolden, descs).has_value());
    BOOST_TEST_REQUIRE(descs.size() == 2u);
    BOOST_TEST((descs[0] == kDescA));
    BOOST_TEST((descs[1] == kDescB));
}

BOOST_AUTO_TEST_CASE(zero_descriptors_is_a_valid_encoding) {
    Bytes out(8);
    BOOST_TEST(*encode_info_rsp({}, out) == 8u);
    BOOST_TEST(values(out) == values(bytes({1, 0, 0, 0, 0, 0, 0, 0})), tt::per_element());
    std::vector<SgDesc> descs;
    BOOST_TEST(decode_info_rsp(out, descs).has_value());
    BOOST_TEST(descs.empty());
}

BOOST_AUTO_TEST_CASE(errors) {
    std::vector<SgDesc> descs;
    BOOST_TEST(decode_info_rsp(prefix(kInfoRspGolden, 39), descs).error() == Error::too_short);
    BOOST_TEST(descs.empty());
    BOOST_TEST(decode_info_rsp(prefix(kInfoRspGolden, 7), descs).error() == Error::too_short);
    Bytes wrong_type = kInfoRspGolden;
    wrong_type[0] = std::byte{0x00};
    BOOST_TEST(decode_info_rsp(wrong_type, descs).error() == Error::bad_type);
    Bytes claims_more = kInfoRspGolden;
    claims_more[2] = std::byte{0xFF};  // sg_cnt 255, 40 bytes present
    BOOST_TEST(decode_info_rsp(claims_more, descs).error() == Error::too_short);
    const SgDesc two[] = {kDescA, kDescB};
    Bytes small(39);
    BOOST_TEST(encode_info_rsp(two, small).error() == Error::buffer_too_small);
    const std::vector<SgDesc> too_many(65536);
    Bytes big(info_rsp_size(65536));
    BOOST_TEST(encode_info_rsp(too_many, big).error() == Error::out_of_range);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rtrs_chunk_table)

constexpr std::uint64_t kChunk = 128 * 1024;
constexpr std::uint32_t kChunk32 = 128 * 1024;

BOOST_AUTO_TEST_CASE(one_descriptor_per_chunk) {
    std::vector<SgDesc> descs;
    for (std::uint32_t i = 0; i < 4; ++i)
        descs.push_back(SgDesc{0x10000000ull * (i + 1), 100 + i, kChunk32});
    std::vector<RemoteChunk> chunks;
    BOOST_TEST_REQUIRE(build_chunk_table(descs, 4, kChunk, chunks).has_value());
    BOOST_TEST_REQUIRE(chunks.size() == 4u);
    BOOST_TEST((chunks[3] == RemoteChunk{0x40000000ull, 103}));
}

BOOST_AUTO_TEST_CASE(several_chunks_per_descriptor_in_order) {
    const SgDesc descs[] = {SgDesc{0x1000000, 7, static_cast<std::uint32_t>(2 * kChunk)},
                            SgDesc{0x9000000, 8, static_cast<std::uint32_t>(2 * kChunk)}};
    std::vector<RemoteChunk> chunks;
    BOOST_TEST_REQUIRE(build_chunk_table(descs, 4, kChunk, chunks).has_value());
    const std::vector<RemoteChunk> expected = {{0x1000000, 7}, {0x1020000, 7},
                                               {0x9000000, 8}, {0x9020000, 8}};
    BOOST_TEST_REQUIRE(chunks.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) BOOST_TEST((chunks[i] == expected[i]));
}

BOOST_AUTO_TEST_CASE(rejects_bad_geometry) {
    std::vector<RemoteChunk> chunks;
    const SgDesc one[] = {SgDesc{0x1000, 1, static_cast<std::uint32_t>(3 * kChunk)}};
    BOOST_TEST(build_chunk_table({}, 4, kChunk, chunks).error() == Error::bad_value);  // sg_cnt 0
    BOOST_TEST(build_chunk_table(one, 0, kChunk, chunks).error() == Error::bad_value);
    BOOST_TEST(build_chunk_table(one, 3, 0, chunks).error() == Error::bad_value);
    const SgDesc two[] = {one[0], one[0]};
    BOOST_TEST(build_chunk_table(two, 3, kChunk, chunks).error() == Error::bad_value);  // 3 % 2
    BOOST_TEST(build_chunk_table(one, 65536, kChunk, chunks).error() == Error::out_of_range);
    // bits(sg_cnt - 1) + bits(chunk_size - 1) > 28: 2 descs (1 bit), 2^28-byte chunks (28 bits).
    const SgDesc huge[] = {SgDesc{0, 1, 1u << 28}, SgDesc{1u << 28, 1, 1u << 28}};
    BOOST_TEST(build_chunk_table(huge, 2, 1ull << 28, chunks).error() == Error::out_of_range);
    BOOST_TEST(build_chunk_table(std::span(huge, 1), 1, 1ull << 28, chunks).has_value());
}

BOOST_AUTO_TEST_CASE(rejects_bad_lengths) {
    std::vector<RemoteChunk> chunks;
    const SgDesc zero_len[] = {SgDesc{0x1000, 1, 0}};
    BOOST_TEST(build_chunk_table(zero_len, 1, kChunk, chunks).error() == Error::bad_value);
    const SgDesc not_multiple[] = {SgDesc{0x1000, 1, static_cast<std::uint32_t>(kChunk + 512)}};
    BOOST_TEST(build_chunk_table(not_multiple, 1, kChunk, chunks).error() == Error::bad_value);
    const SgDesc too_few[] = {SgDesc{0x1000, 1, static_cast<std::uint32_t>(kChunk)}};
    BOOST_TEST(build_chunk_table(too_few, 2, kChunk, chunks).error() == Error::bad_value);
    const SgDesc too_many[] = {SgDesc{0x1000, 1, static_cast<std::uint32_t>(3 * kChunk)}};
    BOOST_TEST(build_chunk_table(too_many, 2, kChunk, chunks).error() == Error::out_of_range);
    BOOST_TEST(chunks.empty());
}

BOOST_AUTO_TEST_CASE(rejects_address_wrap_and_leaves_table_empty) {
    std::vector<RemoteChunk> chunks{RemoteChunk{1, 1}};
    const SgDesc wraps[] = {SgDesc{~0ull - kChunk, 1, static_cast<std::uint32_t>(2 * kChunk)}};
    BOOST_TEST(build_chunk_table(wraps, 2, kChunk, chunks).error() == Error::out_of_range);
    BOOST_TEST(chunks.empty());
    const SgDesc fits[] = {SgDesc{~0ull - 2 * kChunk + 1, 1, 2 * kChunk32}};
    BOOST_TEST(build_chunk_table(fits, 2, kChunk, chunks).has_value());
}

BOOST_AUTO_TEST_CASE(decoded_golden_response_builds_a_table) {
    std::vector<SgDesc> descs;
    BOOST_TEST_REQUIRE(decode_info_rsp(kInfoRspGolden, descs).has_value());
    std::vector<RemoteChunk> chunks;
    // 2 + 1 chunks of 128 KiB, but qd 3 is not a multiple of sg_cnt 2.
    BOOST_TEST(build_chunk_table(descs, 3, kChunk, chunks).error() == Error::bad_value);
    // With 64 KiB chunks: 4 + 2 = 6 chunks, qd 6.
    BOOST_TEST_REQUIRE(build_chunk_table(descs, 6, 64 * 1024, chunks).has_value());
    BOOST_TEST((chunks[3] == RemoteChunk{0x1122334455667788ull + 3 * 65536, 0xAABBCCDDu}));
    BOOST_TEST((chunks[5] == RemoteChunk{0x0102030405060708ull + 65536, 0x01020304u}));
}

BOOST_AUTO_TEST_SUITE_END()
