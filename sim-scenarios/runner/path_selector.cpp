#include "sim-scenarios/runner/path_selector.hpp"

#include <fmt/core.h>

namespace ibnbd::scenario {

namespace {

std::vector<std::string_view> split(std::string_view text) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t slash = text.find('/', start);
        parts.push_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
        if (slash == std::string_view::npos) return parts;
        start = slash + 1;
    }
}

bool part_matches(std::string_view part, std::string_view name, std::uint32_t index) {
    return part == "*" || part == name || part == std::to_string(index);
}

}  // namespace

std::vector<PathRef> all_paths(const Topology& topology) {
    std::vector<PathRef> paths;
    for (std::uint32_t c = 0; c < topology.clients.size(); ++c) {
        const auto& sessions = topology.clients[c].sessions;
        for (std::uint32_t s = 0; s < sessions.size(); ++s) {
            for (std::uint32_t p = 0; p < sessions[s].paths.size(); ++p) paths.push_back({c, s, p});
        }
    }
    return paths;
}

std::vector<PathRef> select_paths(const Topology& topology, std::string_view selector) {
    auto parts = split(selector);
    if (parts.size() == 1) parts = {parts[0], "*", "*"};
    else if (parts.size() == 2) parts = {parts[0], "*", parts[1]};
    if (parts.size() != 3) return {};
    std::vector<PathRef> selected;
    for (const PathRef& ref : all_paths(topology)) {
        const ClientSpec& client = topology.clients[ref.client];
        if (part_matches(parts[0], client.name, ref.client) &&
            part_matches(parts[1], client.sessions[ref.session].label, ref.session) &&
            (parts[2] == "*" || parts[2] == std::to_string(ref.path))) {
            selected.push_back(ref);
        }
    }
    return selected;
}

std::string path_name(const Topology& topology, const PathRef& ref) {
    const ClientSpec& client = topology.clients[ref.client];
    return fmt::format("{}/{}/{}", client.name, client.sessions[ref.session].label, ref.path);
}

const SessionSpec& session_of(const Topology& topology, const PathRef& ref) {
    return topology.clients[ref.client].sessions[ref.session];
}

}  // namespace ibnbd::scenario
