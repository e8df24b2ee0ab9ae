// ibtrs::Mailbox over a reactor: the parts of a sharded client session (its control on one
// reactor, IO shards on the others) reach each other's threads through Reactor::post_message.
#pragma once

#include "core/ibtrs/shard_control.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::runtime {

class ReactorMailbox final : public ibtrs::Mailbox {
public:
    explicit ReactorMailbox(Reactor& reactor) : reactor_(reactor) {}
    void post(std::function<void()> task) override { reactor_.post_message(std::move(task)); }

private:
    Reactor& reactor_;
};

}  // namespace ibnbd::runtime
