#include "sim-scenarios/runner/spec.hpp"

#include <array>

namespace ibnbd::scenario {

namespace {

constexpr std::array<std::pair<FaultType, std::string_view>, 12> kFaultNames{{
    {FaultType::link_down, "link_down"},
    {FaultType::clog, "clog"},
    {FaultType::swizzle_clog, "swizzle_clog"},
    {FaultType::flap, "flap"},
    {FaultType::connection_error, "connection_error"},
    {FaultType::heartbeat_loss, "heartbeat_loss"},
    {FaultType::crash, "crash"},
    {FaultType::storage_error, "storage_error"},
    {FaultType::storage_latency, "storage_latency"},
    {FaultType::cm_reject, "cm_reject"},
    {FaultType::cm_delay, "cm_delay"},
    {FaultType::rogue_client, "rogue_client"},
}};

}  // namespace

bool workload_matches(const WorkloadSpec& workload, std::string_view client, std::string_view server,
                      std::string_view device) {
    if (workload.client != "*" && workload.client != client) return false;
    if (workload.device == "*" || workload.device == device) return true;
    const std::string_view name = workload.device;
    return name.size() == server.size() + 1 + device.size() && name.substr(0, server.size()) == server &&
           name[server.size()] == '/' && name.substr(server.size() + 1) == device;
}

std::string_view to_string(FaultType type) {
    for (const auto& [value, name] : kFaultNames) {
        if (value == type) return name;
    }
    return "?";
}

std::optional<FaultType> parse_fault_type(std::string_view text) {
    for (const auto& [value, name] : kFaultNames) {
        if (name == text) return value;
    }
    return std::nullopt;
}

std::string_view to_string(RogueMode mode) {
    switch (mode) {
        case RogueMode::handshake: return "handshake";
        case RogueMode::requests: return "requests";
        case RogueMode::mixed: return "mixed";
        case RogueMode::keys: return "keys";
    }
    return "?";
}

}  // namespace ibnbd::scenario
