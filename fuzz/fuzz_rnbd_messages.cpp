// Every RNBD message decoder (docs/protocol.md §3) on arbitrary bytes: the first byte picks the decoder.
// Properties: no crash, no read outside the input, and what decodes and encodes decodes again to
// the same value; an IO's op is checked the way the server checks it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/rnbd.hpp"
#include "fuzz/fuzz_check.hpp"

using namespace ibnbd::wire;
using ibnbd::fuzz::check_round_trip;

namespace {

void fuzz_io(std::span<const std::byte> message, std::span<std::byte> scratch) {
    check_round_trip(decode_rnbd_io, encode_rnbd_io, message, scratch);
    const auto io = decode_rnbd_io(message);
    if (!io) return;
    const auto op = rnbd_checked_op(io->rw);
    FUZZ_CHECK(op.has_value() == (rnbd_rw_op(io->rw) < 6));
    FUZZ_CHECK(rnbd_rw(static_cast<RnbdOp>(rnbd_rw_op(io->rw)), rnbd_rw_flags(io->rw)) == io->rw);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::byte> message(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
    std::array<std::byte, 1024> scratch{};
    switch (data[0] % 7) {
        case 0: (void)decode_rnbd_type(message); break;
        case 1: check_round_trip(decode_rnbd_sess_info, encode_rnbd_sess_info, message, scratch); break;
        case 2: check_round_trip(decode_rnbd_sess_info_rsp, encode_rnbd_sess_info_rsp, message, scratch); break;
        case 3: check_round_trip(decode_rnbd_open, encode_rnbd_open, message, scratch); break;
        case 4: check_round_trip(decode_rnbd_open_rsp, encode_rnbd_open_rsp, message, scratch); break;
        case 5: check_round_trip(decode_rnbd_close, encode_rnbd_close, message, scratch); break;
        case 6: fuzz_io(message, scratch); break;
    }
    return 0;
}
