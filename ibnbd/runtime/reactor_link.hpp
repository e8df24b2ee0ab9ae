// ibtrs::TaskLink over a reactor: the parts of a sharded client session (its control on one
// reactor, IO shards on the others) reach each other's threads through Reactor::post_message.
#pragma once

#include "core/ibtrs/shard_link.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::runtime {

class ReactorLink final : public ibtrs::TaskLink {
public:
    explicit ReactorLink(Reactor& reactor) : reactor_(reactor) {}
    void post(std::function<void()> task) override { reactor_.post_message(std::move(task)); }

private:
    Reactor& reactor_;
};

}  // namespace ibnbd::runtime
