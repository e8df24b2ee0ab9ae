// Multipath path choice (docs/protocol.md §1.13). Pure functions over a view of the paths, so that the
// policies are tested without sessions and the session's hot path allocates nothing.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <span>

#include "core/ibtrs/types.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

inline constexpr std::size_t kMaxPathsPerSession = 128;
using PathSet = std::bitset<kMaxPathsPerSession>;

struct PathView {
    bool connected = false;
    std::uint32_t inflight = 0;
    fabric::Nanos latency = 0;
};

class PathSelector {
public:
    // The path for the next request, skipping `excluded` (paths already tried for it) and paths
    // that are not connected; nullopt when none is left. Round-robin advances its cursor.
    std::optional<std::uint32_t> choose(MpPolicy policy, std::span<const PathView> paths,
                                        const PathSet& excluded);

private:
    std::uint32_t rr_cursor_ = 0;
};

}  // namespace ibnbd::ibtrs
