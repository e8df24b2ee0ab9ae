// verbs_fabric.hpp - the rdma-core backend of the fabric interface.
//
// NAME
//     ibnbd::fabric::verbs::VerbsFabric - reliable connected RDMA over libibverbs RC queue pairs,
//     connected with librdmacm. The backend for InfiniBand and RoCE NICs; tested on SoftRoCE (rxe).
//
// SYNOPSIS
//     auto fabric = VerbsFabric::create(VerbsConfig{.address = "198.18.0.1"});
//     if (!fabric) ... fabric.error() ...
//     auto listener = (*fabric)->listen(Address{"198.18.0.1", 0}, listener_handler);
//     for (;;) {
//         if ((*fabric)->poll(64) == 0) sleep in epoll/poll on (*fabric)->wait_fd() until
//                                       next_timer_deadline();
//     }
//
// DESCRIPTION
//     One VerbsFabric uses ONE RDMA device (an ibv_context as librdmacm opened it) with its own
//     protection domain, one RDMA CM event channel and one completion channel. Every connection
//     has its own RC queue pair and its own completion queue (send and receive queues share it),
//     sized from QueueSizes. Nothing blocks: the CM event channel and the completion channel are
//     non-blocking, completion queues are read with ibv_poll_cq().
//
//     fabric.hpp is the contract; this page lists how this backend meets it and where real RDMA
//     differs from the other backends.
//
// DEVICE AND GID SELECTION
//     The device is chosen once, at create(): VerbsConfig::device names it ("mlx5_0", "rxe0"), or
//     VerbsConfig::address names a local IP address whose device librdmacm binds to, or else the
//     machine's only RDMA device is used (several devices and neither field: backend_error).
//     Within the device, librdmacm picks port and GID from the addresses given to listen() and
//     connect() (the IPv4-mapped RoCEv2 GID for an IPv4 address on RoCE). An address that resolves
//     to another device is refused: listen() fails with address_invalid, connect() reports
//     unreachable. One fabric spans one device because a MemoryRegion has one rkey and the wire
//     carries one; the paths of an IBTRS session over two HCAs need two sessions (or a bonded or
//     dual-port device). Two ports of one HCA are one device and work.
//     iWARP devices are refused (backend_error): iWARP has no immediate data, which IBTRS needs.
//
// THREADING
//     One VerbsFabric per thread. Several may live in one thread or process, also on the same
//     device (the conformance harness runs a server fabric, a sibling of it and a client fabric
//     side by side). A detached connect request is the one object that may cross to another
//     fabric's thread (see DETACHED CONNECT REQUESTS). poll() must
//     not be called from inside a callback, and a callback must not destroy the VerbsFabric.
//     Nothing survives fork(): rdma-core device contexts belong to the process that opened them
//     (the kernel refuses a child's use: "changed security contexts after opening file
//     descriptor", EACCES on every post), and librdmacm opens every device process-wide on first
//     use. A process that forks a worker must exec it, or fork before touching any fabric.
//
// CONNECTION MANAGEMENT
//     listen():  port 0 takes an ephemeral RDMA CM port (the port space is rdma_cm's, not TCP's);
//                Listener::address() reports it. A wildcard host ("0.0.0.0" / empty) listens on
//                every device, but requests arriving through another device are rejected.
//                Errors: address_invalid, address_in_use, backend_error.
//     connect(): rdma_resolve_addr -> rdma_resolve_route -> rdma_connect, each step driven by
//                poll(). A failure at any step (no route, no such device, timeout, nobody
//                listening: the IB CM answers with a REJ "invalid service ID") is reported as
//                unreachable; a reject by the listener as rejected. local_address() is known
//                from address resolution on, before the REQ goes out (empty until then).
//     Private data: the InfiniBand CM carries no length. IB and RoCE deliver private data padded
//                with zero bytes to the CM's fixed sizes: a connect request's data arrives as 56
//                bytes, an accept's (established on the active side) as 196 bytes and a reject's
//                as 148 bytes, whatever was sent; an empty reject arrives as 148 zero bytes.
//                Consumers must encode their own lengths (IBTRS messages are fixed-size).
//     reject():  at most 148 bytes (IB_CM_REJ_PRIVATE_DATA_SIZE), else private_data_too_long.
//     accept():  at most 196 bytes. The endpoint reports established once the active side's RTU
//                arrived; posting before that fails with not_connected.
//     disconnect() before established abandons the attempt: disconnected (never established)
//                follows from poll().
//     RDMA CM events handled: ADDR_RESOLVED, ADDR_ERROR, ROUTE_RESOLVED, ROUTE_ERROR,
//     CONNECT_REQUEST, ESTABLISHED, REJECTED, UNREACHABLE, CONNECT_ERROR, DISCONNECTED,
//     TIMEWAIT_EXIT, DEVICE_REMOVAL and ADDR_CHANGE (the last two break the connection).
//
// DETACHED CONNECT REQUESTS
//     ConnectRequest::detach() copies the request's private data (it lives in the CM event, which
//     is acknowledged when the callback returns) and keeps the request's rdma_cm id on the
//     receiving fabric's event channel; the listener may then go. The client waits meanwhile,
//     until its CM gives up on the REQ (unreachable).
//     accept() on the receiving fabric: as ConnectRequest::accept(). On another VerbsFabric of the
//     process, on that fabric's thread: rdma_migrate_id() moves the id to that fabric's event
//     channel (it waits until the receiving fabric has acknowledged every event it read for the
//     id, which it does right after each dispatch), then the QP is created on that fabric's PD and
//     a CQ on its completion channel, and the REP goes out: the endpoint belongs to that fabric
//     entirely, and the receiving fabric may be destroyed. Errors: as ConnectRequest::accept();
//     invalid_argument also for a request answered already, one of another backend, or one that
//     arrived through another RDMA device than the accepting fabric's (a QP uses its own
//     device's PD and CQs); no_resources when rdma_migrate_id() fails. Argument errors and those
//     two leave the request unanswered; a failure after that answers it (the client's connect
//     fails). Fabrics on one device share librdmacm's ibv_context, so any of them may accept.
//     reject() and destroying an unanswered request (on the receiving fabric's thread) send the
//     REJ and destroy the id (the REJ goes out on the request's own id, so it needs no listener).
//     A VerbsFabric must not be destroyed while a request it received is detached and unanswered
//     (asserted): the request's id is on its event channel.
//
// MEMORY REGISTRATION
//     ibv_reg_mr() on the fabric's protection domain. remote_key() is {virtual address, rkey}.
//     access_remote_write implies IBV_ACCESS_LOCAL_WRITE (verbs requires it). Registration pins
//     memory: RLIMIT_MEMLOCK must allow it (ulimit -l). Errors: invalid_argument (null data,
//     size 0, access 0 or unknown bits), registration_failed (ibv_reg_mr failed; logged with
//     errno).
//
// POSTING AND COMPLETIONS
//     Every work request is signaled. Each queue keeps a ring of its posted work sized exactly by
//     QueueSizes, so a post beyond max_send_wr / max_recv_wr fails with queue_full even where the
//     device rounded the queue up. Post errors: not_connected, queue_full, invalid_argument (more
//     than min(kMaxSge, device max_sge) entries, an entry outside its MR or an MR of another
//     fabric, a receive or read target without access_local_write), backend_error (the device
//     refused the request; the connection is then broken, as the provider may have queued it).
//     byte_len: received bytes for receives, bytes written by that write for a write-with-imm at
//     the target (verbs reports it), the posted length for sends, writes and reads.
//     Work completion status mapping (ibv_wc_status -> WcStatus):
//         IBV_WC_SUCCESS                                   success
//         IBV_WC_WR_FLUSH_ERR                              flushed
//         IBV_WC_LOC_LEN_ERR, LOC_QP_OP_ERR, LOC_PROT_ERR,
//         LOC_EEC_OP_ERR, LOC_ACCESS_ERR, LOC_RDD_VIOL_ERR,
//         MW_BIND_ERR, BAD_RESP_ERR                        local_error
//         IBV_WC_REM_ACCESS_ERR                            remote_access_error
//         IBV_WC_REM_INV_REQ_ERR, REM_OP_ERR,
//         REM_ABORT_ERR, REM_INV_RD_REQ_ERR                remote_operation_error
//         IBV_WC_RNR_RETRY_EXC_ERR                         rnr_retry_exceeded
//         IBV_WC_RETRY_EXC_ERR                             transport_retry_exceeded
//         anything else                                    general_error
//     Immediate data travels in network byte order and is reported as a host value.
//     imm_consumes_recv() is true: every incoming send and write-with-imm consumes a posted
//     receive (recv_consumed == true, context = that receive's context).
//
// KEY INVALIDATION AND MEMORY WINDOWS
//     supports_invalidation() is true when the device allocates a type-2 memory window
//     (ibv_alloc_mw(IBV_MW_TYPE_2), probed once at create(); rxe does). Then:
//       - register_memory() with access_window_bind adds IBV_ACCESS_MW_BIND;
//       - allocate_window() is ibv_alloc_mw(IBV_MW_TYPE_2) (no_resources when it fails: max_mw);
//         destroying the window is ibv_dealloc_mw, which invalidates a bound key at once;
//       - post_bind_window() posts IBV_WR_BIND_MW with the key ibv_inc_rkey(previous key) and the
//         region's virtual addresses (not zero-based); the window's mw->rkey follows the posted
//         binds, as the rxe provider needs it to name the window. After a failed bind the
//         provider's and the device's idea of the key differ: destroy the window;
//       - post_local_invalidate() posts IBV_WR_LOCAL_INV, post_send_invalidate()
//         IBV_WR_SEND_WITH_INV (its key in invalidate_rkey); a receive completion with
//         IBV_WC_WITH_INV reports has_invalidated_rkey and wc.invalidated_rkey.
//     supports_fabric_windows() is true when the device allocates a type-1 window (probed at
//     create() too; rxe does): allocate_fabric_window() is ibv_alloc_mw(IBV_MW_TYPE_1), bound by
//     the same IBV_WR_BIND_MW work request (what ibv_bind_mw() posts); a revocation is a bind of
//     length 0 that names the region (rxe's provider reads its lkey) and keeps the key. rxe checks
//     a type-1 key against the protection domain only, which is the fabric's.
//     Errors as fabric.hpp says: a failed bind completes with IBV_WC_MW_BIND_ERR, a failed local
//     invalidate with IBV_WC_LOC_QP_OP_ERR (both local_error, the QP goes to the error state); a
//     bad key in a send with invalidate fails the target's receive with IBV_WC_REM_INV_REQ_ERR
//     (remote_operation_error) and moves the target's QP to the error state - rxe still ACKs the
//     send, so the sender sees success, then disconnected. Access through an invalid window key is
//     IBV_WC_REM_ACCESS_ERR at the initiator (remote_access_error); the responder's QP goes to the
//     error state too (IB class C), so both sides break.
//     The queue pairs are created by librdmacm with its default access flags; rxe needs nothing
//     more to bind type-2 windows. Other devices may want IBV_ACCESS_MW_BIND in the QP's
//     qp_access_flags: untested here (SoftRoCE only).
//     Caveats of rxe (Linux 6.1, seen in tests/rxe):
//       - Accesses through a window are checked against the window's region, not the window's
//         range: a window's key reaches the whole region (with the window's access rights). The
//         simulator enforces the range, as the IB specification asks.
//       - rxe reports a receive that invalidated a key with the kernel's IB_WC_WITH_INVALIDATE
//         bit, which libibverbs calls IBV_WC_IP_CSUM_OK; on rxe (vendor id 0xFFFFFF) the backend
//         reads either bit as "invalidated" (for receives of sends without immediate only).
//       - Remote and local invalidation do not check which QP bound the window (the simulator
//         does; do not rely on it).
//       - Invalidating a type-2 window that is already free, by its last key, dereferences the
//         window's missing QP in the kernel: never invalidate a key twice.
//       - Deregistering a region with a bound window fails (EINVAL, logged), leaving the memory
//         registered.
//
// RECEIVER NOT READY AND RETRIES
//     A send or write-with-imm that finds no posted receive is NAKed (RNR) and retried by the
//     sender's NIC rnr_retry_count times (VerbsConfig, default 6) after the responder's RNR timer
//     (the IB CM's default), then completes with rnr_retry_exceeded and breaks the connection.
//     rnr_retry_count 7 means "retry forever" on InfiniBand: the post then never fails.
//     A peer that stops answering fails work after retry_count retransmissions of the local ACK
//     timeout chosen by the CM (seconds on RoCE): transport_retry_exceeded.
//
// DISCONNECT, FLUSH AND TIMEWAIT
//     On disconnect() (local), a DISCONNECTED event (remote), an error completion, DEVICE_REMOVAL
//     or ADDR_CHANGE the queue pair is moved to the error state (ibv_modify_qp IBV_QPS_ERR) and
//     rdma_disconnect() tells the peer. The device then completes every posted work request with
//     IBV_WC_WR_FLUSH_ERR (flushed), in post order per queue; once both rings are empty -
//     rdma-core's drain - the endpoint reports disconnected, exactly once, after its last
//     completion. If the device has not flushed everything after VerbsConfig::drain_timeout (1 s
//     after DEVICE_REMOVAL; a device that is gone may never report), the rest is completed as
//     flushed by the backend (stats().local_flushes). After DEVICE_REMOVAL every object of the
//     fabric should be destroyed; the kernel finishes removing the device only when the process
//     exits, because librdmacm keeps its device contexts open for the life of the process (rxe:
//     `rdma link delete` returns then).
//     The queue pair, its CQ and its rdma_cm id outlive the Endpoint object: a connection that was
//     established is destroyed only after RDMA_CM_EVENT_TIMEWAIT_EXIT (or timewait_limit), so its
//     QP number is not reused while packets of the old connection may still arrive. Destroying an
//     Endpoint makes no further callbacks; a connected one is disconnected first (the peer sees
//     its work flushed and disconnected). Destroying the VerbsFabric releases whatever still
//     waits for TIMEWAIT_EXIT at once.
//
// OBSERVED ON SOFTROCE (rxe, Debian 6.1 kernel, rdma-core 44; tests/rxe)
//     - TIMEWAIT_EXIT arrives about 2 s after a disconnect; stats().lingering counts the QPs
//       waiting for it.
//     - RNR with the CM's default RNR timer (655 ms) and rnr_retry_count 6: rnr_retry_exceeded
//       about 4 s after the send.
//     - A send longer than the receive fails at the target with IBV_WC_LOC_QP_OP_ERR (local_error)
//       and at the sender with IBV_WC_REM_INV_REQ_ERR (remote_operation_error).
//     - Deleting a path's IP address from the netdev fails that path's next work request at once
//       with IBV_WC_LOC_QP_OP_ERR (local_error) rather than after transport retries.
//     - Private data is zero-padded to 56 / 196 / 148 bytes, as described above.
//
// ASYNC EVENTS
//     The device's asynchronous event queue is not read: librdmacm shares one ibv_context among
//     every fabric of the process, so events could not reach the right fabric. A queue pair that
//     fails shows up through its error or flush completions (both break the connection); an idle
//     connection to a silently dead peer is noticed only by heartbeats, as fabric.hpp says.
//
// WAITING WHEN IDLE
//     wait_fd() is an epoll descriptor over the CM event channel and the completion channel; it
//     becomes readable when a CM event or a completion arrives. Completion queues are armed
//     (ibv_req_notify_cq) whenever poll() finds them empty, so after a poll() that returned 0 it is
//     safe to sleep on wait_fd() until next_timer_deadline(). cm_fd() and completion_fd() are the
//     two channels themselves, for reactors that prefer to watch them separately.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fabric/fabric.hpp"
#include "fabric/host_fabric.hpp"

