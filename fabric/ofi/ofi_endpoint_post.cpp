// OfiEndpoint: posting work. No allocation here: the slot comes from the preallocated queue, the
// iovecs and descriptors live on the stack.
#include <sys/uio.h>

#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_endpoint.hpp"
#include "fabric/ofi/ofi_errors.hpp"
#include "fabric/ofi/ofi_log.hpp"
#include "fabric/ofi/ofi_memory.hpp"

namespace ibnbd::fabric::ofi {

struct OfiEndpoint::LocalIov {
    std::array<iovec, kMaxSge> iov{};
    std::array<void*, kMaxSge> desc{};
    std::size_t count = 0;
    std::uint32_t total = 0;
};

Status<Errc> OfiEndpoint::gather(std::span<const Sge> sges, bool needs_local_write,
                                 LocalIov& iov) const {
    if (sges.size() > domain_.traits().iov_limit) return unexpected(Errc::invalid_argument);
    std::uint64_t total = 0;
    for (const Sge& sge : sges) {
        if (sge.mr == nullptr) return unexpected(Errc::invalid_argument);
        const std::byte* begin = sge.mr->data();
        const std::byte* end = begin + sge.mr->size();
        if (sge.addr < begin || sge.addr > end || sge.length > static_cast<std::size_t>(end - sge.addr)) {
            return unexpected(Errc::invalid_argument);
        }
        if (needs_local_write && (sge.mr->access() & access_local_write) == 0) {
            return unexpected(Errc::invalid_argument);
        }
        if (sge.length == 0) continue;  // nothing to move; keeps the provider's iovecs non-empty
        void* desc = nullptr;
        if (domain_.traits().mr_local) {
            const auto* region = dynamic_cast<const OfiMemoryRegion*>(sge.mr);
            if (region == nullptr) return unexpected(Errc::invalid_argument);
            desc = region->descriptor();
        }
        iov.iov[iov.count] = iovec{sge.addr, sge.length};
        iov.desc[iov.count] = desc;
        ++iov.count;
        total += sge.length;
    }
    if (total > UINT32_MAX) return unexpected(Errc::invalid_argument);
    iov.total = static_cast<std::uint32_t>(total);
    return {};
}

Status<Errc> OfiEndpoint::finish_post(WorkQueue& queue, long ret) {
    if (ret == 0) return {};
    queue.undo_push();
    const Errc errc = errc_from_fi_return(ret);
    if (errc != Errc::queue_full) ofi_log().warn("post to {}: {}", peer_.to_string(), fi_error_text(ret));
    return unexpected(errc);
}

std::uint64_t OfiEndpoint::transmit_flags(const std::uint32_t* imm) const {
    std::uint64_t flags = FI_COMPLETION;
    if (domain_.delivery_complete()) flags |= FI_DELIVERY_COMPLETE;
    if (imm) flags |= FI_REMOTE_CQ_DATA;
    return flags;
}

std::uint64_t OfiEndpoint::write_cq_data(std::uint32_t imm, std::uint32_t length) const {
    if (!domain_.traits().length_in_cq_data) return imm;
    return (std::uint64_t{length} << 32) | imm;
}

Status<Errc> OfiEndpoint::post_recv(std::uint64_t context, std::span<const Sge> sges) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    LocalIov iov;
    if (auto gathered = gather(sges, true, iov); !gathered) return gathered;
    WorkSlot* slot = recv_queue_.push(context, Opcode::recv, iov.total);
    if (slot == nullptr) return unexpected(Errc::queue_full);
    fi_msg msg{};
    msg.msg_iov = iov.iov.data();
    msg.desc = iov.desc.data();
    msg.iov_count = iov.count;
    msg.context = &slot->provider_context;
    return finish_post(recv_queue_, fi_recvmsg(ep_, &msg, FI_COMPLETION));
}

Status<Errc> OfiEndpoint::post_send(std::uint64_t context, std::span<const Sge> sges,
                                    const std::uint32_t* imm) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    LocalIov iov;
    if (auto gathered = gather(sges, false, iov); !gathered) return gathered;
    WorkSlot* slot = send_queue_.push(context, Opcode::send, iov.total);
    if (slot == nullptr) return unexpected(Errc::queue_full);
    fi_msg msg{};
    msg.msg_iov = iov.iov.data();
    msg.desc = iov.desc.data();
    msg.iov_count = iov.count;
    msg.context = &slot->provider_context;
    msg.data = imm ? *imm : 0;
    return finish_post(send_queue_, fi_sendmsg(ep_, &msg, transmit_flags(imm)));
}

Status<Errc> OfiEndpoint::post_write(std::uint64_t context, std::span<const Sge> sges,
                                     RemoteKey remote, const std::uint32_t* imm) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    LocalIov iov;
    if (auto gathered = gather(sges, false, iov); !gathered) return gathered;
    WorkSlot* slot = send_queue_.push(context, Opcode::rdma_write, iov.total);
    if (slot == nullptr) return unexpected(Errc::queue_full);
    if (iov.total == 0) remote = domain_.empty_write_target(remote);
    fi_rma_iov target{remote.addr, iov.total, remote.rkey};
    fi_msg_rma msg{};
    msg.msg_iov = iov.iov.data();
    msg.desc = iov.desc.data();
    msg.iov_count = iov.count;
    msg.rma_iov = &target;
    msg.rma_iov_count = 1;
    msg.context = &slot->provider_context;
    msg.data = imm ? write_cq_data(*imm, iov.total) : 0;
    return finish_post(send_queue_, fi_writemsg(ep_, &msg, transmit_flags(imm)));
}

Status<Errc> OfiEndpoint::post_read(std::uint64_t context, std::span<const Sge> sges,
                                    RemoteKey remote) {
    if (state_ != State::connected) return unexpected(Errc::not_connected);
    LocalIov iov;
    if (auto gathered = gather(sges, true, iov); !gathered) return gathered;
    WorkSlot* slot = send_queue_.push(context, Opcode::rdma_read, iov.total);
    if (slot == nullptr) return unexpected(Errc::queue_full);
    fi_rma_iov source{remote.addr, iov.total, remote.rkey};
    fi_msg_rma msg{};
    msg.msg_iov = iov.iov.data();
    msg.desc = iov.desc.data();
    msg.iov_count = iov.count;
    msg.rma_iov = &source;
    msg.rma_iov_count = 1;
    msg.context = &slot->provider_context;
    return finish_post(send_queue_, fi_readmsg(ep_, &msg, FI_COMPLETION));
}

}  // namespace ibnbd::fabric::ofi
