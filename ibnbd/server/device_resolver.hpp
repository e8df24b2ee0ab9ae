// Device name resolution on the server (docs/protocol.md §3.9): a client's dev_name is looked up under
// dev_search_path, optionally namespaced per session with %SESSNAME%, and must stay inside the
// search root after every symlink is followed.
//
//   search path "/srv/vols"                  + "sda1" → /srv/vols/sda1
//   search path "/run/ibnbd-guid/%SESSNAME%" + "sda1" → /run/ibnbd-guid/<session>/sda1
//     (as in the kernel, anything after %SESSNAME% in the search path is ignored)
//
// ERRORS
//   -EINVAL        the name is empty or contains ".." as a path component or substring
//   -ENAMETOOLONG  search path + name do not fit PATH_MAX (4096)
//   -EACCES        the name resolves (through symlinks) outside the search root
//   -ENOENT etc.   from the backend's canonical_path()
#pragma once

#include <string>
#include <string_view>

#include "ibnbd/storage/device.hpp"

namespace ibnbd::block {

inline constexpr std::size_t kPathMax = 4096;

class DeviceResolver {
public:
    DeviceResolver(storage::Backend& backend, std::string dev_search_path)
        : backend_(backend), search_path_(std::move(dev_search_path)) {}

    // The search root of a session: the search path with %SESSNAME% expanded.
    std::string root_of(std::string_view session) const;
    // The canonical path of `dev_name` for `session`, or a negative errno (see above).
    Expected<std::string, int> resolve(std::string_view session, std::string_view dev_name) const;

    const std::string& search_path() const { return search_path_; }

private:
    storage::Backend& backend_;
    std::string search_path_;
};

// Collapses repeated '/' (the kernel does this before opening).
std::string collapse_slashes(std::string_view path);

}  // namespace ibnbd::block
