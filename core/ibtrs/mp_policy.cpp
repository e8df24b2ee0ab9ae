#include "core/ibtrs/mp_policy.hpp"

namespace ibnbd::ibtrs {

namespace {

bool usable(std::span<const PathView> paths, const PathSet& excluded, std::size_t index) {
    return paths[index].connected && !excluded.test(index);
}

// The usable path with the smallest key; ties go to the lowest index, for determinism.
template <class Key>
std::optional<std::uint32_t> min_by(std::span<const PathView> paths, const PathSet& excluded, Key key) {
    std::optional<std::uint32_t> best;
    for (std::size_t i = 0; i < paths.size(); ++i) {
        if (!usable(paths, excluded, i)) continue;
        if (!best || key(paths[i]) < key(paths[*best])) best = static_cast<std::uint32_t>(i);
    }
    return best;
}

}  // namespace

std::optional<std::uint32_t> PathSelector::choose(MpPolicy policy, std::span<const PathView> paths,
                                                  const PathSet& excluded) {
    switch (policy) {
        case MpPolicy::round_robin:
            for (std::size_t step = 1; step <= paths.size(); ++step) {
                const auto index = static_cast<std::uint32_t>((rr_cursor_ + step) % paths.size());
                if (usable(paths, excluded, index)) {
                    rr_cursor_ = index;
                    return index;
                }
            }
            return std::nullopt;
        case MpPolicy::min_inflight:
            return min_by(paths, excluded, [](const PathView& p) { return p.inflight; });
        case MpPolicy::min_latency:
            return min_by(paths, excluded, [](const PathView& p) { return p.latency; });
    }
    return std::nullopt;
}

}  // namespace ibnbd::ibtrs
