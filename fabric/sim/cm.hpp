// Simulated connection management (the RDMA CM exchange) over the links.
//
// Active side                         Passive side
//   connect()  -- request ------------>  listener.on_connect_request()
//              <------------ reply ---   accept()        (passive: accepted, can receive)
//   established -- ready-to-use ------>  established
//              <------------ reject --   reject() / no answer / injected reject
//   unreachable <-------- no listener -  (nobody listens on that address:port)
//   either side -- disconnect request ->  flush + disconnected at the peer
//
// CM messages travel like data: link latency and jitter, plus the world's extra CM delay, lost
// when their direction is down or their target node is crashed. A lost request or reply ends in
// unreachable (active side) or disconnected (accepted passive side) after WorldConfig::cm_timeout.
// Messages live in a pool (private data inline) so reconnect storms allocate nothing new.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "fabric/fabric.hpp"
#include "fabric/sim/connection.hpp"

namespace ibnbd::fabric::sim {

class Engine;
class Node;
struct Event;

enum class CmKind : std::uint8_t { request, reply, reject, no_listener, ready, disconnect };

inline constexpr std::uint64_t kNoMessage = ~std::uint64_t{0};

struct CmMessage {
    CmKind kind = CmKind::request;
    EndpointHandle from;            // the sending connection, if any
    EndpointHandle to;              // the receiving connection (all but requests)
    Node* sender = nullptr;
    Node* target = nullptr;
    Link* link = nullptr;
    std::uint8_t direction = 0;     // link direction the message travels on
    Address source;                 // request: the client's address
    Address destination;            // request: the address the client asked for
    std::uint8_t private_length = 0;
    std::array<std::byte, kMaxAcceptPrivateData> private_data{};

    std::span<const std::byte> payload() const { return {private_data.data(), private_length}; }
    void set_payload(std::span<const std::byte> bytes);
};

class CmPool {
public:
    std::uint64_t acquire();
    CmMessage& at(std::uint64_t index) { return messages_[index]; }
    void release(std::uint64_t index) { free_.push_back(index); }

private:
    std::deque<CmMessage> messages_;  // stable references while it grows
    std::vector<std::uint64_t> free_;
};

// Fabric::connect() of `node` (errors as documented there, plus invalid_argument for empty
// queues and no_resources while the node is crashed).
Expected<std::unique_ptr<Endpoint>, Errc> start_connect(Engine& engine, Node& node,
                                                        const Address& destination,
                                                        const Address& source,
                                                        std::span<const std::byte> private_data,
                                                        EndpointHandler& handler, QueueSizes queues);
// Sends message `index` on its link (arrival: latency, jitter, CM delay; after `*order` when
// given, which is then moved on).
void send_cm(Engine& engine, std::uint64_t index, Nanos* order);
// Tells the peer of `connection` that it is gone (once).
void send_disconnect_request(Engine& engine, Connection& connection);
// Queue sizes a connection may have: invalid_argument for 0, no_resources above kMaxQueueSize
// (the rings are allocated when the connection is created).
inline constexpr std::uint32_t kMaxQueueSize = 1u << 16;
Status<Errc> check_queue_sizes(QueueSizes queues);

void on_cm_message(Engine& engine, const Event& event);
void on_cm_timeout(Engine& engine, const Event& event);

}  // namespace ibnbd::fabric::sim
