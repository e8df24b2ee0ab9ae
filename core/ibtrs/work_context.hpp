// The 64-bit context every posted operation carries: what the work was, on which
// connection, for which request slot, and the connection generation it was posted in, so that a
// completion from before a reconnect is recognised as stale.
#pragma once

#include <cstdint>

namespace ibnbd::ibtrs {

enum class WorkKind : std::uint8_t {
    recv = 1,       // an empty or buffered receive
    io_request,     // client: the write-with-imm carrying a request
    io_response,    // server: the write-with-imm carrying a response (and read data)
    heartbeat,      // either side: HB_MSG or HB_ACK
    info_request,   // client: INFO_REQ send
    info_response,  // server: INFO_RSP send
    key_revoke,     // server: the revocation of a chunk's key when its request arrived
    key_bind,       // server: the bind of a chunk's next key (INFO_RSP, responses)
};

struct WorkContext {
    WorkKind kind = WorkKind::recv;
    std::uint16_t cid = 0;         // connection index within the path (< 4096)
    std::uint16_t generation = 0;  // connection generation (wraps; compared for equality only)
    std::uint32_t slot = 0;        // request slot / permit index, receive index, ...

    std::uint64_t pack() const {
        return (std::uint64_t{static_cast<std::uint8_t>(kind)} << 60) |
               (std::uint64_t{cid & 0xFFFu} << 48) | (std::uint64_t{generation} << 32) | slot;
    }
    static WorkContext unpack(std::uint64_t value) {
        WorkContext context;
        context.kind = static_cast<WorkKind>(value >> 60);
        context.cid = static_cast<std::uint16_t>((value >> 48) & 0xFFFu);
        context.generation = static_cast<std::uint16_t>(value >> 32);
        context.slot = static_cast<std::uint32_t>(value);
        return context;
    }
};

}  // namespace ibnbd::ibtrs
