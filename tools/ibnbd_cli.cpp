// ibnbd: the command-line tool of the ibnbd client daemon (verbs after the rnbd tool).
// Exit codes: 0 done; 1 the daemon refused (the message says why and what to do); 2 bad
// arguments; 3 the daemon is not reachable.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/daemon/path_text.hpp"

namespace {

using ibnbd::daemon::Json;

// "4096", "512K", "10G", "1.5T" (binary units); false on anything else or on overflow.
bool parse_size(const std::string& text, std::uint64_t& bytes) {
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        return false;
    }
    const std::string unit = text.substr(used);
    const std::string units = "KMGTP";
    double scale = 1;
    if (unit.size() > 1 && !(unit.size() == 3 && unit.substr(1) == "iB")) return false;
    if (!unit.empty()) {
        const auto at = units.find(static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0]))));
        if (at == std::string::npos) return false;
        for (std::size_t i = 0; i <= at; ++i) scale *= 1024;
    }
    const double total = value * scale;
    if (!(total >= 1) || total > 9.0e18) return false;
    bytes = static_cast<std::uint64_t>(total);
    return true;
}

std::string human_size(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) value /= 1024, ++unit;
    return fmt::format("{:.1f} {}", value, units[unit]);
}

void print_device(const Json& d) {
    const std::string where = d.contains("ublk_device") ? d.value("ublk_device", "") : d.value("nbd_uri", "");
    fmt::print("{:<12} {:<20} {:<20} {:<4} {:>10}  {}\n", d.value("session", ""), d.value("device", ""),
               d.value("state", ""), d.value("access_mode", ""), human_size(d.value("size", 0ull)), where);
    if (d.contains("ublk_device") && d.contains("nbd_uri")) fmt::print("{:<12} {:<20} also {}\n", "", "", d.value("nbd_uri", ""));
}

void print_human(const std::string& command, const Json& response) {
    if (command == "list") {
        fmt::print("{:<12} {:<20} {:<20} {:<4} {:>10}  {}\n", "SESSION", "DEVICE", "STATE", "MODE", "SIZE", "EXPORT");
        for (const auto& d : response["devices"]) print_device(d);
    } else if (command == "map" || command == "show") {
        print_device(response);
        if (response.contains("nbd_tcp_uri")) fmt::print("{:<12} {:<20} also {}\n", "", "", response.value("nbd_tcp_uri", ""));
    } else if (command == "stats") {
        fmt::print("session {}  policy {}  queue depth {}  connected paths {}  failovers {}\n",
                   response.value("session", ""), response.value("mp_policy", ""), response.value("queue_depth", 0),
                   response.value("connected_paths", 0), response.value("failovers", 0));
        fmt::print("{:<3} {:<30} {:<13} {:>9} {:>9} {:>8} {:>10} {:>9} {:>12}\n", "#", "PATH", "STATE", "READS",
                   "WRITES", "INFLIGHT", "FAILOVERED", "RECONN", "LATENCY_US");
        for (const auto& p : response["paths"]) {
            fmt::print("{:<3} {:<30} {:<13} {:>9} {:>9} {:>8} {:>10} {:>4}/{:<4} {:>12.1f}\n", p.value("index", 0),
                       p.value("path", ""), p.value("state", ""), p.value("read_count", 0ull),
                       p.value("write_count", 0ull), p.value("inflight", 0), p.value("failovered", 0ull),
                       p.value("reconnects_ok", 0ull), p.value("reconnects_failed", 0ull),
                       p.value("cur_latency_ns", 0ull) / 1000.0);
        }
    } else {
        fmt::print("ok\n");
    }
}

