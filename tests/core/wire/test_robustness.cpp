// Every decoder against truncated, mutated and random input (fixed seed): each input yields a
// value or one of the decoder's documented errors, never a crash or an out-of-bounds read (run
// under the asan preset to check the latter). Decoded values must re-encode to an equal value.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>

#include "bytes.hpp"
#include "core/wire/endian.hpp"
#include "core/wire/rnbd.hpp"
#include "core/wire/rtrs.hpp"

using namespace ibnbd::wire;
using namespace ibnbd::wire::test;

namespace {

constexpr int kInputsPerDecoder = 20000;
constexpr std::uint64_t kSeed = 0x1BBD0200;

template <class T>
using Encoder = std::function<EncodeResult(const T&, std::span<std::byte>)>;
template <class T>
using Decoder = std::function<Result<T>(std::span<const std::byte>)>;

// Derives inputs from one valid message: random bytes, a few mutated bytes, the valid type with a
// random body (reaches the deeper checks), or a truncation.
class InputGenerator {
public:
    explicit InputGenerator(std::uint64_t seed) : rng_(seed) {}

    Bytes next(const Bytes& valid) {
        switch (below(4)) {
            case 0: return random_bytes(below(valid.size() + 33));
            case 1: return mutated(valid);
            case 2: return typed_random(valid);
            default: return truncated(valid);
        }
    }

    std::size_t below(std::size_t bound) { return bound == 0 ? 0 : rng_() % bound; }
    std::uint64_t u64() { return rng_(); }

private:
    Bytes random_bytes(std::size_t size) {
        Bytes out(size);
        for (auto& b : out) b = static_cast<std::byte>(rng_());
        return out;
    }

    Bytes mutated(const Bytes& valid) {
        Bytes out = valid;
        const std::size_t flips = 1 + below(8);
        for (std::size_t i = 0; i < flips && !out.empty(); ++i)
            out[below(out.size())] = static_cast<std::byte>(rng_());
        const Bytes extra = random_bytes(below(3) == 0 ? below(64) : 0);
        out.insert(out.end(), extra.begin(), extra.end());
        return out;
    }

    Bytes truncated(const Bytes& valid) {
        return Bytes(valid.begin(), valid.begin() + static_cast<long>(below(valid.size())));
    }

    Bytes typed_random(const Bytes& valid) {
        Bytes out = random_bytes(below(valid.size() + 33));
        const std::size_t type_size = std::min<std::size_t>({2, valid.size(), out.size()});
        std::copy_n(valid.begin(), type_size, out.begin());
        return out;
    }