namespace ibnbd::fabric::verbs {

class RdmaDevice;

// What the backend keeps track of beyond the interface, for operators and tests.
struct VerbsStats {
    std::size_t connections = 0;         // queue pairs alive, lingering ones included
    std::size_t lingering = 0;           // Endpoint gone; the QP waits for flushes or TIMEWAIT_EXIT
    std::uint64_t timewait_exits = 0;    // RDMA_CM_EVENT_TIMEWAIT_EXIT events received
    std::uint64_t timewait_limit_hits = 0;  // QPs destroyed after timewait_limit without that event
    std::uint64_t local_flushes = 0;     // drains the backend finished itself (see drain_timeout)
};

struct VerbsConfig {
    // RDMA device name (ibv_get_device_name: "mlx5_0", "rxe0"). Empty: see `address`.
    std::string device;
    // A local IP address; its RDMA device is used. Empty with `device` empty: the only device.
    std::string address;
    // Per step of address and route resolution.
    std::uint32_t resolve_timeout_ms = 2000;
    // Transport retries (3 bits, 0..7) and RNR retries (0..6; 7 = forever on InfiniBand).
    std::uint8_t retry_count = 7;
    std::uint8_t rnr_retry_count = 6;
    // Flushes the device has not reported after this are completed by the backend.
    Nanos drain_timeout = 5'000'000'000;
    // A disconnected queue pair waits at most this long for TIMEWAIT_EXIT before it is destroyed.
    Nanos timewait_limit = 60'000'000'000;
};

class VerbsFabric final : public HostFabric {
public:
    // Opens the device, its protection domain and the event channels.
    // Errors: backend_error (no RDMA device, no device for `address`, unknown `device`, several
    // devices and none chosen, an iWARP device, or an rdma-core call failed; logged),
    // address_invalid (`address` cannot be parsed), no_resources.
    static Expected<std::unique_ptr<VerbsFabric>, Errc> create(const VerbsConfig& config);
    // Every Listener, Endpoint and MemoryRegion of this fabric must be gone, and every connect
    // request detached from its listeners answered (asserted).
    ~VerbsFabric() override;

