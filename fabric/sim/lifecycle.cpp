#include "fabric/sim/lifecycle.hpp"

#include <algorithm>
#include <array>

#include "fabric/sim/cm.hpp"
#include "fabric/sim/engine.hpp"

namespace ibnbd::fabric::sim {
namespace {

// The connection if it is still closing; handlers may have destroyed it meanwhile.
Connection* still_closing(Engine& engine, EndpointHandle handle) {
    Connection* connection = engine.connections.get(handle);
    return connection != nullptr && connection->state == ConnState::closing ? connection : nullptr;
}

// Completes the send queue, then the receive queue, each in post order. False if a handler
// destroyed the endpoint (or it otherwise stopped closing).
bool flush_queues(Engine& engine, EndpointHandle handle) {
    while (Connection* connection = still_closing(engine, handle)) {
        if (connection->sends.empty()) break;
        const SendWr& wr = connection->sends.front();
        Completion completion;
        completion.context = wr.context;
        completion.opcode = initiator_opcode(wr.kind);
        completion.status = wr.status;
        connection->sends.pop();
        engine.deliver_completion(*connection, completion);
    }
    while (Connection* connection = still_closing(engine, handle)) {
        if (connection->recvs.empty()) return true;
        const RecvWr& wr = connection->recvs.front();
        Completion completion;
        completion.context = wr.context;
        completion.opcode = Opcode::recv;
        completion.status = wr.status;
        connection->recvs.pop();
        engine.deliver_completion(*connection, completion);
    }
    return false;
}

}  // namespace

void close_connection(Engine& engine, Connection& connection, CmEventType final_event,
                      bool tell_peer, Nanos at, std::uint64_t message) {
    const bool ending = connection.state == ConnState::closing ||
                        connection.state == ConnState::closed || connection.state == ConnState::dead;
    if (ending) {
        if (message != kNoMessage) engine.cm_messages.release(message);
        return;
    }
    connection.state = ConnState::closing;
    if (tell_peer) send_disconnect_request(engine, connection);
    engine.schedule(EventKind::flush, connection, at, message, static_cast<std::uint8_t>(final_event));
}

void fail_connection(Engine& engine, Connection& connection, WcStatus status, bool tell_peer) {
    if (!connection.sends.empty()) connection.sends.front().status = status;
    close_connection(engine, connection, CmEventType::disconnected, tell_peer, engine.now, kNoMessage);
}

void establish(Engine& engine, Connection& connection, std::span<const std::byte> private_data) {
    connection.state = ConnState::connected;
    engine.deliver_cm_event(connection, CmEventType::established, private_data);
}

void destroy_connection(Engine& engine, EndpointHandle handle) {
    Connection* connection = engine.connections.get(handle);
    if (connection == nullptr) return;
    const bool peer_may_care = connection->state != ConnState::dead && !connection->peer_closed;
    if (peer_may_care) send_disconnect_request(engine, *connection);
    engine.connections.release(handle);
}

void on_flush(Engine& engine, const Event& event) {
    std::array<std::byte, kMaxAcceptPrivateData> private_data{};
    std::size_t private_length = 0;
    if (event.value != kNoMessage) {
        const CmMessage& message = engine.cm_messages.at(event.value);
        private_length = message.private_length;
        std::copy_n(message.private_data.begin(), private_length, private_data.begin());
        engine.cm_messages.release(event.value);
    }
    const EndpointHandle handle{event.slot, event.generation};
    if (!flush_queues(engine, handle)) return;
    Connection* connection = still_closing(engine, handle);
    if (connection == nullptr) return;
    connection->state = ConnState::closed;
    engine.deliver_cm_event(*connection, static_cast<CmEventType>(event.code()),
                            std::span<const std::byte>(private_data.data(), private_length));
}

}  // namespace ibnbd::fabric::sim
