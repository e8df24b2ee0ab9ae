// How simulated connections end (internal): breaking, flushing, establishing, destroying.
//
// A connection that breaks, for whatever reason, goes to `closing` at once (posts fail, incoming
// messages are ignored) and a flush event completes its posted work - send queue then receive
// queue, each in post order, each with WcStatus::flushed except the request that caused the break
// - and then delivers the final CM event (disconnected, rejected or unreachable).
#pragma once

#include <cstdint>
#include <span>

#include "fabric/fabric.hpp"
#include "fabric/sim/connection.hpp"

namespace ibnbd::fabric::sim {

class Engine;
struct Event;

// Starts the end of `connection` (no-op if it is already ending): flush at `at`, then
// `final_event` with the private data of CM message `message` (kNoMessage: none), which is
// released afterwards. With `tell_peer`, a disconnect request goes to the peer.
void close_connection(Engine& engine, Connection& connection, CmEventType final_event,
                      bool tell_peer, Nanos at, std::uint64_t message);
// A fatal error: the oldest send-queue request completes with `status`, the rest are flushed,
// then disconnected.
void fail_connection(Engine& engine, Connection& connection, WcStatus status, bool tell_peer);
// Moves to connected and delivers established with `private_data`.
void establish(Engine& engine, Connection& connection, std::span<const std::byte> private_data);
// Endpoint destruction: silent here, a disconnect request to the peer where one is due.
void destroy_connection(Engine& engine, EndpointHandle handle);

void on_flush(Engine& engine, const Event& event);

}  // namespace ibnbd::fabric::sim
