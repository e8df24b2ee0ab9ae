#include "ibnbd/storage/memory/memory_backend.hpp"

#include <cassert>
#include <cerrno>

namespace ibnbd::storage::memory {

MemoryBackend::MemoryBackend(fabric::Fabric& node, MemoryCatalog& catalog, MemoryBackendConfig config)
    : node_(node), catalog_(catalog), config_(config) {
    assert(config_.queue_depth > 0);
}

Expected<std::string, int> MemoryBackend::canonical_path(const std::string& path) {
    return catalog_.canonical_path(path);
}

Expected<std::unique_ptr<Device>, int> MemoryBackend::open(const std::string& canonical, bool writable) {
    const auto resolved = catalog_.canonical_path(canonical);
    if (!resolved) return unexpected(resolved.error());
    if (catalog_.is_directory(*resolved)) return unexpected(-EISDIR);
    MemoryStore* store = catalog_.find_store(*resolved);
    assert(store != nullptr);  // a canonical name is "/", a directory or a store
    if (writable && store->read_only()) return unexpected(-EROFS);
    return std::unique_ptr<Device>(std::make_unique<MemoryDevice>(node_, *store, writable, config_.queue_depth));
}

}  // namespace ibnbd::storage::memory
