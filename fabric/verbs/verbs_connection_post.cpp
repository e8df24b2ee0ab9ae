// Connection: posting work. No allocation: the slot comes from the preallocated ring, the work
// request and its scatter-gather list live on the stack.
#include <arpa/inet.h>

#include <cerrno>

#include "fabric/verbs/verbs_connection.hpp"
#include "fabric/verbs/verbs_errors.hpp"
#include "fabric/verbs/verbs_log.hpp"
#include "fabric/verbs/verbs_memory.hpp"

namespace ibnbd::fabric::verbs {

struct Connection::LocalSges {
    std::array<ibv_sge, kMaxSge> sge{};
    int count = 0;
    std::uint32_t total = 0;
};

Status<Errc> Connection::gather(std::span<const Sge> sges, bool needs_local_write, LocalSges& local) const {
    if (sges.size() > device_.sge_limit()) return unexpected(Errc::invalid_argument);
    std::uint64_t total = 0;
    for (const Sge& sge : sges) {
        const auto* region = dynamic_cast<const VerbsMemoryRegion*>(sge.mr);
        if (region == nullptr || &region->device() != &device_) return unexpected(Errc::invalid_argument);
        const std::byte* begin = region->data();
        const std::byte* end = begin + region->size();
        if (sge.addr < begin || sge.addr > end || sge.length > static_cast<std::size_t>(end - sge.addr)) {
            return unexpected(Errc::invalid_argument);
        }
        if (needs_local_write && (region->access() & access_local_write) == 0) {
            return unexpected(Errc::invalid_argument);
        }
        if (sge.length == 0) continue;  // nothing to move
        local.sge[static_cast<std::size_t>(local.count)] =
            ibv_sge{reinterpret_cast<std::uintptr_t>(sge.addr), sge.length, region->lkey()};
        ++local.count;
        total += sge.length;
    }
    if (total > UINT32_MAX) return unexpected(Errc::invalid_argument);
    local.total = static_cast<std::uint32_t>(total);
    return {};
}

Status<Errc> Connection::post_to_send_queue(ibv_send_wr& wr) {
    wr.wr_id = send_ring_.newest_wr_id();
    wr.send_flags = IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    const int ret = ibv_post_send(id_->qp, &wr, &bad);
    if (ret == 0) return {};
    send_ring_.undo_push();
    if (ret == ENOMEM) return unexpected(Errc::queue_full);
    // The provider may have queued the request before failing (rxe rings its doorbell last): the
    // connection cannot be trusted any more.
    break_connection("posting a send-queue work request failed");
    std::uint64_t bytes = 0;
    for (int i = 0; i < wr.num_sge; ++i) bytes += wr.sg_list[i].length;
    verbs_log().warn("ibv_post_send (opcode {}, {} entries, {} bytes, remote {:#x} key {:#x}) to {}: {}",
                     static_cast<int>(wr.opcode), wr.num_sge, bytes, wr.wr.rdma.remote_addr,
                     wr.opcode == IBV_WR_BIND_MW ? wr.bind_mw.rkey : wr.wr.rdma.rkey, peer_.to_string(),
                     errno_text(ret));
    return unexpected(errc_from_errno(ret));
}

Status<Errc> Connection::post_recv(std::uint64_t context, std::span<const Sge> sges) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    LocalSges local;
    if (auto gathered = gather(sges, true, local); !gathered) return gathered;
    if (recv_ring_.push(context, Opcode::recv, local.total) == nullptr) return unexpected(Errc::queue_full);
    ibv_recv_wr wr{};
    wr.wr_id = recv_ring_.newest_wr_id();
    wr.sg_list = local.sge.data();
    wr.num_sge = local.count;
    ibv_recv_wr* bad = nullptr;
    const int ret = ibv_post_recv(id_->qp, &wr, &bad);
    if (ret == 0) return {};
    recv_ring_.undo_push();
    if (ret == ENOMEM) return unexpected(Errc::queue_full);
    break_connection("posting a receive failed");
    verbs_log().warn("ibv_post_recv from {}: {}", peer_.to_string(), errno_text(ret));
    return unexpected(errc_from_errno(ret));
}

// The shared part of every send-queue post: checks, gathers, takes a ring slot, posts `wr`.
Status<Errc> Connection::post_gathered(std::uint64_t context, std::span<const Sge> sges, bool needs_local_write,
                                       Opcode opcode, ibv_send_wr& wr) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    LocalSges local;
    if (auto gathered = gather(sges, needs_local_write, local); !gathered) return gathered;
    if (send_ring_.push(context, opcode, local.total) == nullptr) return unexpected(Errc::queue_full);
    wr.sg_list = local.sge.data();
    wr.num_sge = local.count;
    return post_to_send_queue(wr);
}

