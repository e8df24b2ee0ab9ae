// A server-side upper layer for IBTRS on the simulator: a memory "disk" that serves requests whose
// user message is {u64 offset}. Used by the core's tests, the demo and the scenario runner.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/ibtrs/server.hpp"

namespace ibnbd::scenario {

using ibtrs::Dir;
using ibtrs::RequestId;
using ibtrs::ServerSession;

struct UserMessage {
    std::uint64_t offset = 0;
    std::array<std::byte, 8> encode() const {
        std::array<std::byte, 8> bytes{};
        std::memcpy(bytes.data(), &offset, 8);
        return bytes;
    }
};

// Serves reads and writes from memory. Responses are immediate unless hold_responses is set.
class MemoryTarget : public ibtrs::ServerHandler {
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

}  // namespace ibnbd::scenario
