// Heartbeat bookkeeping of docs/protocol.md §1.9, shared by client and server paths. The owner runs a
// timer every `interval`, calls tick() and acts on the answer; every received message calls
// on_receive(). Silence is detected at the (missed_max + 2)th tick after the last message.
#pragma once

#include <cstdint>

#include "core/ibtrs/types.hpp"

namespace ibnbd::ibtrs {

class Heartbeat {
public:
    enum class Action : std::uint8_t { wait, send, fail };

    explicit Heartbeat(HeartbeatConfig config = {}) : config_(config) {}

    Action tick(fabric::Nanos now) {
        if (missed_ > config_.missed_max) return Action::fail;
        if (missed_++ != 0) return Action::wait;
        last_sent_ = now;
        return Action::send;
    }
    void on_receive() { missed_ = 0; }
    // Round trip of the last heartbeat, when its ack arrives.
    fabric::Nanos on_ack(fabric::Nanos now) const { return now - last_sent_; }
    void reset() { missed_ = 0; }

    const HeartbeatConfig& config() const { return config_; }
    std::uint32_t missed() const { return missed_; }

private:
    HeartbeatConfig config_;
    std::uint32_t missed_ = 0;
    fabric::Nanos last_sent_ = 0;
};

}  // namespace ibnbd::ibtrs
