// Every RTRS message decoder (docs/protocol.md §1.4-§1.7) on arbitrary bytes: the first byte picks the
// decoder, the rest is the message. Properties: no crash, no read outside the input (ASan), and a
// message that decodes and encodes decodes again to the same value.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/wire/rtrs.hpp"
#include "fuzz/fuzz_check.hpp"

using namespace ibnbd::wire;
using ibnbd::fuzz::check_round_trip;

namespace {

void fuzz_read_request(std::span<const std::byte> message) {
    const auto read = decode_rdma_read(message);
    if (!read) return;
    FUZZ_CHECK(read->size() <= message.size());
    std::vector<SgDesc> descs;
    for (std::size_t i = 0; i < read->sg_cnt; ++i) descs.push_back(read->desc(i));
    std::vector<std::byte> out(read->size());
    const auto written = encode_rdma_read(read->usr_len, read->flags, descs, out);
    FUZZ_CHECK(written.has_value());
    const auto again = decode_rdma_read(out);
    FUZZ_CHECK(again.has_value() && again->sg_cnt == read->sg_cnt && again->flags == read->flags &&
               again->usr_len == read->usr_len);
}

// The INFO response as the client takes it: descriptors, then the chunk table for the queue depth
// and chunk size that the last 6 bytes of the input propose.
void fuzz_info_response(std::span<const std::byte> message) {
    if (message.size() < 6) return;
    const std::byte* tail = message.data() + message.size() - 6;
    const std::uint32_t queue_depth = std::to_integer<std::uint32_t>(tail[0]) | std::to_integer<std::uint32_t>(tail[1]) << 8;
    const std::uint64_t chunk_size = std::uint64_t{1} << (std::to_integer<unsigned>(tail[2]) % 40);
    std::vector<SgDesc> descs;
    if (!decode_info_rsp(message.first(message.size() - 6), descs)) return;
    std::vector<RemoteChunk> chunks;
    if (build_chunk_table(descs, queue_depth, chunk_size, chunks)) {
        FUZZ_CHECK(chunks.size() == queue_depth);
    } else {
        FUZZ_CHECK(chunks.empty());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::byte> message(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
    std::array<std::byte, 4096> scratch{};
    switch (data[0] % 8) {
        case 0: check_round_trip(decode_conn_req, encode_conn_req, message, scratch); break;
        case 1: check_round_trip(decode_conn_rsp, encode_conn_rsp, message, scratch); break;
        case 2: check_round_trip(decode_info_req, encode_info_req, message, scratch); break;
        case 3: fuzz_info_response(message); break;
        case 4: check_round_trip(decode_rdma_write, encode_rdma_write, message, scratch); break;
        case 5: fuzz_read_request(message); break;
        case 6: check_round_trip(decode_rkey_rsp, encode_rkey_rsp, message, scratch); break;
        case 7:
            if (const auto conn = decode_conn_req(message)) (void)check_conn_req(*conn);
            if (const auto rsp = decode_conn_rsp(message)) (void)check_conn_rsp(*rsp);
            (void)peek_type(message, message.empty() ? 0 : std::to_integer<std::size_t>(message[0]));
            break;
    }
    return 0;
}
