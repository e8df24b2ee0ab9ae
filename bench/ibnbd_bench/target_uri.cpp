#include "bench/ibnbd_bench/target_uri.hpp"

#include <charconv>

#include "fabric/fabric.hpp"

namespace ibnbd::bench {

namespace {

using Error = Unexpected<std::string>;

Error fail(std::string text) { return unexpected(std::move(text)); }

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Splits "a=1&b=2" into pairs; false on an element without '='.
bool split_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0) return false;
        out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return true;
}

// The kernel's rules for session names (docs/protocol.md §1.2): 1-254 bytes, no '/' and no '.'.
bool valid_session(std::string_view name) {
    return !name.empty() && name.size() <= 254 && name.find_first_of("/.") == std::string_view::npos;
}

bool valid_device(std::string_view name) {
    if (name.empty() || name.size() > 255 || name.front() == '/') return false;
    // ".." anywhere as a component would escape the server's search path; it refuses it too.
    std::size_t start = 0;
    while (start <= name.size()) {
        const auto slash = name.find('/', start);
        const auto part = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty() || part == "..") return false;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return true;
}

Expected<Target, std::string> parse_ibnbd(std::string_view rest) {
    const auto question = rest.find('?');
    const std::string_view location = rest.substr(0, question);
    const auto slash = location.find('/');
    if (slash == std::string_view::npos) return fail("ibnbd:// target needs SESSION/DEVICE, e.g. ibnbd://s1/vol0?path=127.0.0.1");
    IbnbdTarget target{std::string(location.substr(0, slash)), std::string(location.substr(slash + 1)), {}};
    if (!valid_session(target.session)) {
        return fail("bad session name '" + target.session + "' (1-254 characters without '/' or '.')");
    }
    if (!valid_device(target.device)) {
        return fail("bad device name '" + target.device + "' (a relative name under the server's search path, no '..')");
    }
    std::vector<std::pair<std::string, std::string>> query;
    if (question != std::string_view::npos && !split_query(rest.substr(question + 1), query)) {
        return fail("bad query in ibnbd:// target (expected path=[SRC@]DST[:PORT][&path=...])");
    }
    for (const auto& [key, value] : query) {
        if (key != "path") return fail("unknown ibnbd:// parameter '" + key + "' (only path=)");
        auto path = parse_ibnbd_path(value);
        if (!path) return fail(path.error());
        target.paths.push_back(*path);
    }
    if (target.paths.empty()) return fail("ibnbd:// target needs at least one path=[SRC@]DST[:PORT]");
    if (target.paths.size() > 128) return fail("at most 128 paths per session");
    return Target{std::move(target)};
}

Expected<Target, std::string> parse_nbd_tcp(std::string_view uri, std::string_view rest) {
    NbdTarget target;
    target.uri = std::string(uri);
    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    if (rest.find('?') != std::string_view::npos) return fail("nbd:// target takes no query parameters");
    target.export_name = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
    auto address = fabric::Address::parse(authority, 10809);
    if (!address || address->port == 0) {
        return fail("bad host in nbd:// target '" + std::string(authority) + "' (nbd://HOST[:PORT]/EXPORT)");
    }
    target.host = address->host;
    target.port = address->port;
    return Target{std::move(target)};
}

Expected<Target, std::string> parse_nbd_unix(std::string_view uri, std::string_view rest) {
    NbdTarget target;
    target.uri = std::string(uri);
    target.unix_socket = true;
    if (!starts_with(rest, "/")) return fail("nbd+unix:// target has no host: nbd+unix:///EXPORT?socket=PATH");
    const auto question = rest.find('?');
    target.export_name = std::string(rest.substr(1, question == std::string_view::npos ? question : question - 1));
    std::vector<std::pair<std::string, std::string>> query;
    if (question == std::string_view::npos || !split_query(rest.substr(question + 1), query)) {
        return fail("nbd+unix:// target needs ?socket=PATH");
    }
    for (const auto& [key, value] : query) {
        if (key != "socket") return fail("unknown nbd+unix:// parameter '" + key + "' (only socket=)");
        target.socket = value;
    }
    if (target.socket.empty()) return fail("nbd+unix:// target needs a non-empty socket=PATH");
    return Target{std::move(target)};
}

}  // namespace

Expected<IbnbdPath, std::string> parse_ibnbd_path(std::string_view text) {
    IbnbdPath path;
    std::string_view destination = text;
    if (const auto at = text.find('@'); at != std::string_view::npos) {
        auto source = fabric::Address::parse(text.substr(0, at), 0);
        if (!source || source->port != 0) {
            return fail("bad path source in '" + std::string(text) + "' (a host address without port)");
        }
        path.source_host = source->host;
        destination = text.substr(at + 1);
    }
    auto parsed = fabric::Address::parse(destination, 1234);
    if (!parsed || parsed->port == 0) {
        return fail("bad path '" + std::string(text) + "' (use [SRC@]DST[:PORT], port 1-65535)");
    }
    path.destination_host = parsed->host;
    path.port = parsed->port;
    return path;
}

Expected<Target, std::string> parse_target(std::string_view uri) {
    if (starts_with(uri, "ibnbd://")) return parse_ibnbd(uri.substr(8));
    if (starts_with(uri, "nbd+unix://")) return parse_nbd_unix(uri, uri.substr(11));
    if (starts_with(uri, "nbd://")) return parse_nbd_tcp(uri, uri.substr(6));
    if (starts_with(uri, "/")) return Target{BlockTarget{std::string(uri)}};
    return fail("unknown target '" + std::string(uri) +
                "' (ibnbd://SESSION/DEVICE?path=..., nbd://HOST:PORT/EXPORT, nbd+unix:///EXPORT?socket=PATH "
                "or the absolute path of a block device)");
}

}  // namespace ibnbd::bench
