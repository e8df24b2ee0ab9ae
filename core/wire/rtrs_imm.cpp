#include "core/wire/rtrs_imm.hpp"

#include <cassert>
#include <cstdlib>

#include "core/wire/endian.hpp"

namespace ibnbd::wire {

bool is_known_imm_type(ImmType type) {
    switch (type) {
        case ImmType::io_req:
        case ImmType::io_rsp:
        case ImmType::io_rsp_w_inv:
        case ImmType::hb_msg:
        case ImmType::hb_ack: return true;
    }
    return false;
}

Result<std::uint32_t> io_req_payload(std::uint32_t chunk_index, unsigned mem_bits,
                                     std::uint32_t offset) {
    if (mem_bits > kImmPayloadBits) return unexpected(Error::out_of_range);
    if (offset >= (1u << mem_bits)) return unexpected(Error::out_of_range);
    if (chunk_index >= (1u << (kImmPayloadBits - mem_bits))) return unexpected(Error::out_of_range);
    return chunk_index << mem_bits | offset;
}

IoReq io_req_decode(std::uint32_t payload, unsigned mem_bits) {
    assert(mem_bits <= kImmPayloadBits);
    payload &= kImmPayloadMask;
    return IoReq{payload >> mem_bits, payload & ((1u << mem_bits) - 1)};
}

Result<std::uint32_t> io_rsp_imm(std::uint32_t msg_id, int status, bool with_inval) {
    // 64-bit magnitude: std::abs(INT_MIN) would overflow.
    const std::int64_t magnitude = std::abs(static_cast<std::int64_t>(status));
    if (magnitude > kMaxIoRspErrno) return unexpected(Error::out_of_range);
    if (msg_id > kMaxIoRspMsgId) return unexpected(Error::out_of_range);
    const std::uint32_t payload = static_cast<std::uint32_t>(magnitude) << kIoRspMsgIdBits | msg_id;
    return imm_encode(with_inval ? ImmType::io_rsp_w_inv : ImmType::io_rsp, payload);
}

IoRsp io_rsp_decode(std::uint32_t payload) {
    const auto magnitude = static_cast<int>((payload >> kIoRspMsgIdBits) & kMaxIoRspErrno);
    return IoRsp{payload & kMaxIoRspMsgId, -magnitude};
}

std::array<std::byte, 4> imm_to_wire_bytes(std::uint32_t imm) {
    std::array<std::byte, 4> bytes{};
    store_be32(bytes, 0, imm);
    return bytes;
}

std::uint32_t imm_from_wire_bytes(std::span<const std::byte, 4> bytes) {
    return load_be32(bytes, 0);
}

}  // namespace ibnbd::wire
