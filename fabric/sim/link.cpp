#include "fabric/sim/link.hpp"

#include <algorithm>
#include <cassert>

namespace ibnbd::fabric::sim {

Link::Link(std::uint32_t index, std::string a, std::string b, LinkConfig config, std::uint64_t seed)
    : index_(index), a_(std::move(a)), b_(std::move(b)), config_(config) {
    for (std::uint8_t d = 0; d < 2; ++d) {
        directions_[d].jitter_stream =
            derive_stream(seed, StreamPurpose::link_jitter, std::uint64_t{index_} * 2 + d);
    }
}

std::uint8_t Link::direction_from(std::string_view from) const {
    assert(from == a_ || from == b_);
    return from == a_ ? 0 : 1;
}

Nanos Link::flight_time(LinkDirection& direction) {
    const Nanos jitter = direction.jitter_stream.below(config_.jitter + 1);
    return config_.latency + direction.clog + jitter;
}

Nanos Link::transmit(std::uint8_t index, Nanos now, std::uint64_t bytes) {
    LinkDirection& direction = directions_[index];
    Nanos sent = now;
    if (config_.bandwidth_bytes_per_sec != 0 && bytes != 0) {
        const Nanos start = std::max(now, direction.busy_until);
        const auto scaled = static_cast<unsigned __int128>(bytes) * 1'000'000'000u;
        const auto rate = config_.bandwidth_bytes_per_sec;
        const auto duration = static_cast<Nanos>((scaled + rate - 1) / rate);  // rounded up
        direction.busy_until = start + duration;
        sent = direction.busy_until;
    }
    return sent + flight_time(direction);
}

Nanos Link::propagate(std::uint8_t index, Nanos now) { return now + flight_time(directions_[index]); }

std::pair<std::string, std::string> LinkTable::key(std::string_view a, std::string_view b) {
    if (b < a) std::swap(a, b);
    return {std::string(a), std::string(b)};
}

Link& LinkTable::add(std::string a, std::string b, LinkConfig config, std::uint64_t seed) {
    assert(find(a, b) == nullptr && "one link per address pair");
    const auto index = static_cast<std::uint32_t>(links_.size());
    auto link_key = key(a, b);
    links_.push_back(std::make_unique<Link>(index, std::move(a), std::move(b), config, seed));
    by_addresses_.emplace(std::move(link_key), links_.back().get());
    return *links_.back();
}

Link* LinkTable::find(std::string_view a, std::string_view b) const {
    const auto found = by_addresses_.find(key(a, b));
    return found == by_addresses_.end() ? nullptr : found->second;
}

}  // namespace ibnbd::fabric::sim
