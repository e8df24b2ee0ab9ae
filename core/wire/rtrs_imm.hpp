// rtrs_imm.hpp - RTRS 2.0 32-bit immediate data (docs/protocol.md §1.7.5).
//
// LAYOUT
//     imm = type << 28 | payload, type 4 bits, payload 28 bits. Functions here take and return the
//     host value; on the wire it travels big-endian (imm_to_wire_bytes / imm_from_wire_bytes; the
//     fabric backends do this conversion themselves).
//
//     IO_REQ   payload = chunk_index << mem_bits | offset of the RTRS message inside the chunk
//     IO_RSP, IO_RSP_W_INV
//              payload = (|errno| & 0x1FF) << 19 | (msg_id & 0x7FFFF)
//     HB_MSG, HB_ACK
//              payload = 0
//
// ERRORS
//     Builders that pack fields (io_req_payload, io_rsp_imm) refuse values that do not fit with
//     Error::out_of_range instead of truncating them silently as the kernel does. Decoders cannot
//     fail: every 32-bit value decodes; unknown types are reported as they are
//     (see is_known_imm_type) so that the receiver can log and ignore them as the kernel does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/error.hpp"

namespace ibnbd::wire {

inline constexpr unsigned kImmTypeBits = 4;
inline constexpr unsigned kImmPayloadBits = 28;
inline constexpr std::uint32_t kImmPayloadMask = (1u << kImmPayloadBits) - 1;  // 0x0FFFFFFF

inline constexpr unsigned kIoRspMsgIdBits = 19;
inline constexpr unsigned kIoRspErrnoBits = 9;
inline constexpr std::uint32_t kMaxIoRspMsgId = (1u << kIoRspMsgIdBits) - 1;  // 0x7FFFF
inline constexpr int kMaxIoRspErrno = (1 << kIoRspErrnoBits) - 1;              // 511

// The 4-bit type. Values outside the named ones can arrive from a peer; the enum's fixed
// underlying type makes them representable.
enum class ImmType : std::uint8_t {
    io_req = 0,
    io_rsp = 1,
    io_rsp_w_inv = 2,  // IO response; the server already invalidated the client's rkey
    hb_msg = 8,
    hb_ack = 9,
};

bool is_known_imm_type(ImmType type);

struct Imm {
    ImmType type = ImmType::io_req;
    std::uint32_t payload = 0;  // < 2^28
    bool operator==(const Imm&) const = default;
};

// Packs type and payload. Type bits above 4 and payload bits above 28 are discarded (as
// rtrs_to_imm() does); build payloads with the checked helpers below.
constexpr std::uint32_t imm_encode(ImmType type, std::uint32_t payload) {
    const std::uint32_t type_bits = static_cast<std::uint32_t>(type) & 0xFu;
    return type_bits << kImmPayloadBits | (payload & kImmPayloadMask);
}

constexpr Imm imm_decode(std::uint32_t imm) {
    return Imm{static_cast<ImmType>(imm >> kImmPayloadBits), imm & kImmPayloadMask};
}

inline constexpr std::uint32_t kHbMsgImm = imm_encode(ImmType::hb_msg, 0);  // 0x80000000
inline constexpr std::uint32_t kHbAckImm = imm_encode(ImmType::hb_ack, 0);  // 0x90000000

// IO request payload: chunk_index << mem_bits | offset, mem_bits from mem_bits(queue_depth).
// Errors: out_of_range when mem_bits > 28, offset >= 2^mem_bits or chunk_index >= 2^(28-mem_bits).
Result<std::uint32_t> io_req_payload(std::uint32_t chunk_index, unsigned mem_bits,
                                     std::uint32_t offset);

struct IoReq {
    std::uint32_t msg_id = 0;  // chunk index; the server must still check it against queue_depth
    std::uint32_t off = 0;     // offset of the RTRS message; the server checks it against the chunk
    bool operator==(const IoReq&) const = default;
};

// Splits an IO request payload (bits above 28 are ignored). mem_bits must be <= 28: it comes from
// local configuration, never from the wire, so a larger value is a programming error (asserts).
IoReq io_req_decode(std::uint32_t payload, unsigned mem_bits);

// IO response immediate: type IO_RSP, or IO_RSP_W_INV when with_inval. `status` is 0 or an errno
// of either sign (the kernel passes negative errnos and sends the magnitude).
// Errors: out_of_range when msg_id > kMaxIoRspMsgId or |status| > kMaxIoRspErrno.
Result<std::uint32_t> io_rsp_imm(std::uint32_t msg_id, int status, bool with_inval);

struct IoRsp {
    std::uint32_t msg_id = 0;  // < 2^19; the client must still check it against queue_depth
    int status = 0;            // 0 or a negative errno in -511..-1
    bool operator==(const IoRsp&) const = default;
};

// Splits an IO response payload (the payload of an IO_RSP or IO_RSP_W_INV immediate).
IoRsp io_rsp_decode(std::uint32_t payload);

// The four network-order bytes of an immediate, and back.
std::array<std::byte, 4> imm_to_wire_bytes(std::uint32_t imm);
std::uint32_t imm_from_wire_bytes(std::span<const std::byte, 4> bytes);

}  // namespace ibnbd::wire
