// The devices one reactor of the server has open, one per underlying object (storage::Identity),
// and the access-mode rules (docs/protocol.md §3.8), whose writers are counted in the DeviceLedger
// shared by all reactors:
//   ro         always allowed
//   rw         only while nobody writes (writers == 0)
//   migration  while writers < 2 (a second writer during live migration)
// A refused mode is -EPERM. Devices are opened writable when the backend allows it, so that one
// open serves every session; a read-only backing store refuses rw/migration with -EROFS.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/wire/rnbd.hpp"
#include "ibnbd/server/device_ledger.hpp"
#include "ibnbd/storage/device.hpp"

namespace ibnbd::block {

struct OpenDevice {
    std::string canonical_path;
    std::unique_ptr<storage::Device> device;
    bool writable = false;
    std::uint32_t users = 0;  // session devices of this reactor using it
};

class DeviceTable {
public:
    DeviceTable(storage::Backend& backend, DeviceLedger& ledger) : backend_(backend), ledger_(ledger) {}

    // Opens (or shares) the device at `canonical` for `mode`. Errors: the backend's, -EPERM,
    // -EROFS, -EINPROGRESS (a session gone with IO in flight on the device: wait for it).
    Expected<OpenDevice*, int> acquire(const std::string& canonical, wire::AccessMode mode);
    // Drops one user; closes the device when it has none left and nothing in flight.
    void release(OpenDevice& device, wire::AccessMode mode);
    // Closes devices that lost their last user while IO was still in flight.
    void reap();

    std::size_t size() const { return devices_.size(); }
    const std::map<storage::Identity, std::unique_ptr<OpenDevice>>& devices() const { return devices_; }

private:
    storage::Backend& backend_;
    DeviceLedger& ledger_;
    std::map<storage::Identity, std::unique_ptr<OpenDevice>> devices_;
};

}  // namespace ibnbd::block
