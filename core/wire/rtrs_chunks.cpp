// Server parameter checks and the client's chunk table (docs/protocol.md §1.2, §1.5).
#include "core/wire/rtrs.hpp"

#include <bit>
#include <limits>

namespace ibnbd::wire {

Status<Error> check_server_params(std::uint32_t queue_depth, std::uint64_t chunk_size) {
    if (queue_depth == 0 || queue_depth > kMaxSessQueueDepth)
        return unexpected(Error::out_of_range);
    if (chunk_size < kMinChunkSize) return unexpected(Error::out_of_range);
    if (!std::has_single_bit(chunk_size)) return unexpected(Error::bad_value);
    if (bits(queue_depth - 1) + bits(chunk_size - 1) > kImmPayloadBits)
        return unexpected(Error::out_of_range);
    return {};
}

namespace {

Status<Error> check_chunk_geometry(std::size_t sg_cnt, std::uint32_t queue_depth,
                                   std::uint64_t chunk_size) {
    if (sg_cnt == 0 || queue_depth == 0 || chunk_size == 0) return unexpected(Error::bad_value);
    // Bounds the table (the wire's queue_depth is 16 bits anyway).
    if (queue_depth > kMaxSessQueueDepth) return unexpected(Error::out_of_range);
    if (queue_depth % sg_cnt != 0) return unexpected(Error::bad_value);
    if (bits(sg_cnt - 1) + bits(chunk_size - 1) > kImmPayloadBits)
        return unexpected(Error::out_of_range);
    return {};
}

// Appends the chunks of one descriptor; `chunks` never grows beyond queue_depth.
Status<Error> append_desc_chunks(const SgDesc& desc, std::uint32_t queue_depth,
                                 std::uint64_t chunk_size, std::vector<RemoteChunk>& chunks) {
    if (desc.len == 0 || desc.len % chunk_size != 0) return unexpected(Error::bad_value);
    const std::uint64_t count = desc.len / chunk_size;
    if (count > queue_depth - chunks.size()) return unexpected(Error::out_of_range);
    // The region's last byte must be addressable.
    if (desc.addr > std::numeric_limits<std::uint64_t>::max() - (desc.len - 1))
        return unexpected(Error::out_of_range);
    for (std::uint64_t k = 0; k < count; ++k)
        chunks.push_back(RemoteChunk{desc.addr + k * chunk_size, desc.key});
    return {};
}

}  // namespace

Status<Error> build_chunk_table(std::span<const SgDesc> descs, std::uint32_t queue_depth,
                                std::uint64_t chunk_size, std::vector<RemoteChunk>& chunks) {
    chunks.clear();
    if (auto ok = check_chunk_geometry(descs.size(), queue_depth, chunk_size); !ok) return ok;
    chunks.reserve(queue_depth);
    for (const SgDesc& desc : descs) {
        if (auto ok = append_desc_chunks(desc, queue_depth, chunk_size, chunks); !ok) {
            chunks.clear();
            return ok;
        }
    }
    // All chunks have length chunk_size, so "total == qd * chunk_size" is "qd chunks".
    if (chunks.size() != queue_depth) {
        chunks.clear();
        return unexpected(Error::bad_value);
    }
    return {};
}

}  // namespace ibnbd::wire
