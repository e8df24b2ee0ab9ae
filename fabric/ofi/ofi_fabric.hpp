// ofi_fabric.hpp - the libfabric backend of the fabric interface.
//
// NAME
//     ibnbd::fabric::ofi::OfiFabric - reliable connected RDMA over a libfabric FI_EP_MSG endpoint
//     (FI_MSG | FI_RMA, remote CQ data), built and tested on the tcp provider of libfabric 1.17.
//
// SYNOPSIS
//     auto fabric = OfiFabric::create(OfiConfig{.provider = "tcp"});
//     if (!fabric) ... fabric.error() ...
//     auto listener = (*fabric)->listen(Address{"127.0.0.1", 0}, listener_handler);
//     while (running) (*fabric)->poll(64);
//
// DESCRIPTION
//     One OfiFabric opens one libfabric fabric, one domain and one event queue (for connection
//     management). Each endpoint has its own completion queue, bound to both its transmit and its
//     receive side. Everything is polled: poll() reads expired timers, the event queue and every
//     endpoint's completion queue, never blocking. The provider is asked for manual progress, so
//     nothing moves (not even the target side of an RDMA write on tcp) unless poll() runs.
//
//     fabric.hpp is the contract; this page lists how this backend meets it and where it cannot.
//
// THREADING
//     One OfiFabric per thread (FI_THREAD_DOMAIN). Several OfiFabrics may live in one thread (the
//     conformance harness runs a server, a sibling server and a client fabric side by side).
//     poll() must not be called from inside a callback, and a callback must not destroy the
//     OfiFabric. A detached connect request may move to another thread (see CONNECTION
//     MANAGEMENT).
//
// CONNECTION MANAGEMENT
//     listen():  port 0 binds an ephemeral port; Listener::address() reports the real one
//                (fi_getname). Errors: address_invalid (unresolvable), address_in_use,
//                backend_error.
//     connect(): private data at most kMaxConnectPrivateData (56) bytes, and no more than the
//                provider's FI_OPT_CM_DATA_SIZE; else private_data_too_long. The outcome comes from
//                poll(): established (with the acceptor's private data), rejected (with the
//                rejecter's private data) or unreachable.
//     accept():  at most kMaxAcceptPrivateData (196) bytes (and the provider's limit).
//     reject():  at most 196 bytes. To let the active side tell a reject from a refused TCP
//                connection (libfabric reports both as FI_ECONNREFUSED), this backend prefixes one
//                tag byte to the reject data when the provider's CM data size allows it (tcp: 256
//                bytes) and strips it on the active side. Hence:
//                  - ofi-tcp: nobody listening -> unreachable; any reject -> rejected.
//                  - a provider whose CM data cannot hold the tag byte next to the reject data:
//                    that data goes untagged; if it is empty the reject looks like "nobody
//                    listening" and is reported as unreachable; if its first byte happens to be
//                    the tag (0xA5) that byte is stripped.
//     ConnectRequest::local_address() is the listener's address (libfabric does not report the
//     address the client actually reached when listening on a wildcard).
//     Endpoint::local_address() of a connecting endpoint is known once connect() returned (the
//     socket is bound then), before established.
//     disconnect() on an endpoint that is still connecting abandons the attempt and reports
//     disconnected (never established) from the next poll().
//     Detached requests (ConnectRequest::detach(), accept(DetachedConnectRequest&, ...)): the
//     request's fi_info carries the provider's handle (tcp: the accepted socket, on no wait set
//     once FI_CONNREQ was reported), so any OfiFabric of the same provider and libfabric domain
//     (the same OfiConfig) can accept it: the endpoint is created on that fabric's domain and
//     bound to its event queue and CQ. Another provider or domain: invalid_argument, and the
//     request stays unanswered. An unanswered detached request must be gone before the fabric
//     that received it (reject and destruction use that fabric's domain); an answered one may
//     outlive it.
//     A request whose listener is gone (destroyed inside the callback, or before a detached
//     request is answered) cannot be rejected: fi_reject needs the closed passive endpoint.
//     It is dropped instead: its socket is closed (through an endpoint made from it and closed
//     at once), and the client reports unreachable. (tcp keeps the handle's few bytes, which
//     only fi_accept and fi_reject free.) Without that the client would wait indefinitely: tcp's
//     connect sets no timeout of its own, and fi_freeinfo leaves the handle and its socket alone.
//
// MEMORY REGISTRATION
//     The backend asks for FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED and
//     adapts to the bits the provider clears (tcp clears all four):
//       - without FI_MR_VIRT_ADDR remote addresses are offsets into the region, so
//         remote_key().addr is 0 for the first byte (remote offset o is {addr + o, rkey}, as
//         fabric.hpp says for every backend);
//       - without FI_MR_PROV_KEY the backend picks keys itself from a per-domain counter, which
//         fit in 32 bits; with it, a provider key above 32 bits fails with registration_failed;
//       - with FI_MR_LOCAL the local descriptors (fi_mr_desc) are passed on every post.
//     Errors: invalid_argument (null data, size 0, access 0 or unknown access bits),
//     registration_failed (the provider refused).
//
// POSTING AND COMPLETIONS
//     Each endpoint has a table of posted work per queue, sized by QueueSizes and allocated when
//     the endpoint is created (nothing is allocated per post). The slot's fi_context2 is the
//     operation's libfabric context. Consequences:
//       - posts beyond max_send_wr / max_recv_wr fail with queue_full, never block; a provider
//         that reports -FI_EAGAIN also yields queue_full;
//       - completions are delivered in post order per queue, even where the provider finishes
//         work out of order;
//       - on disconnect, shutdown or any error, every work request still posted completes with
//         WcStatus::flushed (or with its real result if the provider had already finished it),
//         in post order per queue, and only then does disconnected arrive, exactly once. The
//         provider may have discarded that work silently; the table does not depend on it.
//     Post errors: not_connected (before established, or once the connection broke or
//     disconnect() ran), queue_full, invalid_argument (more than min(kMaxSge, provider
//     iov_limit) entries, an entry outside its MR, a receive or read target without
//     access_local_write, more than 4 GiB in one operation).
//     byte_len: received bytes for receives, bytes written for a write-with-imm at the target,
//     the posted length for sends, writes and reads.
//     Error mapping of fi_cq_err_entry.err: see ofi_errors.hpp. A send longer than the receive
//     that catches it completes with local_error (FI_ETRUNC) at the target and breaks the
//     connection.
//     Sends and RDMA writes are posted with FI_DELIVERY_COMPLETE (OfiConfig::delivery_complete):
//     their completion means the peer has placed the data, as on verbs. Without it, a completion
//     on tcp only means the bytes were handed to the socket (and a bad rkey at the peer shows only
//     as the broken connection); tcp implements delivery completion with an acknowledgement per
//     operation. The daemons turn it off (conformance backend "ofi-tcp-tc").
//
// PITFALLS OF THE TCP PROVIDER (all hidden or documented here)
//     - Immediate data: libfabric carries 64-bit CQ data; the immediate is its low 32 bits. tcp
//       does not report how many bytes a write-with-imm wrote at the target, so when the CQ data
//       has 64 bits this backend carries that length in the upper 32 bits (both ends must be
//       this backend, as they are for ibnbd over libfabric).
//     - A write-with-immediate does not consume a posted receive on tcp: imm_consumes_recv() is
//       false, the target completion has context 0 and recv_consumed false. Providers with the
//       FI_RX_CQ_DATA mode (verbs) consume one: imm_consumes_recv() is then true.
//     - Receiver not ready: tcp never fails a send for lack of a posted receive; the message
//       waits in the socket until a receive is posted (and, with delivery_complete, the send
//       completes only then). WcStatus::rnr_retry_exceeded never occurs on tcp.
//     - Bad rkey or remote range: the tcp target does not answer with an error; it drops the
//       connection. The initiator's outstanding work therefore completes with flushed (a non-
//       success status, but not remote_access_error), and disconnected follows on both sides.
//     - Disconnect may discard posted work instead of flushing it; the work table covers that.
//     - A peer that dies silently (no FIN, no RST) is noticed only by the core's heartbeats, or
//       when TCP gives up retransmitting (minutes).
//     - Each endpoint has its own CQ. The domain advertises cq_cnt (tcp: 256) as its bound on
//       CQs; beyond what the provider grants, connect() and accept() fail with no_resources.
//
// KEY INVALIDATION
//     Not supported: libfabric has no send with invalidate, no local invalidation and no memory
//     windows (its keys live as long as their registration, and FI_MR_PROV_KEY providers pick
//     them). supports_invalidation() is false; allocate_window(), register_memory() with
//     access_window_bind, post_send_invalidate(), post_local_invalidate() and post_bind_window()
//     fail with not_supported and post nothing. Over ofi, IBTRS cannot serve the kernel client's
//     NEED_INVAL reads nor rotate keys per IO; the upper layers must refuse those modes.
//
// PENDING CONNECTIONS
//     tcp accepts every TCP connection to a listener at once and reports it (FI_CONNREQ) only
//     when its CM request is complete; until then the provider keeps the socket with no limit and
//     no timeout, so anyone who can reach the port could hold descriptors of this process for
//     good. While a listener exists this backend sweeps those connections (ofi_pending.hpp) from
//     a timer, every pending_timeout / 4 (between 100 ms and 1 s; 100 ms while half the limit is
//     reached): beyond OfiConfig::pending_limit the oldest are shut down, and so is each one
//     waiting longer than pending_timeout. The provider then reads end-of-file and closes them;
//     the client of such a connection sees it closed. Listener::dropped_connections() counts
//     them. A client of this backend sends its request at once, well within any sane timeout.
//     Connections that did send their request are the listener handler's: it answers them, and
//     the protocol above bounds what follows (ibtrs::ServerConfig::max_pending_handshakes).
//     The provider's end-of-file handling needs errno cleared before each event-queue read
//     (ofi_cm.cpp says why): without that, a peer that connected and closed left a socket in
//     CLOSE-WAIT for good, and a readable one, which kept the reactor from sleeping.
//
// WAITING WHEN IDLE
//     The event queue and every endpoint's CQ are opened with FI_WAIT_FD where the provider
//     supports it (tcp does): wait_fd() is an epoll descriptor over their wait objects, readable
//     when a socket has data or a completion was queued. Sleeping on it is safe only after
//     prepare_sleep() returned true (fi_trywait: nothing is pending); when it returns false, poll
//     again. While busy this costs nothing extra: the provider signals its wait object once per
//     sleep, not per completion. Providers without wait objects: wait_fd() is -1 and
//     prepare_sleep() true; sleep until next_timer_deadline() or a short bound and poll again.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fabric/fabric.hpp"
#include "fabric/host_fabric.hpp"

