#include "ibnbd/server/device_table.hpp"

#include <cerrno>

namespace ibnbd::block {

bool is_writer(wire::AccessMode mode) { return mode != wire::AccessMode::ro; }

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
    if (is_writer(mode)) {
        const std::uint32_t limit = mode == wire::AccessMode::rw ? 0 : 1;
        const int refused = !device.writable ? -EROFS : device.writers > limit ? -EPERM : 0;
        if (refused != 0) {
            reap();  // a device opened just for this request goes again
            return unexpected(refused);
        }
        ++device.writers;
    }
    ++device.users;
    return &device;
}

void DeviceTable::release(OpenDevice& device, wire::AccessMode mode) {
    if (is_writer(mode)) --device.writers;
    --device.users;
    reap();
}

void DeviceTable::reap() {
    std::erase_if(devices_, [](const auto& entry) {
        return entry.second->users == 0 && entry.second->device->inflight() == 0;
    });
}

}  // namespace ibnbd::block
