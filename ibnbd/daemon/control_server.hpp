// The daemons' control socket: a unix stream socket carrying one JSON object per line each way.
// A request {"cmd": "...", ...} gets exactly one response {"ok": true, ...} or
// {"ok": false, "errno": N, "error": "what went wrong and what to do"}. Responses may be sent
// later (a map waits for the server), from the reactor thread. Lines over 64 KiB close the
// connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fabric/expected.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::daemon {

using Json = nlohmann::json;

// Answers a request; call exactly once, now or later on the reactor thread. The responder stays
// valid after its connection closed (the answer is then dropped).
using Responder = std::function<void(Json response)>;
using RequestHandler = std::function<void(const Json& request, Responder respond)>;

Json error_response(int error, const std::string& message);

class ControlServer : public runtime::Pollable {
public:
    // Errors: -errno of socket/bind/listen.
    static Expected<std::unique_ptr<ControlServer>, int> listen(const std::string& path, RequestHandler handler);
    ~ControlServer() override;

    std::size_t poll(std::size_t budget) override;
    int wait_fd() const override { return epoll_fd_; }
    std::uint32_t poll_every() const override { return 64; }  // commands are rare
    const std::string& path() const { return path_; }

private:
    struct Connection;
    ControlServer(int fd, std::string path, RequestHandler handler);
    std::size_t serve(Connection& connection);

    int listen_fd_;
    int epoll_fd_;
    std::string path_;
    RequestHandler handler_;
    std::vector<std::shared_ptr<Connection>> connections_;
};

// Client side, used by the ibnbd CLI: one request, one response, blocking with a timeout.
// Errors: -ENOENT/-ECONNREFUSED (no daemon), -ETIMEDOUT, -EPROTO (not JSON).
Expected<Json, int> control_call(const std::string& path, const Json& request, int timeout_ms);

}  // namespace ibnbd::daemon
