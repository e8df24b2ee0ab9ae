// topology: servers with devices, clients with sessions and paths.
#include <fmt/core.h>

#include "sim-scenarios/runner/parse_parts.hpp"

namespace ibnbd::scenario::detail {

void parse_link(MapReader& map, LinkSpec& out) {
    map.duration("latency", out.latency);
    map.duration("jitter", out.jitter);
    map.bandwidth("bandwidth", out.bandwidth);
}

namespace {

// NAME with "{i}" replaced by `index`, or NAME followed by `index` when it has no "{i}".
std::string numbered(const std::string& name, std::uint32_t index) {
    const auto at = name.find("{i}");
    if (at == std::string::npos) return name + std::to_string(index);
    return name.substr(0, at) + std::to_string(index) + name.substr(at + 3);
}

std::string substitute(const std::string& text, std::uint32_t index) {
    const auto at = text.find("{i}");
    return at == std::string::npos ? text : text.substr(0, at) + std::to_string(index) + text.substr(at + 3);
}

void parse_devices(const YAML::Node& node, const std::string& path, ParseErrors& errors,
                   std::vector<DeviceSpec>& out) {
    for_each_item(node, path, errors, [&](const YAML::Node& item, const std::string& item_path) {
        MapReader map(item, item_path, errors);
        DeviceSpec device;
        device.line = map.line();
        if (!map.string("name", device.name) || device.name.empty()) map.error("name", "every device needs a name");
        if (map.size("size", device.size) && (device.size < 65536 || device.size % 4096 != 0)) {
            map.error("size", "must be a multiple of 4KiB, at least 64KiB");
        }
        map.duration("latency", device.latency);
        map.duration("jitter", device.jitter);
        std::uint32_t count = 0;
        map.u32("count", count, 1, 4096);
        if (count == 0) return out.push_back(std::move(device));
        for (std::uint32_t i = 0; i < count; ++i) {
            DeviceSpec copy = device;
            copy.name = numbered(device.name, i);
            out.push_back(std::move(copy));
        }
    });
}

void parse_session(const YAML::Node& item, const std::string& path, ParseErrors& errors, SessionSpec& session) {
    MapReader map(item, path, errors);
    session.line = map.line();
    map.string("server", session.server);
    if (session.server.empty()) map.error("server", "every session names its server");
    map.string("label", session.label);
    if (session.label.empty()) session.label = session.server;
    LinkSpec link;
    if (const YAML::Node shared = map.child("link"); shared.IsDefined()) {
        MapReader link_map(shared, map.key_path("link"), errors);
        parse_link(link_map, link);
    }
    const YAML::Node paths = map.child("paths");
    if (paths.IsScalar()) {
        std::uint32_t count = 1;
        if (map.u32("paths", count, 1, 128)) session.paths.assign(count, link);
    } else if (paths.IsSequence()) {
        for_each_item(paths, map.key_path("paths"), errors, [&](const YAML::Node& p, const std::string& p_path) {
            MapReader link_map(p, p_path, errors);
            LinkSpec own = link;
            parse_link(link_map, own);
            session.paths.push_back(own);
        });
    } else if (paths.IsDefined()) {
        map.error("paths", "expected a number of paths or a list of links");
    } else {
        session.paths.assign(1, link);
    }
    const YAML::Node devices = map.child("devices");
    for_each_item(devices, map.key_path("devices"), errors, [&](const YAML::Node& d, const std::string& d_path) {
        if (!d.IsScalar()) return errors.add(d, d_path, "expected a device name");
        session.devices.push_back(d.Scalar());
    });
}

void parse_client(const YAML::Node& item, const std::string& path, ParseErrors& errors,
                  std::vector<ClientSpec>& out) {
    MapReader map(item, path, errors);
    ClientSpec client;
    client.line = map.line();
    if (!map.string("name", client.name) || client.name.empty()) map.error("name", "every client needs a name");
    std::uint32_t count = 0;
    map.u32("count", count, 1, 4096);
    for_each_item(map.child("sessions"), map.key_path("sessions"), errors,
                  [&](const YAML::Node& s, const std::string& s_path) {
                      SessionSpec session;
                      parse_session(s, s_path, errors, session);
                      client.sessions.push_back(std::move(session));
                  });
    if (client.sessions.empty()) map.error("sessions", "every client needs at least one session");
    if (count == 0) {
        out.push_back(std::move(client));
        return;
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        ClientSpec copy = client;
        copy.name = numbered(client.name, i);
        for (auto& session : copy.sessions) {
            session.label = substitute(session.label, i);
            for (auto& device : session.devices) device = substitute(device, i);
        }
        out.push_back(std::move(copy));
    }
}

}  // namespace

void parse_topology(const YAML::Node& node, ParseErrors& errors, Topology& out) {
    if (!node.IsDefined()) return;
    MapReader map(node, "topology", errors);
    for_each_item(map.child("servers"), "topology.servers", errors, [&](const YAML::Node& item, const std::string& path) {
        MapReader server_map(item, path, errors);
        ServerSpec server;
        server.line = server_map.line();
        if (!server_map.string("name", server.name) || server.name.empty()) {
            server_map.error("name", "every server needs a name");
        }
        parse_devices(server_map.child("devices"), server_map.key_path("devices"), errors, server.devices);
        out.servers.push_back(std::move(server));
    });
    for_each_item(map.child("clients"), "topology.clients", errors, [&](const YAML::Node& item, const std::string& path) {
        parse_client(item, path, errors, out.clients);
    });
}

}  // namespace ibnbd::scenario::detail
