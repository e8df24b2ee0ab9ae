// faults: the fault timeline. Each entry is {at, fault, ...keys of that fault type}; a key that
// the fault type does not use is an unknown key.
#include <cerrno>
#include <charconv>
#include <fmt/core.h>

#include "sim-scenarios/runner/parse_parts.hpp"

namespace ibnbd::scenario::detail {

bool parse_errno(const std::string& text, int& out) {
    static constexpr std::pair<const char*, int> names[] = {
        {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EROFS", EROFS}, {"ENOMEM", ENOMEM}, {"EINVAL", EINVAL},
        {"EAGAIN", EAGAIN}, {"ETIMEDOUT", ETIMEDOUT}, {"ENODEV", ENODEV}, {"EBUSY", EBUSY},
    };
    for (const auto& [name, value] : names) {
        if (text == name) {
            out = value;
            return true;
        }
    }
    int value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || value <= 0 || value > 511) return false;
    out = value;
    return true;
}

namespace {

void parse_direction(MapReader& map, FaultSpec& fault) {
    map.custom("direction", "a direction (both, to_server, to_client)", [&](const std::string& text) {
        if (text == "both") fault.direction = fabric::sim::Direction::both;
        else if (text == "to_server") fault.direction = fabric::sim::Direction::a_to_b;
        else if (text == "to_client") fault.direction = fabric::sim::Direction::b_to_a;
        else return false;
        return true;
    });
}

void require(MapReader& map, std::string_view key, std::string_view what) {
    if (!map.has(key)) map.error(key, fmt::format("a {} fault needs '{}'", what, key));
}

// The keys of each fault type beyond at/fault/duration.
void parse_type_keys(MapReader& map, FaultSpec& fault) {
    const std::string type(to_string(fault.type));
    switch (fault.type) {
        case FaultType::link_down:
        case FaultType::connection_error:
        case FaultType::heartbeat_loss:
            require(map, "path", type);
            map.string("path", fault.target);
            if (fault.type != FaultType::connection_error) parse_direction(map, fault);
            return;
        case FaultType::clog:
        case FaultType::swizzle_clog:
            require(map, "path", type);
            require(map, "delay", type);
            map.string("path", fault.target);
            map.duration("delay", fault.delay);
            parse_direction(map, fault);
            return;
        case FaultType::flap:
            require(map, "path", type);
            require(map, "period", type);
            map.string("path", fault.target);
            map.duration("period", fault.period);
            parse_direction(map, fault);
            if (fault.period < 2) map.error("period", "must be at least 2ns");
            return;
        case FaultType::crash:
        case FaultType::cm_reject:
            require(map, "server", type);
            map.string("server", fault.target);
            if (fault.type == FaultType::cm_reject) {
                fault.count = 1;
                map.u32("count", fault.count, 1, 1'000'000);
            }
            return;
        case FaultType::storage_error:
            require(map, "device", type);
            map.string("device", fault.target);
            map.custom("error", "an errno (EIO, ENOSPC, ... or 1..511)",
                       [&](const std::string& text) { return parse_errno(text, fault.error); });
            map.u32("count", fault.count, 1, UINT32_MAX - 1);
            map.custom("op", "read, write or flush", [&](const std::string& text) {
                fault.op = text;
                return text == "read" || text == "write" || text == "flush";
            });
            return;
        case FaultType::storage_latency:
            require(map, "device", type);
            require(map, "latency", type);
            map.string("device", fault.target);
            map.duration("latency", fault.delay);
            map.duration("jitter", fault.jitter);
            return;
        case FaultType::cm_delay:
            require(map, "delay", type);
            map.duration("delay", fault.delay);
            return;
        case FaultType::rogue_client:
            require(map, "server", type);
            map.string("server", fault.target);
            fault.period = 2 * kMs;
            map.duration("period", fault.period);
            map.custom("mode", "a rogue mode (handshake, requests, mixed, keys)", [&](const std::string& text) {
                if (text == "handshake") fault.rogue = RogueMode::handshake;
                else if (text == "requests") fault.rogue = RogueMode::requests;
                else if (text == "mixed") fault.rogue = RogueMode::mixed;
                else if (text == "keys") fault.rogue = RogueMode::keys;
                else return false;
                return true;
            });
            if (fault.period == 0) map.error("period", "must be positive");
            return;
    }
}

}  // namespace

void parse_faults(const YAML::Node& node, ParseErrors& errors, std::vector<FaultSpec>& out) {
    for_each_item(node, "faults", errors, [&](const YAML::Node& item, const std::string& path) {
        MapReader map(item, path, errors);
        FaultSpec fault;
        fault.line = map.line();
        if (!map.has("at")) map.error("at", "every fault needs 'at' (its virtual time)");
        map.duration("at", fault.at);
        map.duration("duration", fault.duration);
        std::string type;
        if (!map.has("fault")) {
            map.error("fault", "every fault needs 'fault' (its type)");
            return;
        }
        const bool known = map.custom("fault", "a fault type", [&](const std::string& text) {
            const auto parsed = parse_fault_type(text);
            if (parsed) fault.type = *parsed;
            return parsed.has_value();
        });
        if (!known) {
            for (const auto& entry : item) (void)map.child(entry.first.Scalar());  // one error is enough
            return;
        }
        parse_type_keys(map, fault);
        out.push_back(std::move(fault));
    });
}

}  // namespace ibnbd::scenario::detail
