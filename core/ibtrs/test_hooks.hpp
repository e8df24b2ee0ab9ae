// Switches that only tests turn on: each re-creates a bug the protocol exists to prevent, so that
// a test can show its oracle catches the bug. Never set by the daemons; they are not part of
// ClientConfig so that no configuration file or flag can reach them.
#pragma once

namespace ibnbd::ibtrs {

struct ClientTestHooks {
    // Re-issue a failed path's requests at once instead of after its connections have drained:
    // an old write can then land after its re-issue. The scenario runner's
    // `hidden: {unsafe_failover_without_drain: true}` sets it.
    bool failover_without_drain = false;
};

}  // namespace ibnbd::ibtrs
