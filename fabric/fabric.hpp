// fabric.hpp - the one interface between the IBTRS core and a network.
//
// NAME
//     ibnbd::fabric - reliable-connected RDMA (an RC queue pair, or a libfabric FI_EP_MSG endpoint)
//     with verbs semantics as the reference, plus a clock, one-shot timers and a random stream.
//
// BACKENDS
//     sim/   deterministic in-memory simulator (virtual time, seeded faults)
//     ofi/   libfabric FI_EP_MSG + FI_RMA + remote CQ data (tcp provider here, verbs on hardware)
//     verbs/ librdmacm + libibverbs RC QPs
//     Every backend passes the conformance suite in tests/fabric/.
//
// THREADING
//     A Fabric and everything created from it belong to one thread (one reactor). No method may be
//     called from another thread. Callbacks run only from inside Fabric::poll() (real backends) or
//     from the simulator's World::run*() (sim); never from inside a post or connect call, so a
//     handler may post, connect, destroy endpoints or start timers freely.
//
// OBJECT LIFETIME
//     Listener, Endpoint, MemoryRegion and MemoryWindow are owned by the caller through
//     std::unique_ptr and must be destroyed before the Fabric that made them. Destroying an
//     Endpoint disconnects it without further callbacks (no flush completions, no CM event).
//     Destroying a MemoryRegion or a MemoryWindow invalidates its rkey at once: later remote access
//     with that key fails with WcStatus::remote_access_error. Handlers must outlive the objects
//     they are registered with.
//
// ORDERING (per endpoint, i.e. per connection)
//     - Work requests of one kind start in post order; RDMA writes land in post order.
//     - A write-with-immediate's (or a send's) completion at the target implies that every earlier
//       write on the same connection is visible in target memory.
//     - Completions on the initiator are reported in post order for each of the send and receive
//       queues; the two queues are not ordered with respect to each other.
//     - An RDMA read may pass earlier writes on real hardware; callers must not rely on read-after-
//       write ordering across a connection.
//
// IMMEDIATE DATA AND RECEIVES
//     Immediate data is 32 bits and is given and reported as a host value; backends put it on the
//     wire in network byte order. With verbs semantics (imm_consumes_recv() == true) every incoming
//     send and write-with-immediate consumes one posted receive; the completion carries that
//     receive's context and recv_consumed == true. With libfabric tcp semantics (false) a
//     write-with-immediate consumes no receive: its completion has recv_consumed == false and
//     context == 0. Callers post receives as verbs needs and re-post only when recv_consumed is set.
//     An incoming send or (verbs) write-with-immediate that finds no posted receive is a
//     receiver-not-ready condition: the sender retries and, if still none is posted, completes with
//     WcStatus::rnr_retry_exceeded and the connection breaks (as RC does).
//
// COMPLETIONS AND ERRORS
//     Every post that returns success produces exactly one completion, unless the endpoint is
//     destroyed first. On a non-success status only `context`, `status` and `opcode` are
//     meaningful (opcode is the kind of work that was posted; for a receive it is Opcode::recv).
//     Any error other than WcStatus::flushed breaks the connection: every other outstanding work
//     request then completes with WcStatus::flushed and a CmEventType::disconnected event follows.
//     A successful send or write completion means the peer has the data (verbs RC; the simulator;
//     libfabric with OfiConfig::delivery_complete). A backend set up for transmit completion
//     (libfabric, delivery_complete = false) only says the local buffers may be reused: an error at
//     the peer then shows as a broken connection, and the failing work may have completed with
//     success. IBTRS works with either (its responses say what the peer did).
//
// FLUSH
//     disconnect() (local or remote) or a fatal error moves the endpoint to the error state: all
//     posted work that has not completed completes with WcStatus::flushed, in post order per queue,
//     and only then is CmEventType::disconnected delivered. Flushes are expected, not errors.
//     After disconnected no further completion arrives for that endpoint, and posts fail with
//     Errc::not_connected. A peer that dies silently produces no event at all until local work to it
//     fails (WcStatus::transport_retry_exceeded); only heartbeats notice a silent peer.
//
// KEY INVALIDATION AND MEMORY WINDOWS
//     Where Fabric::supports_invalidation() is true (sim; verbs on a device with type-2 memory
//     windows), an endpoint can invalidate a key of its peer with a send (SEND_WITH_INV), and a
//     fabric can put short-lived remote keys on its registered memory with memory windows (verbs
//     type 2B). Elsewhere (ofi) allocate_window(), post_send_invalidate(), post_local_invalidate(),
//     post_bind_window() and registering with access_window_bind fail with Errc::not_supported.
//
//     A window's life: allocate_window() gives a free window, whose keys are all invalid.
//     post_bind_window() on an endpoint makes a fresh key valid for a range of a region registered
//     with access_window_bind, with remote read and/or write access, once the bind completes
//     (kOpBindWindow). The key then stays valid until one of
//       - post_local_invalidate(key) on the endpoint that bound it completes
//         (kOpLocalInvalidate),
//       - the peer's post_send_invalidate(..., key) on that connection is received: the receive
//         completion has has_invalidated_rkey set and invalidated_rkey == key,
//       - the window is destroyed,
//     and the window is free again: it may be bound anew, with another fresh key.
//     Rules, as verbs type-2B windows have them. The simulator enforces every one; SoftRoCE
//     (rxe) checks neither a window's range nor which connection invalidates it (see
//     verbs_fabric.hpp), so code must follow the rules, not probe them:
//       - Only a free window can be bound. Binding a bound one completes with local_error and breaks
//         the connection; so does binding a window whose earlier bind failed (destroy it instead).
//       - A window's key belongs to the connection whose endpoint bound it: only that endpoint's
//         peer may use it, and only through that connection can it be invalidated. A window still
//         bound when its connection is gone can only be destroyed.
//       - Remote access through a key that is not valid now - invalidated, an older key of the
//         window, a key used over another connection, a range outside the bound range, or an
//         access the bind did not grant - fails as any bad key does: remote_access_error at the
//         initiator, nothing read or written at the target, and the connection breaks on both
//         sides (RC: the responder's queue pair goes to the error state too).
//       - Fresh keys: a new key differs from the window's previous one in its low 8 bits only
//         (verbs' ibv_inc_rkey), so one window's keys repeat after 256 binds. A peer must never
//         hold on to a key for that long.
//       - Only a window's current key can be invalidated. Keys of register_memory() cannot (verbs
//         user memory regions are not invalidatable); a peer that is the kernel may name its own
//         fast-registration keys, which are. Invalidating anything else: a local invalidate
//         completes with local_error and breaks the connection; a send with invalidate makes the
//         target's receive complete with remote_operation_error and the target break the
//         connection (its sender's send may still complete with success: the simulator and
//         SoftRoCE acknowledge the message before failing it).
//       - Destroy or invalidate every window bound over a region before destroying the region
//         (verbs refuses to deregister memory that a window is bound to: the memory would stay
//         registered and reachable through the window; the simulator asserts).
//
//     Fabric-wide windows (verbs type 1), where supports_fabric_windows() is true (sim; verbs on a
//     device that allocates them, rxe does): allocate_fabric_window() gives a window whose key is
//     valid for nothing until it is bound. They differ from the windows above in four rules:
//       - Any endpoint of the fabric may bind one, bound or not: the new binding replaces the old
//         one, whose key is invalid from then on.
//       - Its key is valid over every connection of the fabric (the verbs protection domain):
//         any peer that knows the current key may use it, whichever connection it arrives on.
//       - A bind with length 0 (and the region named, as verbs needs it) revokes the window: it
//         keeps its current key, which is then valid for nothing. Binding it again (length > 0)
//         takes the next key.
//       - Its keys cannot be invalidated: a local invalidate or a send with invalidate of one fails
//         as for any key that is not invalidatable (see above).
//     A window of either kind takes effect in send-queue order: work posted on the same endpoint
//     after a bind reaches the peer only once the bind has been executed, so a send posted right
//     after a bind may carry the new key (verbs executes local operations in send-queue order; the
//     kernel's RTRS chains its REG_MR and SEND the same way; the simulator does the same).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "fabric/expected.hpp"

