// A mapped device's NBD export on another reactor (a path has one IO connection per reactor).
// The device's listening socket lives on its session's reactor; every connection it accepts is
// handed, in turn, to the session's reactors, and one handed here runs its whole life on this
// reactor: the NBD protocol, and its IO on the device's copy for this reactor's IBTRS shard (its
// own permits and connections).
//
// THREADING  constructed on the session's reactor (it touches nothing of this one); every other
//            method runs on this export's reactor, in the order the session posts them.
#pragma once

#include <memory>
#include <string>

#include "ibnbd/client/device_io.hpp"
#include "ibnbd/daemon/block_device_target.hpp"
#include "ibnbd/nbd/nbd_server.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::daemon {

class ShardExport {
public:
    ShardExport(std::shared_ptr<block::ShardDevice> copy, std::string name)
        : copy_(std::move(copy)), name_(std::move(name)) {}

    void start(runtime::Reactor& reactor) {
        target_ = std::make_unique<BlockDeviceTarget>(*copy_);  // reads the copy: this thread
        host_ = nbd::NbdServer::host(name_);
        host_->add_export(name_, *target_);
        host_->add_export("", *target_);  // clients that do not name an export
        reactor.add(*host_);
    }
    void adopt(int fd) { host_->adopt(fd); }
    // Before a forced unmap (see BlockDeviceTarget::invalidate).
    void invalidate() { target_->invalidate(); }
    // Closes the connections; destroy the export after this.
    void stop(runtime::Reactor& reactor) {
        reactor.remove(*host_);
        host_.reset();
    }

private:
    std::shared_ptr<block::ShardDevice> copy_;
    const std::string name_;
    std::unique_ptr<BlockDeviceTarget> target_;
    std::unique_ptr<nbd::NbdServer> host_;
};

}  // namespace ibnbd::daemon
