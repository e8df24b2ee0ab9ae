// The RTRS immediate data (docs/protocol.md §1.7.5) from arbitrary 32-bit values and IO request
// geometries. Properties: every value decodes; a response built from decoded fields decodes to
// the same fields; an IO request payload splits back into the chunk and offset it was built from.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/wire/rtrs.hpp"
#include "core/wire/rtrs_imm.hpp"
#include "fuzz/fuzz_check.hpp"

using namespace ibnbd::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 9) return 0;
    std::uint32_t raw = 0, second = 0;
    std::memcpy(&raw, data, 4);
    std::memcpy(&second, data + 4, 4);
    const unsigned mem_bits = data[8] % (kImmPayloadBits + 1);

    const Imm imm = imm_decode(raw);
    FUZZ_CHECK(imm.payload <= kImmPayloadMask);
    FUZZ_CHECK(imm_encode(imm.type, imm.payload) == raw);
    const auto bytes = imm_to_wire_bytes(raw);
    FUZZ_CHECK(imm_from_wire_bytes(bytes) == raw);

    const IoRsp rsp = io_rsp_decode(imm.payload);
    FUZZ_CHECK(rsp.msg_id <= kMaxIoRspMsgId && rsp.status <= 0 && rsp.status >= -kMaxIoRspErrno);
    const auto rebuilt = io_rsp_imm(rsp.msg_id, rsp.status, imm.type == ImmType::io_rsp_w_inv);
    FUZZ_CHECK(rebuilt.has_value());
    FUZZ_CHECK(io_rsp_decode(imm_decode(*rebuilt).payload) == rsp);

    const IoReq req = io_req_decode(imm.payload, mem_bits);
    const std::uint32_t chunk = second >> 8, offset = second & 0xFF;
    if (const auto payload = io_req_payload(chunk, mem_bits, offset)) {
        FUZZ_CHECK(io_req_decode(*payload, mem_bits) == (IoReq{chunk, offset}));
    }
    if (const auto again = io_req_payload(req.msg_id, mem_bits, req.off)) FUZZ_CHECK(*again == imm.payload);
    (void)is_known_imm_type(imm.type);
    return 0;
}