// The daemon takes IP addresses only (path_text.hpp): host names in a --path are resolved here.
bool resolve_names(std::string& path) {
    if (path.empty()) return true;
    auto resolved = ibnbd::daemon::resolve_path_names(path);
    if (!resolved) {
        fmt::print(stderr, "ibnbd: bad --path '{}': {}; use [SRC@]DST[:PORT]\n", path, resolved.error());
        return false;
    }
    path = *resolved;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"ibnbd: map and manage IBNBD devices through the ibnbd-client daemon"};
    app.require_subcommand(1);
    std::string control = std::getenv("IBNBD_CONTROL") ? std::getenv("IBNBD_CONTROL") : "/run/ibnbd/client.sock";
    bool json = false;
    app.add_option("--control-socket", control, "the daemon's socket (default $IBNBD_CONTROL or /run/ibnbd/client.sock)");
    app.add_flag("--json", json, "print the daemon's JSON answer");
    Json request;
    std::string session, device, access = "rw", nbd_socket, nbd_tcp, export_kind, path, policy;
    std::vector<std::string> paths;
    bool force = false, ublk = false;

    auto* map = app.add_subcommand("map", "map a device and export it (ublk block device and/or NBD)");
    map->add_option("--session", session, "session name (no '/' or '.')")->required();
    map->add_option("--path", paths, "[SRC@]DST[:PORT] (repeatable; needed when the session is new)");
    map->add_option("--device", device, "device name under the server's --dev-search-path")->required();
    map->add_option("--access-mode", access, "ro, rw or migration")->check(CLI::IsMember({"ro", "rw", "migration"}));
    map->add_option("--nbd-socket", nbd_socket, "where to export it (default: the daemon's --nbd-dir)");
    map->add_option("--nbd-tcp", nbd_tcp, "also export over NBD on TCP at 127.x.y.z[:PORT] (loopback only; 0: any port)");
    map->add_option("--export", export_kind, "nbd, ublk (/dev/ublkbN) or both (default: the daemon's --export)")
        ->check(CLI::IsMember({"nbd", "ublk", "both"}));
    map->add_flag("--ublk", ublk, "export as a ublk block device /dev/ublkbN (same as --export ublk)");
    auto* unmap = app.add_subcommand(
        "unmap", "unmap a device (refused while in use: NBD connections, /dev/ublkbN open or mounted; unless --force)");
    unmap->add_option("--session", session)->required();
    unmap->add_option("--device", device)->required();
    unmap->add_flag("--force", force, "fail in-flight IO, close NBD connections, delete the ublk device even while open");
    app.add_subcommand("list", "list mapped devices");
    auto* show = app.add_subcommand("show", "show one mapped device");
    show->add_option("--session", session)->required();
    show->add_option("--device", device)->required();
    std::string size_text;
    auto* resize = app.add_subcommand("resize", "change a mapped device's local capacity (e.g. after the server's grew)");
    resize->add_option("--session", session)->required();
    resize->add_option("--device", device)->required();
    resize->add_option("--size", size_text, "new size: bytes or with K, M, G, T (binary), e.g. 10G")->required();
    auto* remap = app.add_subcommand("remap", "re-open a device whose session lost its server");
    remap->add_option("--session", session)->required();
    remap->add_option("--device", device)->required();
    auto* path_cmd = app.add_subcommand("path", "add, delete, readd (reconnect) or disconnect (close, stay closed) a path");
    path_cmd->require_subcommand(1);
    for (const char* verb : {"add", "delete", "readd", "disconnect"}) {
        auto* sub = path_cmd->add_subcommand(verb);
        sub->add_option("--session", session)->required();
        sub->add_option("--path", path, "[SRC@]DST[:PORT]")->required();
    }
    auto* session_cmd = app.add_subcommand("session", "session operations");
    auto* reconnect = session_cmd->add_subcommand("reconnect", "reconnect every path now");
    reconnect->add_option("--session", session)->required();
    session_cmd->require_subcommand(1);
    auto* policy_cmd = app.add_subcommand("policy", "multipath policy");
    auto* policy_set = policy_cmd->add_subcommand("set");
    policy_set->add_option("--session", session)->required();
    policy_set->add_option("policy", policy, "round-robin, min-inflight or min-latency")
        ->required()
        ->check(CLI::IsMember({"round-robin", "min-inflight", "min-latency"}));
    policy_cmd->require_subcommand(1);
    auto* stats = app.add_subcommand("stats", "per-path statistics of a session");
    stats->add_option("--session", session)->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int code = app.exit(error);
        return code == 0 ? 0 : 2;
    }

    std::string command = app.get_subcommands().front()->get_name();
    if (command == "path") command += "_" + path_cmd->get_subcommands().front()->get_name();
    if (command == "session") command = "session_reconnect";
    if (command == "policy") command = "policy_set";
    request = {{"cmd", command}, {"session", session}, {"device", device}};
    if (!resolve_names(path) || !std::all_of(paths.begin(), paths.end(), resolve_names)) return 2;
    if (command == "map") {
        request["paths"] = paths;
        request["access_mode"] = access;
        if (!nbd_socket.empty()) request["nbd_socket"] = nbd_socket;
        if (!nbd_tcp.empty()) request["nbd_tcp"] = nbd_tcp;
        if (ublk && !export_kind.empty() && export_kind != "ublk") {
            fmt::print(stderr, "ibnbd: --ublk and --export {} contradict each other\n", export_kind);
            return 2;
        }
        if (ublk) export_kind = "ublk";
        if (!export_kind.empty()) request["export"] = export_kind;
    }
    if (command == "unmap") request["force"] = force;
    if (command == "resize") {
        std::uint64_t bytes = 0;
        if (!parse_size(size_text, bytes)) {
            fmt::print(stderr, "ibnbd: --size '{}' is not a size (bytes, or a number with K, M, G or T)\n", size_text);
            return 2;
        }
        request["size"] = bytes;
    }
    if (command.rfind("path_", 0) == 0) request["path"] = path;
    if (command == "policy_set") request["policy"] = policy;

    auto response = ibnbd::daemon::control_call(control, request, 60000);
    if (!response) {
        fmt::print(stderr, "ibnbd: cannot reach the daemon at {} ({}); is ibnbd-client running?\n", control,
                   std::strerror(-response.error()));
        return 3;
    }
    if (json) fmt::print("{}\n", response->dump(2));
    if (!response->value("ok", false)) {
        if (!json) fmt::print(stderr, "ibnbd: {}\n", response->value("error", "failed"));
        return 1;
    }
    if (!json) print_human(command == "resize" ? "show" : command, *response);
    return 0;
}
