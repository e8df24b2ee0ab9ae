// Links between two node addresses: latency, jitter, bandwidth and the per-direction fault state.
//
// A link has two directions (0: a -> b, 1: b -> a), each with its own state: up/down, the time
// until which it is busy serialising earlier messages, an extra "clog" delay for new messages, an
// optional filter that swallows write-with-immediate messages, and its own jitter stream.
// Messages of every connection over a direction share its bandwidth.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fabric/sim/config.hpp"
#include "fabric/sim/rng.hpp"

namespace ibnbd::fabric::sim {

struct LinkDirection {
    bool up = true;
    Nanos busy_until = 0;
    Nanos clog = 0;
    Rng jitter_stream;
    std::function<bool(std::uint32_t)> imm_filter;

    bool swallows_imm(std::uint32_t imm) const { return imm_filter && imm_filter(imm); }
};

class Link {
public:
    Link(std::uint32_t index, std::string a, std::string b, LinkConfig config, std::uint64_t seed);

    std::uint32_t index() const { return index_; }
    const std::string& a() const { return a_; }
    const std::string& b() const { return b_; }
    const LinkConfig& config() const { return config_; }

    // Direction index of messages sent from address `from` (which must be a or b).
    std::uint8_t direction_from(std::string_view from) const;
    LinkDirection& direction(std::uint8_t index) { return directions_[index]; }
    const LinkDirection& direction(std::uint8_t index) const { return directions_[index]; }

    // Arrival time of a `bytes`-long message handed to direction `index` at `now`: it waits until
    // the direction is free, occupies it for bytes / bandwidth, then takes latency + clog + jitter.
    Nanos transmit(std::uint8_t index, Nanos now, std::uint64_t bytes);
    // Arrival time of a message too small to occupy the direction (acknowledgements, CM).
    Nanos propagate(std::uint8_t index, Nanos now);

private:
    Nanos flight_time(LinkDirection& direction);

    std::uint32_t index_;
    std::string a_;
    std::string b_;
    LinkConfig config_;
    LinkDirection directions_[2];
};

class LinkTable {
public:
    // Adds the link between addresses a and b; there must be none yet.
    Link& add(std::string a, std::string b, LinkConfig config, std::uint64_t seed);
    // The link between a and b in either order, or nullptr.
    Link* find(std::string_view a, std::string_view b) const;
    Link& at(std::uint32_t index) const { return *links_[index]; }
    std::size_t size() const { return links_.size(); }

    // Calls visit(link, direction index) for the direction(s) of the link between a and b that
    // `which` selects, a_to_b meaning from `a` to `b` as passed here. Returns false (and visits
    // nothing) when there is no such link.
    template <class Visit>
    bool for_each_direction(std::string_view a, std::string_view b, Direction which, Visit visit) {
        Link* link = find(a, b);
        if (link == nullptr) return false;
        const std::uint8_t forward = link->direction_from(a);
        if (which != Direction::b_to_a) visit(*link, forward);
        if (which != Direction::a_to_b) visit(*link, static_cast<std::uint8_t>(1 - forward));
        return true;
    }

private:
    static std::pair<std::string, std::string> key(std::string_view a, std::string_view b);

    std::vector<std::unique_ptr<Link>> links_;
    std::map<std::pair<std::string, std::string>, Link*> by_addresses_;
};

}  // namespace ibnbd::fabric::sim