namespace ibnbd::fabric {

// ---- limits ----------------------------------------------------------------------------------

// RDMA CM REQ private data limit; connect() refuses more with Errc::private_data_too_long.
inline constexpr std::size_t kMaxConnectPrivateData = 56;
// RDMA CM REP private data limit; accept() refuses more.
inline constexpr std::size_t kMaxAcceptPrivateData = 196;
// RDMA CM REJ private data limit (IB_CM_REJ_PRIVATE_DATA_SIZE); reject() refuses more.
inline constexpr std::size_t kMaxRejectPrivateData = 148;
// Scatter-gather entries per work request.
inline constexpr std::size_t kMaxSge = 4;

// ---- basic types -----------------------------------------------------------------------------

using Nanos = std::uint64_t;  // time, in nanoseconds since an arbitrary epoch of the Fabric

// Errors returned by calls (as opposed to statuses delivered in completions).
enum class Errc : std::uint8_t {
    invalid_argument = 1,      // bad size, too many SGEs, buffer outside its MR, ...
    private_data_too_long,     // > kMaxConnectPrivateData / kMaxAcceptPrivateData
    queue_full,                // the send or receive queue has no free slot; never blocks
    not_connected,             // endpoint not (yet, or no longer) connected
    address_in_use,            // listen(): address already taken
    address_invalid,           // address cannot be parsed or resolved by this backend
    registration_failed,       // register_memory(): backend refused (or injected fault)
    no_resources,              // backend ran out of something (CQ entries, endpoints, ...)
    backend_error,             // anything else the backend reported; details are logged
    not_supported,             // this backend or device cannot do it (see supports_invalidation())
};

std::string_view to_string(Errc errc);

// Work completion status (named after ibv_wc_status).
enum class WcStatus : std::uint8_t {
    success = 0,
    flushed,                   // endpoint went to error state before this work completed
    local_error,               // local length / protection / operation error
    remote_access_error,       // bad rkey, range outside the remote MR, or access not granted
    remote_operation_error,    // remote side failed the operation
    rnr_retry_exceeded,        // no receive posted at the target after all retries
    transport_retry_exceeded,  // peer did not answer (dead peer, link down for too long)
    general_error,
};

std::string_view to_string(WcStatus status);

enum class Opcode : std::uint8_t {
    send,                // local: a post_send completed
    rdma_write,          // local: a post_write completed (with or without immediate)
    rdma_read,           // local: a post_read completed; the data is in the local buffer
    recv,                // target: an incoming send consumed a posted receive
    recv_rdma_with_imm,  // target: an incoming write-with-immediate arrived
    // Two more values follow as constants: kOpBindWindow, kOpLocalInvalidate.
};

// The opcodes of the two local key operations. They are values of Opcode declared outside the
// enumerator list so that switches over Opcode written before them (exhaustive without a
// default, as -Wswitch wants) stay exhaustive: a caller that never posts binds or local
// invalidations never sees them. A switch that may see them needs these cases or a default.
// local: a post_bind_window completed; the window's new key is valid.
inline constexpr Opcode kOpBindWindow = static_cast<Opcode>(5);
// local: a post_local_invalidate completed; the key is invalid.
inline constexpr Opcode kOpLocalInvalidate = static_cast<Opcode>(6);

std::string_view to_string(Opcode opcode);

// A completion. Valid fields depend on status and opcode:
//   always:                context, opcode, status
//   success, recv:         byte_len (bytes received), has_imm/imm (send with immediate),
//                          has_invalidated_rkey/invalidated_rkey (send with invalidate: this local
//                          key is invalid from now on)
//   success, recv_rdma_with_imm: byte_len (bytes written by that write), imm, recv_consumed
//   success, rdma_read:    byte_len (bytes read)
// A send with invalidate completes at its initiator as Opcode::send.
struct Completion {
    std::uint64_t context = 0;
    Opcode opcode = Opcode::send;
    WcStatus status = WcStatus::success;
    std::uint32_t byte_len = 0;
    std::uint32_t imm = 0;
    std::uint32_t invalidated_rkey = 0;
    bool has_imm = false;
    bool recv_consumed = false;
    bool has_invalidated_rkey = false;
};

enum Access : std::uint32_t {
    access_local_write = 1u << 0,   // the backend may write into it (receives, read targets)
    access_remote_read = 1u << 1,   // peers may RDMA-read it
    access_remote_write = 1u << 2,  // peers may RDMA-write it
    // Memory windows may be bound over it (verbs IBV_ACCESS_MW_BIND). Not supported on a fabric
    // whose supports_invalidation() is false: register_memory() fails with not_supported.
    access_window_bind = 1u << 3,
};

// What the wire carries to name remote memory: a virtual address and a 32-bit key.
struct RemoteKey {
    std::uint64_t addr = 0;
    std::uint32_t rkey = 0;
};

// A registered buffer. Deregistered (and its rkey invalidated) on destruction.
class MemoryRegion {
public:
    virtual ~MemoryRegion() = default;
    virtual std::byte* data() const = 0;
    virtual std::size_t size() const = 0;
    virtual std::uint32_t access() const = 0;
    // Key of the first byte; remote offset o is RemoteKey{addr + o, rkey}.
    virtual RemoteKey remote_key() const = 0;
};

// A type-2 memory window of a fabric: a remote key of its own over part of a registered region,
// bound and invalidated by posted work (see KEY INVALIDATION AND MEMORY WINDOWS at the top).
// Destroying it invalidates its key at once; it must go before the Fabric that made it.
class MemoryWindow {
public:
    virtual ~MemoryWindow() = default;
    // The key of the newest bind posted on this window (valid or not by now); 0 before the first.
    virtual std::uint32_t rkey() const = 0;
};

// What post_bind_window() binds: `length` bytes at `addr`, inside `mr`, which must be a region
// of the same fabric registered with access_window_bind (and, for a window granting
// access_remote_write, with access_local_write or access_remote_write too: verbs C10-74).
// `access` is access_remote_read and/or access_remote_write.
struct WindowBind {
    const MemoryRegion* mr = nullptr;
    std::byte* addr = nullptr;
    std::uint64_t length = 0;
    std::uint32_t access = 0;
};

// For backends: whether `bind` names a non-empty range inside its region, an access of remote
// read and/or write, and a region registered with access_window_bind (and, for remote write,
// with local or remote write access). Ownership of region and window is the backend's to check.
bool window_bind_is_valid(const WindowBind& bind);
// For backends: whether `bind` is a revocation of a fabric-wide window: length 0, and a region
// registered with access_window_bind.
bool window_revoke_is_valid(const WindowBind& bind);

// A local scatter-gather entry: `length` bytes at `addr`, which must lie inside `mr`.
// A zero-length entry list is allowed (an empty send, an empty write-with-immediate, an empty
// receive that only catches immediate data).
struct Sge {
    const MemoryRegion* mr = nullptr;
    std::byte* addr = nullptr;
    std::uint32_t length = 0;
};

// Addresses are "host:port" or "host" for connect/listen. Backends define what host means: the
// simulator uses its node addresses ("10.0.0.1"), libfabric and verbs use IP addresses.
struct Address {
    std::string host;
    std::uint16_t port = 0;
    std::string to_string() const;
    // Parses "host", "host:port" and "[v6]:port"; port defaults to default_port.
    static Expected<Address, Errc> parse(std::string_view text, std::uint16_t default_port);
};

// Queue sizes of one connection. Posts beyond them fail with Errc::queue_full.
struct QueueSizes {
    std::uint32_t max_send_wr = 128;
    std::uint32_t max_recv_wr = 128;
};

// ---- connection management -------------------------------------------------------------------

enum class CmEventType : std::uint8_t {
    established,   // connection is up; active side: private_data = the acceptor's data
    rejected,      // active side: peer rejected; private_data = the rejecter's data (may be empty)
    unreachable,   // active side: nobody listens there, address or route resolution failed
    disconnected,  // either side: the connection is gone; all posted work has completed (flushed)
};

std::string_view to_string(CmEventType type);

// Private data arrives as sent, or - on InfiniBand and RoCE, whose CM carries no length - padded
// with zero bytes to the CM's fixed size: 56 bytes for a connect request, 196 for an accept, 148 for
// a reject (an empty reject arrives as 148 zeros). Consumers encode their own lengths.
struct CmEvent {
    CmEventType type = CmEventType::established;
    std::span<const std::byte> private_data;  // valid only during the callback
};

class EndpointHandler {
public:
    virtual ~EndpointHandler() = default;
    virtual void on_completion(const Completion& completion) = 0;
    virtual void on_cm_event(const CmEvent& event) = 0;
};

// One reliable connection.
class Endpoint {
public:
    virtual ~Endpoint() = default;

