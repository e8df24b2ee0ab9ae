#include "core/ibtrs/session_directory.hpp"

#include <algorithm>
#include <cassert>

namespace ibnbd::ibtrs {

SessionDirectory::SessionDirectory(std::size_t reactors) : per_reactor_(std::max<std::size_t>(reactors, 1), 0) {}

std::size_t SessionDirectory::least_loaded() const {
    return static_cast<std::size_t>(std::min_element(per_reactor_.begin(), per_reactor_.end()) - per_reactor_.begin());
}

void SessionDirectory::insert(const Uuid& paths_uuid, std::size_t reactor) {
    assert(reactor < per_reactor_.size());
    sessions_.emplace(paths_uuid, Entry{reactor, {}});
    ++per_reactor_[reactor];
}

std::optional<std::size_t> SessionDirectory::place(const Uuid& paths_uuid, bool first_conn) {
    std::lock_guard lock(mutex_);
    if (auto found = sessions_.find(paths_uuid); found != sessions_.end()) return found->second.reactor;
    if (!first_conn) return std::nullopt;
    const std::size_t reactor = least_loaded();
    insert(paths_uuid, reactor);
    return reactor;
}

std::size_t SessionDirectory::adopt(const Uuid& paths_uuid, std::size_t self) {
    std::lock_guard lock(mutex_);
    if (auto found = sessions_.find(paths_uuid); found != sessions_.end()) return found->second.reactor;
    insert(paths_uuid, self);
    return self;
}

bool SessionDirectory::take_name(const Uuid& paths_uuid, std::string_view name) {
    std::lock_guard lock(mutex_);
    for (const auto& [uuid, entry] : sessions_) {
        if (uuid != paths_uuid && entry.name == name) return false;
    }
    if (auto found = sessions_.find(paths_uuid); found != sessions_.end()) found->second.name = name;
    return true;
}

void SessionDirectory::drop(const Uuid& paths_uuid, std::size_t self) {
    std::lock_guard lock(mutex_);
    auto found = sessions_.find(paths_uuid);
    if (found == sessions_.end() || found->second.reactor != self) return;
    --per_reactor_[self];
    sessions_.erase(found);
}

std::vector<std::size_t> SessionDirectory::sessions_per_reactor() const {
    std::lock_guard lock(mutex_);
    return per_reactor_;
}

}  // namespace ibnbd::ibtrs
