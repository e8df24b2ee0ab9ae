// The ibnbd-server daemon's control commands across its reactors. Each reactor has a shard: its
// BlockServer and ibtrs::Server, with the sessions placed on it. Commands arrive on the home
// reactor (the one with the control socket); each is asked of every shard on that shard's thread
// and the answers are merged on the home thread:
//   list         every shard's devices, each with its "reactor"
//   stats        the shards' counters summed, and "sessions_per_reactor"
//   force_close  {session, device_id} done by the shard that has the session (-ENOENT when none has)
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

struct ServerShard {
    runtime::Reactor& reactor;
    block::BlockServer& blocks;
    ibtrs::Server& server;
};

class ServerControl {
public:
    ServerControl(runtime::Reactor& home, std::vector<ServerShard> shards);

    // Home reactor thread only.
    void handle(const Json& request, Responder respond);

private:
    using PerShard = std::function<Json(ServerShard& shard, std::size_t index)>;
    using Merge = std::function<Json(std::vector<Json> answers)>;
    // Runs `ask` on every shard's thread and answers with merge(answers in shard order).
    void gather(PerShard ask, Merge merge, Responder respond);

    runtime::Reactor& home_;
    std::vector<ServerShard> shards_;
};

}  // namespace ibnbd::daemon