    // Posting never blocks. Each successful post produces exactly one completion carrying
    // `context`. Errors: not_connected (before established or after disconnect), queue_full,
    // invalid_argument (more than kMaxSge entries, an entry outside its MR or an MR without the
    // needed access).
    // A receive: the buffers catch an incoming send's payload (longer payloads complete with
    // WcStatus::local_error at the target and break the connection).
    virtual Status<Errc> post_recv(std::uint64_t context, std::span<const Sge> sges) = 0;
    // A send, optionally with immediate data, consuming one receive at the target.
    virtual Status<Errc> post_send(std::uint64_t context, std::span<const Sge> sges,
                                   const std::uint32_t* imm = nullptr) = 0;
    // An RDMA write of the gathered local bytes to `remote`; with `imm` the target also gets a
    // recv_rdma_with_imm completion (and, with verbs semantics, a receive is consumed).
    // A zero-length write (no SGEs, or only empty ones) touches no memory: `remote` is not checked
    // (pass {0, 0}); only its immediate data matters. IBTRS heartbeats and write responses are
    // such empty writes-with-immediate.
    virtual Status<Errc> post_write(std::uint64_t context, std::span<const Sge> sges,
                                    RemoteKey remote, const std::uint32_t* imm = nullptr) = 0;
    // An RDMA read of sum(sges.length) bytes from `remote` into the local entries.
    virtual Status<Errc> post_read(std::uint64_t context, std::span<const Sge> sges,
                                   RemoteKey remote) = 0;

