// The simulator's disks and the names they go by.
//
// NAME
//     ibnbd::storage::memory::MemoryCatalog - a name space of memory stores and symlinks.
//
// SYNOPSIS
//     MemoryCatalog catalog;                               // outlives the nodes and their backends
//     MemoryStore& disk = catalog.add_store("/srv/vol0", 1 << 20, {});
//     catalog.add_symlink("/srv/alias", "vol0");            // relative to the link's directory
//     catalog.canonical_path("/srv//./alias")               // "/srv/vol0"
//
// DESCRIPTION
//     Paths are absolute. Directories are implicit: "/" and every proper prefix of a store's or a
//     symlink's path ("/srv" above) exist as directories. canonical_path() behaves like realpath(3)
//     with "/" as the working directory: it follows every symlink (absolute targets from "/",
//     relative ones from the link's directory), applies "." and ".." after resolving (so ".." of a
//     symlinked directory is its target's parent), ignores duplicate slashes, and requires every
//     component to exist.
//     Errors: -ENOENT (missing component, dangling link, empty path), -ENOTDIR (a store used as a
//     directory, or named with a trailing slash), -ELOOP (more than 40 symlinks followed),
//     -ENAMETOOLONG (a path of PATH_MAX bytes or more, before or during expansion, or a component
//     longer than NAME_MAX). There are no permissions: -EACCES never happens.
//
//     The catalogue owns its stores; their addresses stay valid until it is destroyed, which must
//     be after every device opened on them. Identities are (catalogue id, store id): unique per
//     process, shared by every name of one store.
//
// LIMITS
//     add_store() and add_symlink() assert on a relative or non-normal path (".", "..", "//", a
//     trailing "/"), on a name that exists already, and on a name below a store or a symlink.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fabric/expected.hpp"
#include "ibnbd/storage/memory/memory_store.hpp"

namespace ibnbd::storage::memory {

inline constexpr std::size_t kPathMax = 4096;  // bytes, including the terminating NUL (Linux)
inline constexpr std::size_t kNameMax = 255;
inline constexpr int kMaxSymlinks = 40;        // Linux's MAXSYMLINKS

class MemoryCatalog {
public:
    MemoryCatalog();
    MemoryCatalog(const MemoryCatalog&) = delete;
    MemoryCatalog& operator=(const MemoryCatalog&) = delete;

    MemoryStore& add_store(const std::string& path, std::uint64_t size_bytes, StoreOptions options);
    // `target` may be absolute or relative, and need not exist (a dangling link).
    void add_symlink(const std::string& path, const std::string& target);

    Expected<std::string, int> canonical_path(const std::string& path) const;
    // The store a path names after following symlinks; nullptr for a directory or nothing.
    MemoryStore* find_store(const std::string& path) const;
    bool is_directory(const std::string& canonical) const;

    // Every store crashes (MemoryStore::crash) with a seed derived from `seed` and its store id.
    void crash_all(std::uint64_t seed);
    std::size_t store_count() const { return stores_.size(); }

private:
    enum class Kind : std::uint8_t { none, directory, store, symlink };
    struct Entry {
        MemoryStore* store = nullptr;  // else a symlink
        std::string target;
    };

    Kind kind_of(const std::string& path) const;
    void add_name(const std::string& path, Entry entry);

    std::uint64_t id_;
    std::map<std::string, Entry> entries_;     // stores and symlinks by path
    std::set<std::string> directories_;        // implicit directories, "/" included
    std::vector<std::unique_ptr<MemoryStore>> stores_;
};

}  // namespace ibnbd::storage::memory