Status<Errc> Connection::post_send(std::uint64_t context, std::span<const Sge> sges, const std::uint32_t* imm) {
    ibv_send_wr wr{};
    wr.opcode = imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND;
    if (imm) wr.imm_data = htonl(*imm);
    return post_gathered(context, sges, false, Opcode::send, wr);
}

Status<Errc> Connection::post_write(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote,
                                    const std::uint32_t* imm) {
    ibv_send_wr wr{};
    wr.opcode = imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE;
    if (imm) wr.imm_data = htonl(*imm);
    wr.wr.rdma.remote_addr = remote.addr;
    wr.wr.rdma.rkey = remote.rkey;
    return post_gathered(context, sges, false, Opcode::rdma_write, wr);
}

Status<Errc> Connection::post_read(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote) {
    ibv_send_wr wr{};
    wr.opcode = IBV_WR_RDMA_READ;
    wr.wr.rdma.remote_addr = remote.addr;
    wr.wr.rdma.rkey = remote.rkey;
    return post_gathered(context, sges, true, Opcode::rdma_read, wr);
}

// The key travels where a send-with-immediate's immediate would (a union in ibv_send_wr), in
// host order: verbs sends it as the IETH's R_Key.
Status<Errc> Connection::post_send_invalidate(std::uint64_t context, std::span<const Sge> sges, std::uint32_t rkey) {
    if (!device_.windows_supported()) return unexpected(Errc::not_supported);
    ibv_send_wr wr{};
    wr.opcode = IBV_WR_SEND_WITH_INV;
    wr.invalidate_rkey = rkey;
    return post_gathered(context, sges, false, Opcode::send, wr);
}

Status<Errc> Connection::post_local_invalidate(std::uint64_t context, std::uint32_t rkey) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    if (!device_.windows_supported()) return unexpected(Errc::not_supported);
    if (send_ring_.push(context, kOpLocalInvalidate, 0) == nullptr) return unexpected(Errc::queue_full);
    ibv_send_wr wr{};
    wr.opcode = IBV_WR_LOCAL_INV;
    wr.invalidate_rkey = rkey;
    return post_to_send_queue(wr);
}

// A bind (IBV_WR_BIND_MW, of a type-2 or a type-1 window): no scatter-gather entries, no
// immediate (rxe refuses both). The window is not zero-based: peers address it by the region's
// virtual addresses. A type-1 revocation (length 0) keeps the window's key.
Expected<RemoteKey, Errc> Connection::post_bind_window(std::uint64_t context, MemoryWindow& window,
                                                       const WindowBind& bind) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    auto* own_window = dynamic_cast<VerbsMemoryWindow*>(&window);
    if (own_window == nullptr) {
        if (!device_.windows_supported() && !device_.type1_windows_supported()) {
            return unexpected(Errc::not_supported);
        }
        return unexpected(Errc::invalid_argument);
    }
    const auto* region = dynamic_cast<const VerbsMemoryRegion*>(bind.mr);
    const bool revoke = own_window->fabric_wide() && window_revoke_is_valid(bind);
    if (&own_window->device() != &device_ || region == nullptr || &region->device() != &device_ ||
        (!revoke && !window_bind_is_valid(bind))) {
        return unexpected(Errc::invalid_argument);
    }
    if (send_ring_.push(context, kOpBindWindow, 0) == nullptr) return unexpected(Errc::queue_full);
    const std::uint32_t key = revoke ? own_window->mw()->rkey : own_window->next_key();
    ibv_send_wr wr{};
    wr.opcode = IBV_WR_BIND_MW;
    wr.bind_mw.mw = own_window->mw();
    wr.bind_mw.rkey = key;
    wr.bind_mw.bind_info.mr = region->mr();
    wr.bind_mw.bind_info.addr = reinterpret_cast<std::uintptr_t>(bind.addr);
    wr.bind_mw.bind_info.length = bind.length;
    wr.bind_mw.bind_info.mw_access_flags = ((bind.access & access_remote_read) ? IBV_ACCESS_REMOTE_READ : 0) |
                                           ((bind.access & access_remote_write) ? IBV_ACCESS_REMOTE_WRITE : 0);
    if (auto posted = post_to_send_queue(wr); !posted) return unexpected(posted.error());
    own_window->bind_posted(key);
    return RemoteKey{reinterpret_cast<std::uintptr_t>(bind.addr), key};
}

}  // namespace ibnbd::fabric::verbs
