#include "ibnbd/server/device_resolver.hpp"

#include <cerrno>

namespace ibnbd::block {

namespace {
constexpr std::string_view kSessionMarker = "%SESSNAME%";
}

std::string collapse_slashes(std::string_view path) {
    std::string result;
    result.reserve(path.size());
    for (const char c : path) {
        if (c == '/' && !result.empty() && result.back() == '/') continue;
        result.push_back(c);
    }
    return result;
}

std::string DeviceResolver::root_of(std::string_view session) const {
    const auto marker = search_path_.find(kSessionMarker);
    if (marker == std::string::npos) return collapse_slashes(search_path_);
    return collapse_slashes(search_path_.substr(0, marker) + "/" + std::string(session));
}

Expected<std::string, int> DeviceResolver::resolve(std::string_view session, std::string_view dev_name) const {
    if (dev_name.empty() || dev_name.find("..") != std::string_view::npos) return unexpected(-EINVAL);
    const std::string root = root_of(session);
    if (root.size() + 1 + dev_name.size() >= kPathMax) return unexpected(-ENAMETOOLONG);
    const std::string full = collapse_slashes(root + "/" + std::string(dev_name));
    auto canonical_root = backend_.canonical_path(root);
    if (!canonical_root) return unexpected(canonical_root.error());
    auto canonical = backend_.canonical_path(full);
    if (!canonical) return unexpected(canonical.error());
    const std::string& base = *canonical_root;
    const bool inside = base == "/" ? !canonical->empty() && canonical->front() == '/'
                                    : canonical->size() > base.size() && canonical->compare(0, base.size(), base) == 0 &&
                                          (*canonical)[base.size()] == '/';
    if (!inside) return unexpected(-EACCES);
    return std::move(canonical.value());
}

}  // namespace ibnbd::block
