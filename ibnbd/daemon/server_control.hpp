// The ibnbd-server daemon's control commands across its reactors. Each reactor has its part (a
// ServerPart): its BlockServer and ibtrs::Server, with the sessions placed on it. Commands arrive
// on the home reactor (the one with the control socket); each is asked of every part on its
// reactor's thread and the answers are merged on the home thread:
//   list         every reactor's devices, each with its "reactor"
//   stats        the reactors' counters summed, and "sessions_per_reactor"
//   force_close  {session, device_id} done by the reactor that has the session (-ENOENT when none has)
// Requests are checked first (request_check.hpp): -EINVAL names the field or the unknown command.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "core/ibtrs/server.hpp"
#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/runtime/reactor.hpp"
#include "ibnbd/server/block_server.hpp"

#include "ibnbd/daemon/request_check.hpp"

namespace ibnbd::daemon {

// The ibnbd-server daemon's commands and their fields.
std::span<const CommandSpec> server_commands();

struct ServerPart {
    runtime::Reactor& reactor;
    block::BlockServer& blocks;
    ibtrs::Server& server;
};

class ServerControl {
public:
    ServerControl(runtime::Reactor& home, std::vector<ServerPart> parts);

    // Home reactor thread only.
    void handle(const Json& request, Responder respond);

private:
    using PerReactor = std::function<Json(ServerPart& part, std::size_t index)>;
    using Merge = std::function<Json(std::vector<Json> answers)>;
    // Runs `ask` on every reactor's thread and answers with merge(answers in reactor order).
    void gather(PerReactor ask, Merge merge, Responder respond);

    runtime::Reactor& home_;
    std::vector<ServerPart> parts_;
};

}  // namespace ibnbd::daemon
