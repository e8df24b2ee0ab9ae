// The daemons' control socket: a unix stream socket carrying one JSON object per line each way.
// A request {"cmd": "...", ...} gets exactly one response {"ok": true, ...} or
// {"ok": false, "errno": N, "error": "what went wrong and what to do"}, in the order of the
// requests when each is answered at once. Responses may be sent later (a map waits for the
// server), from the reactor thread.
//
// LIMITS  A line over kMaxLine bytes is answered with an error (-E2BIG) and then the connection
//         is closed. A connection is not read while kMaxPending of its requests wait for their
//         answer or while kMaxBuffered bytes of answers wait for the client to read them; it is
//         read again as that drains. So a client that pipelines requests without reading the
//         answers holds at most those bytes of the daemon's memory, and gets every answer.
// ERRORS  A request that is not a JSON object with a "cmd" gets -EINVAL here; a handler that
//         throws a JSON exception (a request it did not check) gets its request answered with
//         -EINVAL rather than the exception taking the daemon down.
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
// strerror of a negative errno, for the sentences of error responses and logs.
std::string errno_text(int error);

class ControlServer : public runtime::Pollable {
public:
    static constexpr std::size_t kMaxLine = 64 * 1024;
    static constexpr std::size_t kMaxPending = 64;
    static constexpr std::size_t kMaxBuffered = 256 * 1024;

    // Replaces only a stale socket at `path`. Errors: those of nbd::listen_unix_socket()
    // (-EEXIST: not a socket there, -EADDRINUSE: another daemon serves it, -ENAMETOOLONG).
    static Expected<std::unique_ptr<ControlServer>, int> listen(const std::string& path, RequestHandler handler);
    ~ControlServer() override;

    std::size_t poll(std::size_t budget) override;
    int wait_fd() const override { return epoll_fd_; }
    std::uint32_t poll_every() const override { return 64; }  // commands are rare
    const std::string& path() const { return path_; }
    // Bytes held for every connection: requests read and not handled, answers not yet sent.
    std::size_t buffered_bytes() const;
    std::size_t connections() const { return connections_.size(); }

private:
    struct Connection;
    ControlServer(int fd, std::string path, RequestHandler handler);
    void accept_connections();
    std::size_t serve(const std::shared_ptr<Connection>& connection);
    void dispatch(const std::shared_ptr<Connection>& connection, const std::string& line);

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
