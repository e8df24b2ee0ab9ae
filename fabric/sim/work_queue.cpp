#include "fabric/sim/work_queue.hpp"

#include <algorithm>

namespace ibnbd::fabric::sim {

Opcode initiator_opcode(OpKind kind) {
    switch (kind) {
        case OpKind::send:
        case OpKind::send_imm:
        case OpKind::send_inv: return Opcode::send;
        case OpKind::write:
        case OpKind::write_imm: return Opcode::rdma_write;
        case OpKind::read: return Opcode::rdma_read;
        case OpKind::bind_window: return kOpBindWindow;
        case OpKind::local_invalidate: return kOpLocalInvalidate;
    }
    return Opcode::send;
}

Expected<SgeList, Errc> SgeList::make(std::span<const Sge> sges, std::uint32_t needed_access) {
    if (sges.size() > kMaxSge) return unexpected(Errc::invalid_argument);
    SgeList list;
    std::uint64_t total = 0;
    for (const Sge& sge : sges) {
        if (sge.length != 0) {
            if (sge.mr == nullptr || sge.addr == nullptr) return unexpected(Errc::invalid_argument);
            const std::byte* begin = sge.mr->data();
            const std::size_t size = sge.mr->size();
            if (sge.addr < begin || sge.addr > begin + size) return unexpected(Errc::invalid_argument);
            if (sge.length > static_cast<std::size_t>(begin + size - sge.addr)) {
                return unexpected(Errc::invalid_argument);
            }
            if ((sge.mr->access() & needed_access) != needed_access) {
                return unexpected(Errc::invalid_argument);
            }
        }
        total += sge.length;
        list.entries[list.count++] = sge;
    }
    if (total > kMaxMessageBytes) return unexpected(Errc::invalid_argument);
    list.total = static_cast<std::uint32_t>(total);
    return list;
}

void gather(const SgeList& list, std::byte* destination) {
    for (std::uint8_t i = 0; i < list.count; ++i) {
        const Sge& sge = list.entries[i];
        if (sge.length == 0) continue;
        std::memcpy(destination, sge.addr, sge.length);
        destination += sge.length;
    }
}

void scatter(const std::byte* source, std::uint64_t length, const SgeList& list) {
    for (std::uint8_t i = 0; i < list.count && length != 0; ++i) {
        const Sge& sge = list.entries[i];
        const std::uint64_t chunk = std::min<std::uint64_t>(sge.length, length);
        if (chunk == 0) continue;
        std::memcpy(sge.addr, source, chunk);
        source += chunk;
        length -= chunk;
    }
    assert(length == 0);
}

void copy_between(const SgeList& source, const SgeList& target) {
    assert(source.total <= target.total);
    std::uint8_t t = 0;
    std::uint32_t t_offset = 0;
    for (std::uint8_t s = 0; s < source.count; ++s) {
        const std::byte* from = source.entries[s].addr;
        std::uint32_t left = source.entries[s].length;
        while (left != 0) {
            const Sge& into = target.entries[t];
            const std::uint32_t chunk = std::min(left, into.length - t_offset);
            if (chunk != 0) std::memcpy(into.addr + t_offset, from, chunk);
            from += chunk;
            left -= chunk;
            t_offset += chunk;
            if (t_offset == into.length) {
                ++t;
                t_offset = 0;
            }
        }
    }
}

}  // namespace ibnbd::fabric::sim