    std::mt19937_64 rng_;
};

bool allowed(Error error, std::initializer_list<Error> errors) {
    return std::find(errors.begin(), errors.end(), error) != errors.end();
}

// Feeds kInputsPerDecoder inputs to `decode`; on a value, `check_value(input, value)` must hold.
// Requires that both values and errors were seen, so the inputs really reach the decoder's logic.
template <class T>
void fuzz(const Bytes& valid, const Decoder<T>& decode,
          std::initializer_list<Error> errors,
          const std::function<bool(std::span<const std::byte>, const T&)>& check_value) {
    InputGenerator gen(kSeed);
    int values_seen = 0;
    int errors_seen = 0;
    for (int i = 0; i < kInputsPerDecoder; ++i) {
        const Bytes input = gen.next(valid);
        auto result = decode(input);
        if (result.has_value()) {
            ++values_seen;
            if (!check_value(input, *result)) BOOST_FAIL("value check failed at input " << i);
        } else {
            ++errors_seen;
            if (!allowed(result.error(), errors))
                BOOST_FAIL("undocumented error " << to_string(result.error()) << " at input " << i);
        }
    }
    BOOST_TEST(values_seen > 0);
    BOOST_TEST(errors_seen > 0);
}

// Every proper prefix of a valid message is too short (up to `min_size`, when shorter prefixes
// are valid messages themselves).
template <class T>
void check_truncations(const Bytes& valid,
                       const Decoder<T>& decode,
                       std::size_t min_size) {
    for (std::size_t size = 0; size < min_size; ++size) {
        auto result = decode(prefix(valid, size));
        BOOST_TEST_REQUIRE(!result.has_value());
        BOOST_TEST_REQUIRE(result.error() == Error::too_short);
    }
    BOOST_TEST(decode(valid).has_value());
}

// Encodes `value` with `encode` and decodes it again with `decode`: the result must equal it.
template <class T>
bool re_encodes(const T& value, const Encoder<T>& encode, const Decoder<T>& decode) {
    Bytes out(512);
    auto written = encode(value, out);
    if (!written) return false;
    auto back = decode(prefix(out, *written));
    return back.has_value() && *back == value;
}

template <class T>
Bytes encoded(const T& value, const Encoder<T>& encode) {
    Bytes out(1024);
    auto written = encode(value, out);
    BOOST_REQUIRE(written.has_value());
    out.resize(*written);
    return out;
}

// Runs truncation and fuzz checks for a message type with struct encode/decode functions.
template <class T>
void fuzz_message(const T& sample, EncodeResult (*encode)(const T&, std::span<std::byte>),
                  Result<T> (*decode)(std::span<const std::byte>),
                  std::initializer_list<Error> errors) {
    const Encoder<T> enc = encode;
    const Decoder<T> dec = decode;
    const Bytes valid = encoded(sample, enc);
    check_truncations(valid, dec, valid.size());
    fuzz<T>(valid, dec, errors,
            [&](std::span<const std::byte>, const T& value) {
                return re_encodes(value, enc, dec);
            });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robustness)

BOOST_AUTO_TEST_CASE(rtrs_cm_messages) {
    ConnReq req;
    req.cid_num = 3;
    req.first_conn = true;
    fuzz_message(req, &encode_conn_req, &decode_conn_req, {Error::too_short});
    ConnRsp rsp;
    rsp.queue_depth = 512;
    rsp.max_io_size = 126976;
    rsp.max_hdr_size = 4096;
    fuzz_message(rsp, &encode_conn_rsp, &decode_conn_rsp, {Error::too_short});
}

BOOST_AUTO_TEST_CASE(rtrs_fixed_size_messages) {
    fuzz_message(InfoReq{"sessname"}, &encode_info_req, &decode_info_req,
                 {Error::too_short, Error::bad_type, Error::unterminated});
    fuzz_message(RdmaWrite{32}, &encode_rdma_write, &decode_rdma_write,
                 {Error::too_short, Error::bad_type});
    fuzz_message(RkeyRsp{3, 0xABCDEF}, &encode_rkey_rsp, &decode_rkey_rsp,
                 {Error::too_short, Error::bad_type});
}

BOOST_AUTO_TEST_CASE(rtrs_info_rsp_and_chunk_table) {
    const SgDesc descs[] = {SgDesc{0x1000, 1, 0x40000}, SgDesc{0x900000, 2, 0x40000}};
    Bytes valid(info_rsp_size(2));
    BOOST_REQUIRE(encode_info_rsp(descs, valid).has_value());
    const Decoder<std::vector<SgDesc>> decode =
        [](std::span<const std::byte> in) -> Result<std::vector<SgDesc>> {
        std::vector<SgDesc> out;
        if (auto ok = decode_info_rsp(in, out); !ok) return ibnbd::unexpected(ok.error());
        return out;
    };
    check_truncations(valid, decode, valid.size());
    InputGenerator params(kSeed + 1);
    fuzz<std::vector<SgDesc>>(valid, decode, {Error::too_short, Error::bad_type},
        [&](std::span<const std::byte> in, const std::vector<SgDesc>& got) {
            if (got.size() != load_le16(in, 2)) return false;
            if (in.size() < info_rsp_size(got.size())) return false;
            Bytes again(info_rsp_size(got.size()));
            if (!encode_info_rsp(got, again)) return false;
            if (!std::equal(again.begin() + 8, again.end(), in.begin() + 8)) return false;
            // The client's validation of the same response with a random queue depth/chunk size.
            const auto queue_depth = static_cast<std::uint32_t>(params.below(70000));
            const std::uint64_t chunk_size = params.below(2) ? 0x20000 : params.u64() % 0x100000;
            std::vector<RemoteChunk> chunks;
            const auto table = build_chunk_table(got, queue_depth, chunk_size, chunks);
            return table.has_value() ? chunks.size() == queue_depth : chunks.empty();
        });
}

BOOST_AUTO_TEST_CASE(rtrs_rdma_read) {
    const SgDesc descs[] = {SgDesc{0x7F0000001000, 0x1234, 4096}};
    Bytes valid(rdma_read_size(1));
    BOOST_REQUIRE(encode_rdma_read(32, kReadNeedInvalFlag, descs, valid).has_value());
    const Decoder<RdmaRead> decode = &decode_rdma_read;
    check_truncations(valid, decode, valid.size());
    fuzz<RdmaRead>(valid, decode, {Error::too_short, Error::bad_type},
        [](std::span<const std::byte> in, const RdmaRead& msg) {
            if (msg.size() > in.size() || msg.desc_bytes.data() != in.data() + 8) return false;
            std::vector<SgDesc> got;
            for (std::size_t i = 0; i < msg.sg_cnt; ++i) got.push_back(msg.desc(i));
            Bytes again(msg.size());
            if (!encode_rdma_read(msg.usr_len, msg.flags, got, again)) return false;
            return std::equal(again.begin(), again.end(), in.begin());
        });
}

BOOST_AUTO_TEST_CASE(rtrs_peek_type_at_random_offsets) {
    InputGenerator gen(kSeed);
    const Bytes valid(64, std::byte{0x02});
    for (int i = 0; i < kInputsPerDecoder; ++i) {
        const Bytes input = gen.next(valid);
        const std::size_t offset = gen.below(input.size() + 4);
        auto type = peek_type(input, offset);
        const bool fits = offset + 2 <= input.size();
        BOOST_TEST_REQUIRE(type.has_value() == fits);
        if (fits) BOOST_TEST_REQUIRE(*type == load_le16(input, offset));
        else BOOST_TEST_REQUIRE(type.error() == Error::too_short);
    }
}

BOOST_AUTO_TEST_CASE(rtrs_immediates) {
    InputGenerator gen(kSeed);
    for (int i = 0; i < kInputsPerDecoder; ++i) {
        const auto imm = static_cast<std::uint32_t>(gen.u64());
        const Imm decoded = imm_decode(imm);
        BOOST_TEST_REQUIRE(imm_encode(decoded.type, decoded.payload) == imm);
        const IoRsp rsp = io_rsp_decode(decoded.payload);
        auto again = io_rsp_imm(rsp.msg_id, rsp.status, false);
        BOOST_TEST_REQUIRE(again.has_value());
        BOOST_TEST_REQUIRE(imm_decode(*again).payload == decoded.payload);
        const auto bits_for_offset = static_cast<unsigned>(gen.below(kImmPayloadBits + 1));
        const IoReq req = io_req_decode(decoded.payload, bits_for_offset);
        auto payload = io_req_payload(req.msg_id, bits_for_offset, req.off);
        BOOST_TEST_REQUIRE(payload.has_value());
        BOOST_TEST_REQUIRE(*payload == decoded.payload);
        const auto wire = imm_to_wire_bytes(imm);
        BOOST_TEST_REQUIRE(imm_from_wire_bytes(wire) == imm);
    }
}

BOOST_AUTO_TEST_CASE(rnbd_messages) {
    const std::initializer_list<Error> fixed = {Error::too_short, Error::bad_type};
    fuzz_message(RnbdSessInfo{2}, &encode_rnbd_sess_info, &decode_rnbd_sess_info, fixed);
    fuzz_message(RnbdSessInfo{2}, &encode_rnbd_sess_info_rsp, &decode_rnbd_sess_info_rsp, fixed);
    fuzz_message(RnbdOpen{AccessMode::migration, "vg0/lv1"}, &encode_rnbd_open, &decode_rnbd_open,
                 {Error::too_short, Error::bad_type, Error::out_of_range, Error::unterminated});
    RnbdOpenRsp rsp;
    rsp.device_id = 1;
    rsp.nsectors = 1 << 21;
    rsp.logical_block_size = 512;
    fuzz_message(rsp, &encode_rnbd_open_rsp, &decode_rnbd_open_rsp, fixed);
    fuzz_message(RnbdClose{4}, &encode_rnbd_close, &decode_rnbd_close, fixed);
}

BOOST_AUTO_TEST_CASE(rnbd_io_and_header) {
    const RnbdIo io{3, 1000, rnbd_rw(RnbdOp::write, kRnbdFlagFua), 8192, 4};
    const Encoder<RnbdIo> enc = &encode_rnbd_io;
    const Decoder<RnbdIo> dec = &decode_rnbd_io;
    const Bytes valid = encoded(io, enc);
    check_truncations(valid, dec, kRnbdIoMinSize);
    fuzz<RnbdIo>(valid, dec, {Error::too_short, Error::bad_type},
        [&](std::span<const std::byte> in, const RnbdIo& got) {
            if (in.size() < kRnbdIoSize && got.prio != 0) return false;
            const auto op = rnbd_checked_op(got.rw);
            if (op.has_value() != (rnbd_rw_op(got.rw) < 6)) return false;
            return re_encodes(got, enc, dec);
        });
    const Decoder<RnbdMsgType> type = &decode_rnbd_type;
    fuzz<RnbdMsgType>(valid, type, {Error::too_short, Error::bad_type},
        [](std::span<const std::byte> in, const RnbdMsgType& got) {
            return static_cast<std::uint16_t>(got) == load_le16(in, 0) &&
                   static_cast<std::uint16_t>(got) <= 5;
        });
}

BOOST_AUTO_TEST_SUITE_END()