    // Key invalidation and memory windows: see KEY INVALIDATION AND MEMORY WINDOWS at the top.
    // Each fails with not_supported where the fabric's supports_invalidation() is false, and
    // otherwise as the posts above (not_connected, queue_full, invalid_argument); each uses one
    // send-queue slot and completes in post order with the rest of the send queue. A decorator
    // that wraps an Endpoint must forward them (these defaults answer not_supported).
    //
    // A send (as post_send, without immediate data: verbs carries the key where the immediate
    // would go) that invalidates `rkey` at the target before the target's receive completes.
    // The completion there reports the key (has_invalidated_rkey). Invalidating a key that is
    // not a valid invalidatable key of the target is an error at the target, see above.
    virtual Status<Errc> post_send_invalidate(std::uint64_t context, std::span<const Sge> sges,
                                              std::uint32_t rkey);
    // Invalidates `rkey`, the current key of a window this endpoint bound, in send-queue order;
    // completes as kOpLocalInvalidate (local_error, breaking the connection, for any other
    // key). Remote access through the key fails from the completion on.
    virtual Status<Errc> post_local_invalidate(std::uint64_t context, std::uint32_t rkey);
    // Binds the free `window` (of this endpoint's fabric) to `bind` with a fresh key, which it
    // returns as {bind.addr as a remote address, key}: offsets are remote_key()-style, the
    // window's first byte is at the returned address. The key is valid once the completion
    // (kOpBindWindow) arrives; hand it to the peer only then. Returns invalid_argument for
    // a window or region of another fabric, an empty or out-of-region range, an access other
    // than remote read/write, or a region registered without access_window_bind. A fabric-wide
    // window may also be bound while bound, or revoked with length 0 (its key is then returned
    // unchanged, valid for nothing).
    virtual Expected<RemoteKey, Errc> post_bind_window(std::uint64_t context, MemoryWindow& window,
                                                       const WindowBind& bind);

