// One RC connection: its rdma_cm id, queue pair, completion queue and posted work, and the state
// machine that turns RDMA CM events and work completions into the fabric interface's callbacks.
//
// States:
//   resolving_address  active side, rdma_resolve_addr issued
//   resolving_route    active side, QP created, rdma_resolve_route issued
//   connecting         active side, rdma_connect (REQ) sent
//   accepting          passive side, rdma_accept (REP) sent, waiting for ESTABLISHED
//   connected          posts allowed; completions delivered in post order per queue
//   draining           QP in the error state, disconnect sent; the device flushes the posted work,
//                      and disconnected is delivered once both rings are empty
//   closed             terminal: after disconnected, rejected or unreachable
//
// A Connection is owned by the RdmaDevice and outlives its Endpoint (VerbsEndpoint): when the Endpoint
// is destroyed the connection becomes an orphan - silent, disconnected if it was up - and the
// RdmaDevice destroys it once it is closed and, if it was ever established, TIMEWAIT_EXIT arrived.
// Callbacks happen only in deliver_one() and on_cm_event(), which the RdmaDevice calls from poll();
// each makes at most one callback, as its last action.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "fabric/fabric.hpp"
#include "fabric/verbs/verbs_address.hpp"
#include "fabric/verbs/verbs_device.hpp"
#include "fabric/verbs/work_ring.hpp"

namespace ibnbd::fabric::verbs {

class Connection final : public CmOwner {
public:
    enum class State { resolving_address, resolving_route, connecting, accepting, connected, draining, closed };

    // Active side: starts address resolution towards `destination`. A failure after the id exists
    // is reported as unreachable from poll(). Errors: invalid_argument (a queue size of 0),
    // no_resources (queues beyond the device's limits, or an rdma-core allocation failed).
    static Expected<Connection*, Errc> connect(RdmaDevice& device, const SocketAddress& destination,
                                               const SocketAddress* source,
                                               std::span<const std::byte> private_data,
                                               EndpointHandler& handler, QueueSizes queues);
    // Passive side: takes ownership of `id` (a connect request's) even when it fails; accepts
    // with `private_data`. `request` is the request's connection parameters.
    static Expected<Connection*, Errc> accept(RdmaDevice& device, rdma_cm_id* id, const rdma_conn_param& request,
                                              std::span<const std::byte> private_data,
                                              EndpointHandler& handler, QueueSizes queues);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // ---- the Endpoint's operations (see fabric.hpp) ----
    Status<Errc> post_recv(std::uint64_t context, std::span<const Sge> sges);
    Status<Errc> post_send(std::uint64_t context, std::span<const Sge> sges, const std::uint32_t* imm);
    Status<Errc> post_write(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote,
                            const std::uint32_t* imm);
    Status<Errc> post_read(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote);
    Status<Errc> post_send_invalidate(std::uint64_t context, std::span<const Sge> sges, std::uint32_t rkey);
    Status<Errc> post_local_invalidate(std::uint64_t context, std::uint32_t rkey);
    Expected<RemoteKey, Errc> post_bind_window(std::uint64_t context, MemoryWindow& window, const WindowBind& bind);
    void disconnect();
    bool connected() const { return state_ == State::connected; }
    const Address& peer_address() const { return peer_; }
    const Address& local_address() const { return local_; }
    // The Endpoint is gone: no more callbacks; disconnects if needed.
    void orphan();

    // ---- for the RdmaDevice ----
    // Returns whether a callback was made.
    bool on_cm_event(const rdma_cm_event& event);
    // Makes at most one callback (or one silent step of an orphan); returns whether it did.
    bool deliver_one();
    // The completion channel reported this connection's CQ: it is no longer armed.
    void on_cq_event() { armed_ = false; }
    bool reapable(Nanos now) const;
    // The Endpoint is gone and the QP waits for its flushes or TIMEWAIT_EXIT.
    bool lingering() const { return orphaned_; }
    // Destroyed because of VerbsConfig::timewait_limit rather than TIMEWAIT_EXIT.
    bool timewait_missed() const { return ever_established_ && !timewait_exited_; }

private:
    struct LocalSges;
    static constexpr std::size_t kBatch = 16;

    Connection(RdmaDevice& device, EndpointHandler& handler, QueueSizes queues);
    Status<Errc> create_cq(QueueSizes queues);
    Status<Errc> create_qp(QueueSizes queues);
    rdma_conn_param connection_parameters(std::span<const std::byte> private_data) const;
    void learn_addresses();
    void fail_attempt(const char* step, int error);

    // CM events (verbs_connection.cpp).
    bool on_address_resolved();
    bool on_route_resolved();
    bool on_established(const rdma_cm_event& event);
    bool on_rejected(const rdma_cm_event& event);
    bool on_attempt_failed(const rdma_cm_event& event);
    bool deliver_outcome(CmEventType type, std::span<const std::byte> private_data);
    void break_connection(const char* reason);
    // Completes every unfinished work request as flushed without the device (it reports nothing).
    void flush_locally();
    void enter_closed();

    // Posting (verbs_connection_post.cpp).
    Status<Errc> gather(std::span<const Sge> sges, bool needs_local_write, LocalSges& local) const;
    Status<Errc> post_gathered(std::uint64_t context, std::span<const Sge> sges, bool needs_local_write,
                               Opcode opcode, ibv_send_wr& wr);
    Status<Errc> post_to_send_queue(ibv_send_wr& wr);

    // Completions (verbs_connection_completions.cpp).
    bool deliver_pending_event();
    bool deliver_work();
    bool deliver_front(WorkRing& ring);
    bool finish_drain();
    bool refill_batch();
    int poll_cq();
    void record(const ibv_wc& wc);

    RdmaDevice& device_;
    EndpointHandler* handler_;  // nullptr once silent
    State state_ = State::closed;
    rdma_cm_id* id_ = nullptr;
    ibv_cq* cq_ = nullptr;
    bool qp_created_ = false;
    bool armed_ = false;
    bool orphaned_ = false;
    bool abandoned_ = false;          // disconnect() before established
    bool disconnect_sent_ = false;
    bool ever_established_ = false;   // needs TIMEWAIT_EXIT before the QP goes
    bool timewait_exited_ = false;
    Nanos drain_deadline_ = 0;
    Nanos timewait_deadline_ = 0;
    QueueSizes queues_;
    WorkRing send_ring_;
    WorkRing recv_ring_;
    std::array<ibv_wc, kBatch> batch_{};
    std::size_t batch_next_ = 0;
    std::size_t batch_count_ = 0;
    // An event decided outside poll() (a connect that failed at once, disconnect() while
    // connecting), delivered by deliver_one().
    std::optional<CmEventType> pending_event_;
    std::vector<std::byte> connect_data_;  // the REQ's private data until rdma_connect
    Address peer_;
    Address local_;
};

}  // namespace ibnbd::fabric::verbs
