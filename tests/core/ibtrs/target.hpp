// Test upper layers for IBTRS: a server-side memory "disk" that serves requests whose user
// message is {u64 offset}, and a client-side driver that issues verified random IO through a
// ClientSession and checks every read against a shadow copy of what it wrote.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <ostream>
#include <random>
#include <vector>

#include "core/ibtrs/client_session.hpp"
#include "core/ibtrs/server.hpp"

namespace ibnbd::ibtrs {
// Printable states for Boost.Test messages (found by argument-dependent lookup).
inline std::ostream& operator<<(std::ostream& os, ClientPathState state) { return os << to_string(state); }
inline std::ostream& operator<<(std::ostream& os, ServerPathState state) { return os << to_string(state); }
inline std::ostream& operator<<(std::ostream& os, MpPolicy policy) { return os << to_string(policy); }
}  // namespace ibnbd::ibtrs

namespace ibnbd::ibtrs::test {

struct UserMessage {
    std::uint64_t offset = 0;
    std::array<std::byte, 8> encode() const {
        std::array<std::byte, 8> bytes{};
        std::memcpy(bytes.data(), &offset, 8);
        return bytes;
    }
};

// Serves reads and writes from memory. Responses are immediate unless hold_responses is set.
class MemoryTarget : public ServerHandler {
public:
    explicit MemoryTarget(std::size_t size) : disk(size) {}

    int on_session_connected(ServerSession&) override {
        ++sessions_connected;
        return refuse_sessions;
    }
    void on_session_disconnected(ServerSession&) override { ++sessions_disconnected; }
    int on_request(ServerSession& session, RequestId id, Dir dir, std::span<std::byte> data,
                   std::span<const std::byte> usr) override {
        ++requests;
        if (usr.size() < 8) return -EINVAL;
        std::uint64_t offset = 0;
        std::memcpy(&offset, usr.data(), 8);
        if (offset + data.size() > disk.size()) return -ERANGE;
        if (fail_with != 0) return fail_with;
        if (dir == Dir::write) {
            if (!data.empty()) std::memcpy(disk.data() + offset, data.data(), data.size());
        } else if (!data.empty()) {
            std::memcpy(data.data(), disk.data() + offset, data.size());
        }
        if (hold_responses) {
            held.push_back({&session, id});
            return 0;
        }
        session.respond(id, 0);
        return 0;
    }
    void release_held(int status = 0) {
        auto pending = std::move(held);
        held.clear();
        for (auto& [session, id] : pending) session->respond(id, status);
    }

    std::vector<std::byte> disk;
    int fail_with = 0;
    int refuse_sessions = 0;
    bool hold_responses = false;
    std::vector<std::pair<ServerSession*, RequestId>> held;
    std::uint64_t requests = 0;
    int sessions_connected = 0;
    int sessions_disconnected = 0;
};

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
