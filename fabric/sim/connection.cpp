#include "fabric/sim/connection.hpp"

#include <cassert>

namespace ibnbd::fabric::sim {

Connection& ConnectionTable::allocate(QueueSizes queues) {
    std::uint32_t slot = 0;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    Connection& connection = slots_[slot];
    const std::uint32_t generation = connection.generation;
    Ring<SendWr> sends = std::move(connection.sends);  // keep the rings' storage
    Ring<RecvWr> recvs = std::move(connection.recvs);
    connection = Connection{};
    connection.generation = generation;
    connection.in_use = true;
    connection.id = next_id_++;
    connection.self = EndpointHandle{slot, generation};
    connection.sends = std::move(sends);
    connection.recvs = std::move(recvs);
    connection.sends.reset(queues.max_send_wr);
    connection.recvs.reset(queues.max_recv_wr);
    return connection;
}

void ConnectionTable::release(EndpointHandle handle) {
    Connection* connection = get(handle);
    assert(connection != nullptr);
    connection->in_use = false;
    ++connection->generation;
    connection->handler = nullptr;
    free_.push_back(handle.slot);
}

}  // namespace ibnbd::fabric::sim
