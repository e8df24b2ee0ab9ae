// The storage backend of the simulator: devices over the stores of a MemoryCatalog.
//
// NAME
//     ibnbd::storage::memory::MemoryBackend - storage::Backend for simulated nodes.
//
// SYNOPSIS
//     MemoryCatalog catalog;                          // "the disks": outlives nodes and backends
//     catalog.add_store("/srv/vol0", 8 << 20, {});
//     MemoryBackend backend(node, catalog);           // node: a fabric::Fabric (sim::Node)
//     auto device = backend.open(*backend.canonical_path("/srv/vol0"), true);
//
// DESCRIPTION
//     canonical_path() is MemoryCatalog::canonical_path(). open() follows symlinks once more (so a
//     non-canonical name works too) and makes a MemoryDevice (memory_device.hpp) whose completions
//     come from `node`'s timers; every device gets its own pool of `queue_depth` pending
//     operations. Several devices may be open on one store at once; they share its contents.
//     open() errors: those of canonical_path(), -EISDIR for a directory, -EROFS for a writable open
//     of a read-only store. A MemoryStore is neither a regular file nor a block device, but it
//     plays the role of one, so -ENOTBLK never happens.
//
// LIFETIME
//     node and catalog outlive the backend; the backend outlives nothing: devices refer only to
//     the node and their store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fabric/fabric.hpp"
#include "ibnbd/storage/device.hpp"
#include "ibnbd/storage/memory/memory_catalog.hpp"
#include "ibnbd/storage/memory/memory_device.hpp"
#include "ibnbd/storage/memory/memory_store.hpp"

namespace ibnbd::storage::memory {

struct MemoryBackendConfig {
    std::uint32_t queue_depth = 256;  // pending operations per device
};

class MemoryBackend final : public Backend {
public:
    MemoryBackend(fabric::Fabric& node, MemoryCatalog& catalog, MemoryBackendConfig config = {});

    Expected<std::string, int> canonical_path(const std::string& path) override;
    Expected<std::unique_ptr<Device>, int> open(const std::string& canonical, bool writable) override;

    MemoryCatalog& catalog() const { return catalog_; }

private:
    fabric::Fabric& node_;
    MemoryCatalog& catalog_;
    MemoryBackendConfig config_;
};

}  // namespace ibnbd::storage::memory