    std::string_view name() const override { return "verbs"; }
    bool imm_consumes_recv() const override { return true; }


    Expected<std::unique_ptr<Listener>, Errc> listen(const Address& address,
                                                     ListenerHandler& handler) override;
    Expected<std::unique_ptr<Endpoint>, Errc> connect(const Address& destination,
                                                      const Address& source,
                                                      std::span<const std::byte> private_data,
                                                      EndpointHandler& handler,
                                                      QueueSizes queues) override;
    // See DETACHED CONNECT REQUESTS above.
    Expected<std::unique_ptr<Endpoint>, Errc> accept(DetachedConnectRequest& request,
                                                     std::span<const std::byte> private_data,
                                                     EndpointHandler& handler, QueueSizes queues) override;
    Expected<std::unique_ptr<MemoryRegion>, Errc> register_memory(std::byte* data, std::size_t size,
                                                                  std::uint32_t access) override;
    // See KEY INVALIDATION AND MEMORY WINDOWS above.
    bool supports_invalidation() const override;
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_window() override;
    bool supports_fabric_windows() const override;
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_fabric_window() override;

    // Order within one call: expired timers, the event channels (when they may hold something),
    // then every connection's completions and outcomes.
    std::size_t poll(std::size_t budget) override;

    // ---- for reactors ----
    // Readable when a CM event or a completion may be pending (an epoll fd over the two below).
    int wait_fd() const;
    int cm_fd() const;          // the RDMA CM event channel (O_NONBLOCK)
    int completion_fd() const;  // the completion channel (O_NONBLOCK)
    // The device in use ("rxe0").
    std::string device_name() const;
    VerbsStats stats() const;

private:
    explicit VerbsFabric(std::unique_ptr<RdmaDevice> device);

    std::unique_ptr<RdmaDevice> device_;
    bool polling_ = false;
    bool last_poll_full_ = false;
    unsigned busy_polls_ = 0;
};

}  // namespace ibnbd::fabric::verbs
