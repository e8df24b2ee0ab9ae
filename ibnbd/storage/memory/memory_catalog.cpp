#include "ibnbd/storage/memory/memory_catalog.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <string_view>

namespace ibnbd::storage::memory {

namespace {

std::atomic<std::uint64_t> next_catalog_id{1};

bool is_normal_absolute(const std::string& path) {
    if (path.size() < 2 || path.front() != '/' || path.back() == '/') return false;
    std::size_t start = 1;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        const std::string_view component(path.data() + start, end - start);
        if (component.empty() || component == "." || component == "..") return false;
        start = end + 1;
    }
    return true;
}

std::string parent_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string join(const std::string& directory, std::string_view name) {
    return directory == "/" ? "/" + std::string(name) : directory + "/" + std::string(name);
}

// Takes the next component off the front of `rest` (skipping slashes); empty when none is left.
std::string_view take_component(std::string_view& rest) {
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    const std::size_t end = std::min(rest.find('/'), rest.size());
    const std::string_view component = rest.substr(0, end);
    rest.remove_prefix(end);
    return component;
}

std::uint64_t mix(std::uint64_t seed, std::uint64_t id) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (id + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace

MemoryCatalog::MemoryCatalog() : id_(next_catalog_id.fetch_add(1)) { directories_.insert("/"); }

void MemoryCatalog::add_name(const std::string& path, Entry entry) {
    assert(is_normal_absolute(path));
    assert(path.size() < kPathMax);
    assert(kind_of(path) == Kind::none);
    for (std::string directory = parent_of(path); directory != "/"; directory = parent_of(directory)) {
        assert(!entries_.contains(directory));  // nothing lives below a store or a symlink
        directories_.insert(directory);
    }
    entries_.emplace(path, std::move(entry));
}

MemoryStore& MemoryCatalog::add_store(const std::string& path, std::uint64_t size_bytes, StoreOptions options) {
    const Identity identity{id_, stores_.size() + 1};
    stores_.push_back(std::make_unique<MemoryStore>(identity, size_bytes, options));
    add_name(path, Entry{stores_.back().get(), {}});
    return *stores_.back();
}

void MemoryCatalog::add_symlink(const std::string& path, const std::string& target) {
    assert(!target.empty());
    add_name(path, Entry{nullptr, target});
}

MemoryCatalog::Kind MemoryCatalog::kind_of(const std::string& path) const {
    if (directories_.contains(path)) return Kind::directory;
    const auto entry = entries_.find(path);
    if (entry == entries_.end()) return Kind::none;
    return entry->second.store ? Kind::store : Kind::symlink;
}

bool MemoryCatalog::is_directory(const std::string& canonical) const {
    return kind_of(canonical) == Kind::directory;
}

// realpath(3) over the catalogue: `resolved` holds the components found so far (all existing
// directories), `rest` what is still to walk; a symlink puts its target in front of `rest`.
Expected<std::string, int> MemoryCatalog::canonical_path(const std::string& path) const {
    if (path.empty()) return unexpected(-ENOENT);
    if (path.size() >= kPathMax) return unexpected(-ENAMETOOLONG);
    std::string resolved = "/";
    std::string pending = path;
    std::string_view rest = pending;
    int links_followed = 0;
    for (std::string_view component = take_component(rest); !component.empty();
         component = take_component(rest)) {
        if (component.size() > kNameMax) return unexpected(-ENAMETOOLONG);
        if (component == ".") continue;
        if (component == "..") {
            resolved = parent_of(resolved);
            continue;
        }
        const std::string candidate = join(resolved, component);
        switch (kind_of(candidate)) {
            case Kind::none: return unexpected(-ENOENT);
            case Kind::directory: resolved = candidate; break;
            case Kind::store:
                if (!rest.empty()) return unexpected(-ENOTDIR);  // "/vol/x" or "/vol/"
                resolved = candidate;
                break;
            case Kind::symlink: {
                if (++links_followed > kMaxSymlinks) return unexpected(-ELOOP);
                const std::string& target = entries_.at(candidate).target;
                std::string expanded = target + std::string(rest);
                if (expanded.size() >= kPathMax) return unexpected(-ENAMETOOLONG);
                if (target.front() == '/') resolved = "/";
                pending = std::move(expanded);
                rest = pending;
                break;
            }
        }
    }
    return resolved;
}

MemoryStore* MemoryCatalog::find_store(const std::string& path) const {
    const auto canonical = canonical_path(path);
    if (!canonical) return nullptr;
    const auto entry = entries_.find(*canonical);
    return entry == entries_.end() ? nullptr : entry->second.store;
}

void MemoryCatalog::crash_all(std::uint64_t seed) {
    for (const auto& store : stores_) store->crash(mix(seed, store->identity().inode));
}

}  // namespace ibnbd::storage::memory