    // Starts a disconnect: flushes posted work, then on_cm_event(disconnected) here and at the
    // peer. Idempotent; a no-op after disconnected.
    virtual void disconnect() = 0;

    virtual bool connected() const = 0;
    virtual const Address& peer_address() const = 0;
    // Of an active endpoint: known once its connect request has gone out (so a listener that sees
    // the request sees this address), at the latest with established.
    virtual const Address& local_address() const = 0;
};

class DetachedConnectRequest;

// A connect request seen by a listener. Answer it inside on_connect_request() with exactly one of
// accept() or reject(); an unanswered request is rejected with empty private data when the
// callback returns.
class ConnectRequest {
public:
    virtual ~ConnectRequest() = default;
    virtual std::span<const std::byte> private_data() const = 0;
    virtual const Address& peer_address() const = 0;   // the client's address
    virtual const Address& local_address() const = 0;  // the address the client connected to
    // Accepts: returns the new endpoint, which reports established (with empty private data) once
    // the connection is up. Errors: private_data_too_long, no_resources, invalid_argument (called
    // twice).
    virtual Expected<std::unique_ptr<Endpoint>, Errc> accept(std::span<const std::byte> private_data,
                                                             EndpointHandler& handler,
                                                             QueueSizes queues) = 0;
    // Errors: private_data_too_long (> kMaxRejectPrivateData), invalid_argument (answered already).
    virtual Status<Errc> reject(std::span<const std::byte> private_data) = 0;
    // Takes the request out of the callback, to be answered later and possibly by another fabric
    // of the same backend (a multi-reactor server hands each session's connections to the reactor
    // that owns the session). Afterwards this object counts as answered.
    // Errors: invalid_argument (answered already), no_resources.
    virtual Expected<std::unique_ptr<DetachedConnectRequest>, Errc> detach() = 0;
};

// A connect request taken out of ListenerHandler::on_connect_request(). It may be handed to
// another thread; it is answered exactly once:
//   - accepted by Fabric::accept() of any fabric of the same backend, on that fabric's thread
//     (the endpoint, its completions and CM events then belong to that fabric), or
//   - rejected by reject(), on the thread of the fabric whose listener received it.
// Destroying an unanswered request rejects it with empty private data, and must then happen on the
// receiving fabric's thread too. The client waits meanwhile (its connect is not answered), so
// answer promptly: the client's CM gives up after some seconds. A request whose listener was
// destroyed can still be accepted; rejecting it only drops it (the client sees the connect fail).
class DetachedConnectRequest {
public:
    virtual ~DetachedConnectRequest() = default;
    virtual std::span<const std::byte> private_data() const = 0;  // owned by this object
    virtual const Address& peer_address() const = 0;
    virtual const Address& local_address() const = 0;
    virtual bool answered() const = 0;
    // Errors: as ConnectRequest::reject().
    virtual Status<Errc> reject(std::span<const std::byte> private_data) = 0;
};

class ListenerHandler {
public:
    virtual ~ListenerHandler() = default;
    virtual void on_connect_request(ConnectRequest& request) = 0;
};

class Listener {
public:
    virtual ~Listener() = default;
    virtual const Address& address() const = 0;  // with the real port when 0 was asked for
    // Connections the backend closed before they became a connect request, because they waited
    // too long or too many waited (libfabric tcp: accepted sockets that sent no complete CM
    // request; see the backend's page). 0 for backends without such a stage of their own.
    virtual std::uint64_t dropped_connections() const { return 0; }
};

// ---- timers ----------------------------------------------------------------------------------

class TimerHandler {
public:
    virtual ~TimerHandler() = default;
    virtual void on_timer(std::uint64_t cookie) = 0;
};

// 0 is never a valid timer id.
using TimerId = std::uint64_t;

// ---- the fabric ------------------------------------------------------------------------------

class Fabric {
public:
    virtual ~Fabric() = default;

