#include "ibnbd/server/device_table.hpp"

#include <cerrno>

namespace ibnbd::block {

Expected<OpenDevice*, int> DeviceTable::acquire(const std::string& canonical, wire::AccessMode mode) {
    auto opened = backend_.open(canonical, true);
    bool writable = true;
    if (!opened && (opened.error() == -EROFS || opened.error() == -EACCES || opened.error() == -EPERM)) {
        opened = backend_.open(canonical, false);
        writable = false;
    }
    if (!opened) return unexpected(opened.error());
    const storage::Identity identity = opened.value()->identity();
    auto found = devices_.find(identity);
    if (found == devices_.end()) {
        auto entry = std::make_unique<OpenDevice>();
        entry->canonical_path = canonical;
        entry->device = std::move(opened.value());
        entry->writable = writable;
        found = devices_.emplace(identity, std::move(entry)).first;
    }
    // else: a second name for a device we already have open; the new handle is dropped.
    OpenDevice& device = *found->second;
    const int refused = ledger_.draining(identity)              ? -EINPROGRESS
                        : is_writer(mode) && !device.writable ? -EROFS
                        : ledger_.admit(identity, mode).has_value() ? 0
                                                                    : -EPERM;
    if (refused != 0) {
        reap();  // a device opened just for this request goes again
        return unexpected(refused);
    }
    ++device.users;
    return &device;
}

void DeviceTable::release(OpenDevice& device, wire::AccessMode mode) {
    ledger_.release(device.device->identity(), mode);
    --device.users;
    reap();
}

void DeviceTable::reap() {
    std::erase_if(devices_, [](const auto& entry) {
        return entry.second->users == 0 && entry.second->device->inflight() == 0;
    });
}

}  // namespace ibnbd::block
