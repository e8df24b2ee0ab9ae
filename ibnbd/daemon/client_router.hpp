// The ibnbd-client daemon's control commands across reactors. Each reactor has its own fabric and
// a ClientService with the sessions placed on it (and their NBD exports), all driven by that
// reactor's thread; a ClientRoute is how commands reach it. The router runs on the home reactor
// (the one with the control socket): a new session goes to the reactor with the fewest sessions,
// every later command for it to the same reactor; `list` asks every reactor and merges the
// answers (each device says its reactor). Requests cross threads only through Reactor::post; answers come back the same way,
// so the control connection is touched by the home thread alone.
//
// Every request is checked against client_commands() first (request_check.hpp), so routes get
// only requests whose fields have the declared types.
//
// ERRORS  -EINVAL: a request of the wrong shape or an unknown command (the message names the field);
//         -ENOENT: a command names a session no reactor has (except map, which creates it);
//         -EAGAIN: a reactor's task queue is full ("busy; retry").
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/daemon/request_check.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::daemon {

// What a reactor does with a command, on its own thread.
class CommandHandler {
public:
    virtual ~CommandHandler() = default;
    virtual void handle(const Json& request, Responder respond) = 0;
};

// The ibnbd-client daemon's commands and their fields (documented in client_service.hpp).
std::span<const CommandSpec> client_commands();

struct ClientRoute {
    runtime::Reactor& reactor;
    CommandHandler& handler;
};

class ClientRouter {
public:
    ClientRouter(runtime::Reactor& home, std::vector<ClientRoute> routes);

    // Home reactor thread only.
    void handle(const Json& request, Responder respond);
    // The reactor (its index) a session was placed on, if any.
    std::optional<std::size_t> reactor_of(const std::string& session) const;

private:
    std::size_t place(const std::string& session);
    void forward(std::size_t index, const Json& request, Responder respond);
    void list_all(Responder respond);

    runtime::Reactor& home_;
    std::vector<ClientRoute> routes_;
    std::map<std::string, std::size_t> session_reactor_;
    std::vector<std::size_t> sessions_per_reactor_;
};

}  // namespace ibnbd::daemon