    // Name of the backend ("sim", "ofi:tcp", "verbs").
    virtual std::string_view name() const = 0;
    // True when a write-with-immediate consumes a posted receive at the target (verbs).
    virtual bool imm_consumes_recv() const = 0;

    // Monotonic time. The core reads time only from here.
    virtual Nanos now() const = 0;
    // One-shot timer: handler.on_timer(cookie) runs once, no earlier than `delay` from now.
    // Timers with equal deadlines fire in start order.
    virtual TimerId start_timer(Nanos delay, TimerHandler& handler, std::uint64_t cookie) = 0;
    // Cancels a pending timer. Returns false if it already fired, was cancelled, or is unknown.
    virtual bool cancel_timer(TimerId id) = 0;
    // A seeded stream on the simulator, an OS-seeded one elsewhere.
    virtual std::uint64_t random_u64() = 0;

    // Errors: address_invalid, address_in_use, backend_error.
    virtual Expected<std::unique_ptr<Listener>, Errc> listen(const Address& address,
                                                             ListenerHandler& handler) = 0;
    // Starts an active connection; the outcome comes as established, rejected or unreachable on
    // `handler`. `source` may name the local address to use (empty host: any).
    // Errors: private_data_too_long (> 56 bytes), address_invalid, no_resources.
    virtual Expected<std::unique_ptr<Endpoint>, Errc> connect(const Address& destination,
                                                              const Address& source,
                                                              std::span<const std::byte> private_data,
                                                              EndpointHandler& handler,
                                                              QueueSizes queues) = 0;
    // Accepts a request detached (ConnectRequest::detach()) on this or another fabric of the same
    // backend; call it on this fabric's thread. Errors: as ConnectRequest::accept(), and
    // invalid_argument for a request answered already or one of another backend (or, on the
    // simulator, of another node).
    virtual Expected<std::unique_ptr<Endpoint>, Errc> accept(DetachedConnectRequest& request,
                                                             std::span<const std::byte> private_data,
                                                             EndpointHandler& handler,
                                                             QueueSizes queues) = 0;
    // Registers `size` bytes at `data` (the caller keeps the memory alive longer than the MR).
    // rkeys fit in 32 bits. Errors: registration_failed, invalid_argument (size 0, access 0),
    // not_supported (access_window_bind where supports_invalidation() is false).
    virtual Expected<std::unique_ptr<MemoryRegion>, Errc> register_memory(std::byte* data,
                                                                           std::size_t size,
                                                                           std::uint32_t access) = 0;

