#include "ibnbd/daemon/client_router.hpp"

#include <algorithm>
#include <cassert>
#include <memory>

#include <sys/un.h>

#include "core/log.hpp"
#include "core/wire/rnbd.hpp"
#include "core/wire/rtrs.hpp"

namespace ibnbd::daemon {

std::span<const CommandSpec> client_commands() {
    const FieldSpec session{"session", FieldType::string, true, wire::kMaxPathnameLen, "a session name"};
    const FieldSpec device{"device", FieldType::string, true, wire::kMaxDevNameLen, "the RNBD device name"};
    static const std::vector<CommandSpec> commands = {
        {"list", {}},
        {"map",
         {session, device, {"paths", FieldType::string_list, false, wire::kMaxPaths, "paths per session"},
          {"access_mode", FieldType::string}, {"nbd_tcp", FieldType::string}, {"export", FieldType::string},
          {"nbd_socket", FieldType::string, false, sizeof(sockaddr_un::sun_path) - 1, "a unix socket path"}}},
        {"unmap", {session, device, {"force", FieldType::boolean}}},
        {"show", {session, device}},
        {"remap", {session, device}},
        {"resize", {session, device, {"size", FieldType::count, true, UINT64_MAX}}},
        {"path_add", {session, {"path", FieldType::string, true}}},
        {"path_delete", {session, {"path", FieldType::string, true}}},
        {"path_readd", {session, {"path", FieldType::string, true}}},
        {"path_disconnect", {session, {"path", FieldType::string, true}}},
        {"session_reconnect", {session}},
        {"policy_set", {session, {"policy", FieldType::string, true}}},
        {"stats", {session}},
    };
    return commands;
}

ClientRouter::ClientRouter(runtime::Reactor& home, std::vector<ClientRoute> routes)
    : home_(home), routes_(std::move(routes)), sessions_per_reactor_(routes_.size(), 0) {
    assert(!routes_.empty());
}

std::optional<std::size_t> ClientRouter::reactor_of(const std::string& session) const {
    const auto found = session_reactor_.find(session);
    if (found == session_reactor_.end()) return std::nullopt;
    return found->second;
}

std::size_t ClientRouter::place(const std::string& session) {
    if (auto known = reactor_of(session)) return *known;
    const auto least = std::min_element(sessions_per_reactor_.begin(), sessions_per_reactor_.end());
    const auto index = static_cast<std::size_t>(least - sessions_per_reactor_.begin());
    ++*least;
    session_reactor_.emplace(session, index);
    log().info("ibnbd-client: session {} placed on reactor {}", session, index);
    return index;
}

void ClientRouter::handle(const Json& request, Responder respond) {
    if (auto refused = check_request(request, client_commands())) return respond(std::move(*refused));
    const std::string cmd = request.value("cmd", "");
    if (cmd == "list") return list_all(std::move(respond));
    const std::string session = request.value("session", "");
    if (cmd == "map") return forward(place(session), request, std::move(respond));
    const auto index = reactor_of(session);
    if (!index) return respond(error_response(-ENOENT, "no session '" + session + "'; see 'ibnbd list'"));
    forward(*index, request, std::move(respond));
}

void ClientRouter::forward(std::size_t index, const Json& request, Responder respond) {
    ClientRoute& route = routes_[index];
    if (&route.reactor == &home_) return route.handler.handle(request, std::move(respond));
    Responder refused = respond;  // answers here if the task cannot be queued
    // Runs on the route's reactor thread. The responder moves into the task for the home thread, so that
    // the last reference to the control connection is dropped there.
    Responder back = [this, respond = std::move(respond)](Json answer) mutable {
        auto posted = home_.post([respond = std::move(respond), answer = std::move(answer)]() mutable {
            respond(std::move(answer));
        });
        if (!posted) log().warn("ibnbd-client: a control answer was dropped (errno {})", -posted.error());
    };
    auto posted = route.reactor.post([&handler = route.handler, request, back = std::move(back)]() mutable {
        handler.handle(request, std::move(back));
    });
    if (!posted) {
        refused(error_response(posted.error(), "reactor " + std::to_string(index) +
                                                   " is busy (its task queue is full); retry"));
    }
}

void ClientRouter::list_all(Responder respond) {
    struct Gathered {
        Json devices = Json::array();
        std::size_t pending = 0;
        Responder respond;
    };
    auto gathered = std::make_shared<Gathered>();
    gathered->pending = routes_.size();
    gathered->respond = std::move(respond);
    for (std::size_t index = 0; index < routes_.size(); ++index) {
        // Each answer arrives on the home thread (forward() brings it back), one after another.
        forward(index, Json{{"cmd", "list"}}, [gathered, index](Json answer) {
            for (Json& device : answer["devices"]) {
                device["reactor"] = index;
                gathered->devices.push_back(std::move(device));
            }
            if (--gathered->pending == 0) gathered->respond({{"ok", true}, {"devices", std::move(gathered->devices)}});
        });
    }
}

}  // namespace ibnbd::daemon