namespace ibnbd::fabric::ofi {

class Domain;

struct OfiConfig {
    // libfabric provider name ("tcp"; "verbs" on RDMA hardware).
    std::string provider = "tcp";
    // Optional: an address whose interface selects the libfabric domain (FI_SOURCE lookup).
    // Empty: the provider's first domain, which tcp can use for any address.
    std::string domain_node;
    // Sends and RDMA writes complete only once the peer placed the data (FI_DELIVERY_COMPLETE).
    bool delivery_complete = true;
    // Connections a listener's provider accepted that have not sent a complete CM request (tcp):
    // at most pending_limit wait at once, each at most pending_timeout; the oldest beyond the
    // limit and the expired ones are closed (see PENDING CONNECTIONS). 0 turns a bound off.
    std::size_t pending_limit = 256;
    Nanos pending_timeout = 10'000'000'000;
};

class OfiFabric final : public HostFabric, private TimerHandler {
public:
    // Opens fabric, domain and event queue. Errors: backend_error (no such provider, or the
    // provider lacks FI_EP_MSG with FI_MSG | FI_RMA, 4-byte CQ data or write-after-write
    // ordering), no_resources.
    static Expected<std::unique_ptr<OfiFabric>, Errc> create(const OfiConfig& config);
    // Every Listener, Endpoint and MemoryRegion of this fabric must be gone (asserted).
    ~OfiFabric() override;