    // True when this fabric does sends with invalidate, local invalidation and type-2 memory
    // windows (see KEY INVALIDATION AND MEMORY WINDOWS): sim always, verbs when the device
    // allocates type-2 windows, ofi never. Upper layers refuse modes that need them when false.
    virtual bool supports_invalidation() const = 0;
    // A free type-2 memory window on this fabric's memory. Errors: not_supported,
    // no_resources (the device's windows are used up, or the simulated node is crashed).
    virtual Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_window() = 0;
    // True when this fabric has fabric-wide (type-1) memory windows: sim always, verbs when the
    // device allocates them, ofi never. Independent of supports_invalidation().
    virtual bool supports_fabric_windows() const = 0;
    // A fabric-wide window (see KEY INVALIDATION AND MEMORY WINDOWS), its key valid for nothing
    // until bound. Errors: not_supported, no_resources (as allocate_window()).
    virtual Expected<std::unique_ptr<MemoryWindow>, Errc> allocate_fabric_window() = 0;

    // Drives progress without blocking: delivers up to `budget` pending completions, CM events and
    // expired timers to their handlers and returns how many it delivered. The simulator delivers
    // events from World::run*() instead; its poll() returns 0.
    virtual std::size_t poll(std::size_t budget) = 0;
};

}  // namespace ibnbd::fabric
