// The sim backend's fabric::Endpoint: a thin handle on a Connection record of the engine.
//
// Limits and errors are those of fabric.hpp. Specific to the simulator:
//   - Every post, receives included, needs connected() (as fabric.hpp and the ofi backend say;
//     verbs would take receives earlier). Post receives in the established handler: a passive
//     side is established before the first message from its peer is executed.
//   - Local entries are checked at post time: the address range must lie inside entry.mr and,
//     for receives and read targets, the MR must grant access_local_write (else
//     invalid_argument). Remote keys, ranges and access are checked at the target, when the
//     message arrives (remote_access_error). Zero-length writes and reads skip the remote check,
//     as verbs does.
//   - The bytes of a write or send are read from the local buffers when the message arrives at
//     the target; a read's bytes land in the local buffers when the target executes it. Buffers
//     must stay untouched until the completion, as on real hardware.
//   - A message over a link direction that is down, or to a crashed node, is retransmitted until
//     it gets through (delivered late, in order) or its outage reaches
//     WorldConfig::transport_timeout: then the work request completes with
//     transport_retry_exceeded and this side alone breaks (flush, disconnected).
//   - Destroying the endpoint is silent here; the peer gets a disconnect request unless it is
//     known to be gone, the node crashed, or the connection never reached the peer.
//   - Keys and windows are modelled exactly as fabric.hpp states them (see memory.hpp and
//     transport.hpp): window binds and local invalidations run in send-queue order; a bind's
//     window and region must be this node's (invalid_argument otherwise), checked at post time;
//     whether the window is free, the key valid or the region still there is checked when the
//     operation executes (local_error).
#pragma once

#include <cstdint>
#include <span>

#include "fabric/fabric.hpp"
#include "fabric/sim/connection.hpp"

namespace ibnbd::fabric::sim {

class Engine;

class SimEndpoint final : public Endpoint {
public:
    SimEndpoint(Engine& engine, EndpointHandle handle) : engine_(engine), handle_(handle) {}
    ~SimEndpoint() override;
    SimEndpoint(const SimEndpoint&) = delete;
    SimEndpoint& operator=(const SimEndpoint&) = delete;

    Status<Errc> post_recv(std::uint64_t context, std::span<const Sge> sges) override;
    Status<Errc> post_send(std::uint64_t context, std::span<const Sge> sges,
                           const std::uint32_t* imm = nullptr) override;
    Status<Errc> post_write(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote,
                            const std::uint32_t* imm = nullptr) override;
    Status<Errc> post_read(std::uint64_t context, std::span<const Sge> sges,
                           RemoteKey remote) override;
    Status<Errc> post_send_invalidate(std::uint64_t context, std::span<const Sge> sges,
                                      std::uint32_t rkey) override;
    Status<Errc> post_local_invalidate(std::uint64_t context, std::uint32_t rkey) override;
    Expected<RemoteKey, Errc> post_bind_window(std::uint64_t context, MemoryWindow& window,
                                               const WindowBind& bind) override;
    void disconnect() override;
    bool connected() const override;
    const Address& peer_address() const override;
    const Address& local_address() const override;

    // World-unique id of the connection (as in TraceEvent::endpoint).
    std::uint64_t id() const;
    EndpointHandle handle() const { return handle_; }

private:
    Connection& connection() const;

    Engine& engine_;
    EndpointHandle handle_;
};

}  // namespace ibnbd::fabric::sim
