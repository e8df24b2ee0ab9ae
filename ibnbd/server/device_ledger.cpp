#include "ibnbd/server/device_ledger.hpp"

#include <cassert>
#include <cerrno>

namespace ibnbd::block {

bool is_writer(wire::AccessMode mode) { return mode != wire::AccessMode::ro; }

void DeviceLedger::forget_if_unused(std::map<storage::Identity, Entry>::iterator entry) {
    if (entry->second.writers == 0 && entry->second.draining == 0) entries_.erase(entry);
}

Status<int> DeviceLedger::admit(const storage::Identity& identity, wire::AccessMode mode) {
    if (!is_writer(mode)) return {};
    std::lock_guard lock(mutex_);
    Entry& entry = entries_[identity];
    const std::uint32_t others_allowed = mode == wire::AccessMode::rw ? 0 : 1;
    if (entry.writers > others_allowed) {
        forget_if_unused(entries_.find(identity));
        return unexpected(-EPERM);
    }
    ++entry.writers;
    return {};
}

void DeviceLedger::release(const storage::Identity& identity, wire::AccessMode mode) {
    if (!is_writer(mode)) return;
    std::lock_guard lock(mutex_);
    auto found = entries_.find(identity);
    assert(found != entries_.end() && found->second.writers > 0);
    --found->second.writers;
    forget_if_unused(found);
}

void DeviceLedger::begin_drain(const storage::Identity& identity) {
    std::lock_guard lock(mutex_);
    ++entries_[identity].draining;
}

void DeviceLedger::end_drain(const storage::Identity& identity) {
    {
        std::lock_guard lock(mutex_);
        auto found = entries_.find(identity);
        assert(found != entries_.end() && found->second.draining > 0);
        --found->second.draining;
        forget_if_unused(found);
    }
    if (wake_) wake_();
}

bool DeviceLedger::draining(const storage::Identity& identity) const {
    std::lock_guard lock(mutex_);
    const auto found = entries_.find(identity);
    return found != entries_.end() && found->second.draining != 0;
}

}  // namespace ibnbd::block
