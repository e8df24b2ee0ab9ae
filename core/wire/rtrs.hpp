// rtrs.hpp - RTRS 2.0 wire messages (docs/protocol.md §1.2-§1.7): constants, CM private data,
// the INFO exchange, the IO request trailers and the RKEY response. Immediate data: rtrs_imm.hpp.
//
// CONVENTIONS
//     All integers are little-endian on the wire. Reserved bytes and padding are written as zero
//     and ignored when read.
//     encode_*(msg, out) writes the message at the start of `out` and returns the number of bytes
//     written; Error::buffer_too_small when `out` is shorter, Error::out_of_range or
//     Error::name_too_long when a field does not fit. Nothing is allocated; on error the contents
//     of `out` are unspecified.
//     decode_*(in) reads the message at the start of `in`; bytes after it are ignored (messages sit
//     inside larger chunks and receive buffers). Errors: too_short, bad_type and what each function
//     lists. Decoders check only what the codec can know; session-level checks (queue depth,
//     chunk bounds, session names) belong to the core.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/wire/error.hpp"
#include "core/wire/rtrs_imm.hpp"

namespace ibnbd::wire {

// ---- constants (§1.2) ------------------------------------------------------------------------

inline constexpr std::uint16_t kRtrsMagic = 0x1BBD;
inline constexpr std::uint8_t kRtrsVersionMajor = 2;
inline constexpr std::uint8_t kRtrsVersionMinor = 0;
inline constexpr std::uint16_t kRtrsVersion = kRtrsVersionMajor << 8 | kRtrsVersionMinor;  // 0x0200

inline constexpr std::size_t kMaxPaths = 128;
inline constexpr std::uint64_t kMinChunkSize = 8192;
inline constexpr std::uint64_t kDefaultMaxChunkSize = 128 * 1024;
inline constexpr std::uint32_t kMaxSessQueueDepth = 65535;
inline constexpr std::uint32_t kDefaultSessQueueDepth = 512;
inline constexpr std::uint32_t kMaxHdrSize = 4096;  // room for user msg + RTRS msg in each chunk
inline constexpr std::uint32_t kServiceConQueueDepth = 512;
inline constexpr std::uint16_t kMaxCidNum = 4096;  // largest cid_num a server accepts
inline constexpr std::uint32_t kMaxSegments = 128;  // client: fast-reg pages per MR (4 KiB each)
inline constexpr std::uint32_t kDefaultHbIntervalMs = 5000;
inline constexpr std::uint32_t kDefaultHbMissedMax = 5;
inline constexpr std::uint32_t kConnectTimeoutMs = 30000;
inline constexpr std::uint32_t kReconnectBackoffMs = 1000;

// Message sizes.
inline constexpr std::size_t kConnReqSize = 56;
inline constexpr std::size_t kConnRspSize = 56;
inline constexpr std::size_t kInfoReqSize = 272;
inline constexpr std::size_t kInfoRspHdrSize = 8;  // followed by sg_cnt descriptors
inline constexpr std::size_t kSgDescSize = 16;
inline constexpr std::size_t kRdmaWriteSize = 4;
inline constexpr std::size_t kRdmaReadHdrSize = 8;  // followed by sg_cnt descriptors
inline constexpr std::size_t kRkeyRspSize = 8;

inline constexpr std::size_t kPathnameFieldSize = 255;  // NAME_MAX
inline constexpr std::size_t kMaxPathnameLen = kPathnameFieldSize - 1;

// Flags.
inline constexpr std::uint32_t kConnRspNewRkeyFlag = 1u << 1;  // RTRS_MSG_NEW_RKEY_F
inline constexpr std::uint16_t kReadNeedInvalFlag = 1u << 0;   // RTRS_MSG_NEED_INVAL_F

// The 16-bit type at the start of every RTRS message except the CM private data.
enum class MsgType : std::uint16_t {
    info_req = 0,
    info_rsp = 1,
    write = 2,
    read = 3,
    rkey_rsp = 4,
};

// ---- parameters (§1.2, §1.6) -----------------------------------------------------------------

// ilog2(x) + 1, and 0 for 0: the number of bits needed to hold x.
constexpr unsigned bits(std::uint64_t x) {
    return static_cast<unsigned>(std::bit_width(x));
}

// Bits of an IO request payload left for the offset inside a chunk: 28 - bits(queue_depth - 1).
// Meaningful for queue depths accepted by check_server_params(); 0 is treated as 1 and depths
// that need more than 28 bits give 0.
constexpr unsigned mem_bits(std::uint32_t queue_depth) {
    const unsigned index_bits = queue_depth == 0 ? 0 : bits(queue_depth - 1);
    return index_bits >= kImmPayloadBits ? 0 : kImmPayloadBits - index_bits;
}

// The server's load-time check. Errors: out_of_range when queue_depth is not in
// 1..kMaxSessQueueDepth, chunk_size < kMinChunkSize, or bits(qd-1) + bits(chunk_size-1) > 28;
// bad_value when chunk_size is not a power of two.
Status<Error> check_server_params(std::uint32_t queue_depth, std::uint64_t chunk_size);

// ---- CM private data (§1.3, §1.4) ------------------------------------------------------------

using Uuid = std::array<std::uint8_t, 16>;

// Client -> server in connect(). magic and version are encoded as given (defaults are ours) and
// decoded as received, so that the server can reject with its own errno (check_conn_req).
struct ConnReq {
    std::uint16_t magic = kRtrsMagic;
    std::uint16_t version = kRtrsVersion;
    std::uint16_t cid = 0;
    std::uint16_t cid_num = 0;
    std::uint16_t recon_cnt = 0;
    Uuid sess_uuid{};   // the path
    Uuid paths_uuid{};  // the session
    bool first_conn = false;
    bool operator==(const ConnReq&) const = default;
};

EncodeResult encode_conn_req(const ConnReq& req, std::span<std::byte> out);
// Errors: too_short only.
Result<ConnReq> decode_conn_req(std::span<const std::byte> in);
// The server's checks of §1.3. Errors: bad_magic; bad_version (major != 2, minor ignored);
// out_of_range when cid_num is 0 or > kMaxCidNum, or cid >= cid_num.
Status<Error> check_conn_req(const ConnReq& req);

// Server -> client in accept() and reject(). status is 0 on accept, a negative errno on reject;
// it travels as the two's complement le16.
struct ConnRsp {
    std::uint16_t magic = kRtrsMagic;
    std::uint16_t version = kRtrsVersion;
    std::int16_t status = 0;
    std::uint16_t queue_depth = 0;
    std::uint32_t max_io_size = 0;
    std::uint32_t max_hdr_size = 0;
    std::uint32_t flags = 0;  // kConnRspNewRkeyFlag
    bool operator==(const ConnRsp&) const = default;
};

EncodeResult encode_conn_rsp(const ConnRsp& rsp, std::span<std::byte> out);
// Errors: too_short only.
Result<ConnRsp> decode_conn_rsp(std::span<const std::byte> in);
// The client's checks. Errors: bad_magic; bad_version (major != 2). status is not checked here.
Status<Error> check_conn_rsp(const ConnRsp& rsp);

// The session's chunk size as the client derives it; 64-bit because the sum of two untrusted
// 32-bit fields may not fit 32 bits.
constexpr std::uint64_t chunk_size_of(const ConnRsp& rsp) {
    return std::uint64_t{rsp.max_io_size} + rsp.max_hdr_size;
}

// ---- INFO exchange (§1.5) --------------------------------------------------------------------

// Client -> server on cid 0. pathname: the session name, at most kMaxPathnameLen bytes, no NUL.
struct InfoReq {
    std::string pathname;
    bool operator==(const InfoReq&) const = default;
};

// Errors: name_too_long, bad_value (pathname holds a NUL).
EncodeResult encode_info_req(const InfoReq& req, std::span<std::byte> out);
// Errors: too_short, bad_type, unterminated (no NUL within the 255-byte field).
Result<InfoReq> decode_info_req(std::span<const std::byte> in);

// One registered server memory region (also the client's buffer descriptor in READ requests).
struct SgDesc {
    std::uint64_t addr = 0;
    std::uint32_t key = 0;
    std::uint32_t len = 0;
    bool operator==(const SgDesc&) const = default;
};

constexpr std::size_t info_rsp_size(std::size_t sg_cnt) {
    return kInfoRspHdrSize + kSgDescSize * sg_cnt;
}

// Server -> client on cid 0: sg_cnt = descs.size(). Errors: out_of_range when more than 65535.
EncodeResult encode_info_rsp(std::span<const SgDesc> descs, std::span<std::byte> out);
// Replaces the contents of `descs` with the message's descriptors (setup path: may allocate).
// Errors: too_short (fewer than info_rsp_size(sg_cnt) bytes), bad_type.
Status<Error> decode_info_rsp(std::span<const std::byte> in, std::vector<SgDesc>& descs);

// Where chunk i of the session lives on the server, for one path.
struct RemoteChunk {
    std::uint64_t addr = 0;
    std::uint32_t rkey = 0;
    bool operator==(const RemoteChunk&) const = default;
};

// The client's validation of an INFO response (process_info_rsp()): replaces `chunks` with
// queue_depth entries, chunk k of descriptor d at descs[d].addr + k * chunk_size.
// Errors: bad_value when descs is empty, queue_depth is 0, queue_depth % descs.size() != 0,
// chunk_size is 0, a len is 0 or not a multiple of chunk_size, or the lens do not add up to
// queue_depth * chunk_size; out_of_range when queue_depth > kMaxSessQueueDepth,
// bits(sg_cnt-1) + bits(chunk_size-1) > 28, the descriptors hold more than queue_depth chunks,
// or a region wraps the 64-bit address space.
// On error `chunks` is left empty.
Status<Error> build_chunk_table(std::span<const SgDesc> descs, std::uint32_t queue_depth,
                                std::uint64_t chunk_size, std::vector<RemoteChunk>& chunks);

// ---- IO path (§1.7) --------------------------------------------------------------------------

// The 16-bit message type at in[offset]; any value is returned (the server dispatches and closes
// the path on unknown types). Errors: too_short.
Result<std::uint16_t> peek_type(std::span<const std::byte> in, std::size_t offset = 0);

// WRITE trailer {type 2, usr_len}, written after data and user message.
struct RdmaWrite {
    std::uint16_t usr_len = 0;
    bool operator==(const RdmaWrite&) const = default;
};

EncodeResult encode_rdma_write(const RdmaWrite& msg, std::span<std::byte> out);
Result<RdmaWrite> decode_rdma_write(std::span<const std::byte> in);

constexpr std::size_t rdma_read_size(std::size_t sg_cnt) {
    return kRdmaReadHdrSize + kSgDescSize * sg_cnt;
}

// READ request {type 3, usr_len, flags, sg_cnt} + sg_cnt descriptors of the client's buffers.
// sg_cnt = descs.size(). Errors: out_of_range when more than 65535 descriptors.
EncodeResult encode_rdma_read(std::uint16_t usr_len, std::uint16_t flags,
                              std::span<const SgDesc> descs, std::span<std::byte> out);

// A decoded READ request. It views the input: `desc_bytes` stays valid as long as the input.
struct RdmaRead {
    std::uint16_t usr_len = 0;
    std::uint16_t flags = 0;  // kReadNeedInvalFlag; other bits passed through
    std::uint16_t sg_cnt = 0;
    std::span<const std::byte> desc_bytes;  // exactly kSgDescSize * sg_cnt bytes
    SgDesc desc(std::size_t index) const;   // index < sg_cnt (asserts)
    std::size_t size() const { return rdma_read_size(sg_cnt); }
};

// Errors: too_short (fewer than rdma_read_size(sg_cnt) bytes), bad_type. Does not allocate.
Result<RdmaRead> decode_rdma_read(std::span<const std::byte> in);

// RKEY response {type 4, buf_id, rkey}: the chunk's next rkey (always_invalidate mode).
struct RkeyRsp {
    std::uint16_t buf_id = 0;
    std::uint32_t rkey = 0;
    bool operator==(const RkeyRsp&) const = default;
};

EncodeResult encode_rkey_rsp(const RkeyRsp& msg, std::span<std::byte> out);
Result<RkeyRsp> decode_rkey_rsp(std::span<const std::byte> in);

}  // namespace ibnbd::wire
