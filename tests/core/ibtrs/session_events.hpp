// What a client session reports, recorded for tests; and printable states for Boost.Test.
#pragma once

#include <ostream>
#include <string_view>
#include <vector>

#include "core/ibtrs/client_session.hpp"

namespace ibnbd::ibtrs {
// Printable states for Boost.Test messages (found by argument-dependent lookup).
inline std::ostream& operator<<(std::ostream& os, ClientPathState state) { return os << to_string(state); }
inline std::ostream& operator<<(std::ostream& os, ServerPathState state) { return os << to_string(state); }
inline std::ostream& operator<<(std::ostream& os, MpPolicy policy) { return os << to_string(policy); }
}  // namespace ibnbd::ibtrs

namespace ibnbd::ibtrs::test {

// Records what a client session reports.
class SessionEvents : public ClientSessionHandler {
public:
    void on_open(int status) override {
        opened = true;
        open_status = status;
    }
    void on_path_state(std::string_view path, ClientPathState from, ClientPathState to,
                       std::string_view reason) override {
        (void)path, (void)from, (void)reason;
        transitions.push_back(to);
    }
    void on_failover(std::string_view, std::string_view, std::uint32_t ios) override {
        ++failover_events;
        failed_over_ios += ios;
    }
    void on_reconnect_attempt(std::string_view, std::uint32_t, bool ok) override {
        (ok ? reconnects_ok : reconnects_failed)++;
    }
    void on_session_disconnected() override { ++session_down; }
    void on_session_reconnected() override { ++session_up; }

    bool opened = false;
    int open_status = 1;
    std::vector<ClientPathState> transitions;
    int failover_events = 0;
    std::uint32_t failed_over_ios = 0;
    int reconnects_ok = 0;
    int reconnects_failed = 0;
    int session_down = 0;
    int session_up = 0;
};

}  // namespace ibnbd::ibtrs::test
