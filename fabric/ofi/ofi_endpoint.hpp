// One libfabric FI_EP_MSG connection behind the fabric::Endpoint interface.
//
// States:
//   connecting  active side, fi_connect issued, waiting for FI_CONNECTED or an EQ error
//   accepting   passive side, fi_accept issued, waiting for FI_CONNECTED
//   connected   posts allowed; completions delivered from the work queues' fronts
//   draining    the connection broke (or disconnect() ran): the CQ is read until empty so that
//               work the provider finished is delivered with its real result
//   flushing    every still-posted work request completes as flushed, in post order per queue,
//               then disconnected is delivered once
//   closed      terminal: after disconnected, rejected or unreachable
// Callbacks happen only in deliver_one() and the on_cm_*() entry points, which the Domain calls
// from poll(); each makes at most one callback as its very last action, so the handler may
// destroy the endpoint.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include <rdma/fabric.h>
#include <rdma/fi_eq.h>

#include "fabric/fabric.hpp"
#include "fabric/ofi/ofi_address.hpp"
#include "fabric/ofi/work_queue.hpp"

struct iovec;

namespace ibnbd::fabric::ofi {

class Domain;

class OfiEndpoint final : public Endpoint {
public:
    // Errors: private_data_too_long, invalid_argument (a queue size of 0), no_resources,
    // backend_error. A connect that fails at once (refused) still returns the endpoint; the
    // outcome (unreachable) arrives from poll().
    static Expected<std::unique_ptr<OfiEndpoint>, Errc> connect(
        Domain& domain, const SocketAddress& destination, const SocketAddress* source,
        std::span<const std::byte> private_data, EndpointHandler& handler, QueueSizes queues);
    // `request` is the FI_CONNREQ's info (with its handle); it stays owned by the caller.
    static Expected<std::unique_ptr<OfiEndpoint>, Errc> accept(
        Domain& domain, fi_info* request, std::span<const std::byte> private_data,
        EndpointHandler& handler, QueueSizes queues, const Address& peer);
    ~OfiEndpoint() override;

    Status<Errc> post_recv(std::uint64_t context, std::span<const Sge> sges) override;
    Status<Errc> post_send(std::uint64_t context, std::span<const Sge> sges,
                           const std::uint32_t* imm) override;
    Status<Errc> post_write(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote,
                            const std::uint32_t* imm) override;
    Status<Errc> post_read(std::uint64_t context, std::span<const Sge> sges,
                           RemoteKey remote) override;
    void disconnect() override;
    bool connected() const override { return state_ == State::connected; }
    const Address& peer_address() const override { return peer_; }
    const Address& local_address() const override { return local_; }

    // ---- for the Domain ----
    const fid* provider_fid() const;
    // Makes at most one callback; returns whether it made one.
    bool deliver_one();
    // FI_CONNECTED: delivers established. Returns whether a callback was made.
    bool on_cm_connected(std::span<const std::byte> private_data);
    // FI_SHUTDOWN: starts the flush; the callbacks come from deliver_one().
    void on_cm_shutdown();
    // An EQ error entry for this endpoint: rejected/unreachable while connecting, else a break.
    bool on_cm_error(int error, std::span<const std::byte> error_data);

private:
    enum class State { connecting, accepting, connected, draining, flushing, closed };
    struct LocalIov;
    static constexpr std::size_t kBatch = 16;

    OfiEndpoint(Domain& domain, EndpointHandler& handler, QueueSizes queues);
    Status<Errc> open(fi_info* info, QueueSizes queues);
    void learn_local_address();
    void learn_addresses();

    // Posting (ofi_endpoint_post.cpp).
    Status<Errc> gather(std::span<const Sge> sges, bool needs_local_write, LocalIov& iov) const;
    Status<Errc> finish_post(WorkQueue& queue, long ret);
    std::uint64_t transmit_flags(const std::uint32_t* imm) const;
    std::uint64_t write_cq_data(std::uint32_t imm, std::uint32_t length) const;

    // Completions (ofi_endpoint_completions.cpp).
    bool deliver_work();
    bool deliver_front(WorkQueue& queue);
    bool deliver_flush();
    bool deliver_outcome();
    bool refill_batch();
    bool read_error_entry();
    bool record(const fi_cq_data_entry& entry);
    bool deliver_remote_imm(const fi_cq_data_entry& entry);
    WorkSlot* find_slot(void* provider_context);
    std::uint32_t remote_write_length(const fi_cq_data_entry& entry) const;
    void break_connection();

    Domain& domain_;
    EndpointHandler& handler_;
    State state_;
    fid_ep* ep_ = nullptr;
    fid_cq* cq_ = nullptr;
    bool cq_watched_ = false;  // its wait fd is in the domain's wait set
    WorkQueue send_queue_;
    WorkQueue recv_queue_;
    std::array<fi_cq_data_entry, kBatch> batch_{};
    std::size_t batch_next_ = 0;
    std::size_t batch_count_ = 0;
    bool cq_failed_ = false;
    // An outcome decided outside poll() (a connect refused at once), delivered by deliver_one().
    std::optional<CmEventType> pending_outcome_;
    Address peer_;
    Address local_;
};

}  // namespace ibnbd::fabric::ofi