    std::string_view name() const override { return name_; }
    bool imm_consumes_recv() const override;


    Expected<std::unique_ptr<Listener>, Errc> listen(const Address& address,
                                                     ListenerHandler& handler) override;
    Expected<std::unique_ptr<Endpoint>, Errc> connect(const Address& destination,
                                                      const Address& source,
                                                      std::span<const std::byte> private_data,
                                                      EndpointHandler& handler,
                                                      QueueSizes queues) override;
    // See CONNECTION MANAGEMENT, detached requests.
    Expected<std::unique_ptr<Endpoint>, Errc> accept(DetachedConnectRequest& request,
                                                     std::span<const std::byte> private_data,
                                                     EndpointHandler& handler,
                                                     QueueSizes queues) override;
    Expected<std::unique_ptr<MemoryRegion>, Errc> register_memory(std::byte* data, std::size_t size,
                                                                  std::uint32_t access) override;
    // See KEY INVALIDATION: false, and allocate_window() fails with not_supported.
    bool supports_invalidation() const override { return false; }
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_window() override;
    // Neither: libfabric has no memory windows (fi_mr_bind binds a region to an endpoint).
    bool supports_fabric_windows() const override { return false; }
    Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_fabric_window() override {
        return unexpected(Errc::not_supported);
    }

    // Order within one call: expired timers, connection events, then completions of each
    // endpoint (round robin over endpoints between calls).
    std::size_t poll(std::size_t budget) override;
    // See WAITING WHEN IDLE.
    int wait_fd() const;
    bool prepare_sleep();


private:
    OfiFabric(std::unique_ptr<Domain> domain, std::string name);
    // The pending-connection sweep, on a timer while there is a listener.
    void arm_sweep(Nanos delay);
    void on_timer(std::uint64_t cookie) override;

    std::unique_ptr<Domain> domain_;
    std::string name_;
    TimerId sweep_timer_ = 0;
};

}  // namespace ibnbd::fabric::ofi
