#include "ibnbd/daemon/server_control.hpp"

#include <cassert>
#include <memory>

#include "core/wire/rtrs.hpp"
#include "ibnbd/daemon/request_check.hpp"

namespace ibnbd::daemon {

std::span<const CommandSpec> server_commands() {
    static const std::vector<CommandSpec> commands = {
        {"list", {}},
        {"stats", {}},
        {"force_close",
         {{"session", FieldType::string, true, wire::kMaxPathnameLen, "a session name"},
          {"device_id", FieldType::count, true, UINT32_MAX}}},
    };
    return commands;
}

namespace {

Json list_of(block::BlockServer& blocks, std::size_t reactor) {
    Json devices = Json::array();
    for (const auto& device : blocks.devices()) {
        devices.push_back({{"session", device.session}, {"device_id", device.device_id}, {"name", device.name},
                           {"path", device.path}, {"access_mode", static_cast<int>(device.mode)},
                           {"inflight", device.inflight}, {"reactor", reactor}});
    }
    return devices;
}

Json stats_of(const ServerPart& part) {
    const auto& s = part.blocks.stats();
    const auto& t = part.server.stats();
    return {{"sessions", part.server.session_count()},
            {"opens", s.opens},
            {"opens_refused", s.opens_refused},
            {"ios", s.ios},
            {"ios_deferred", s.ios_deferred},
            {"io_errors", s.io_errors},
            {"bad_requests", s.bad_requests},
            {"connect_requests", t.connect_requests},
            {"handed_over", t.handed_over},
            {"rejected", t.rejected},
            {"violations", t.violations},
            {"pending_handshakes", part.server.pending_handshakes()},
            {"handshakes_dropped", t.handshakes_dropped},
            {"handshakes_refused", t.handshakes_refused},
            {"handshakes_timed_out", t.handshakes_timed_out},
            {"connections_dropped", part.server.dropped_connections()},
            {"reads_invalidated", t.reads_invalidated},
            {"invalidations_unsupported", t.invalidations_unsupported},
            {"keys_revoked", t.keys_revoked},
            {"keys_rotated", t.keys_rotated},
            {"slot_transitions", t.slot_transitions}};
}

Json merge_stats(std::vector<Json> answers) {
    Json total = {{"ok", true}};
    Json per_reactor = Json::array();
    for (const Json& answer : answers) {
        for (const auto& [key, value] : answer.items()) {
            total[key] = total.value(key, std::uint64_t{0}) + value.get<std::uint64_t>();
        }
        per_reactor.push_back(answer["sessions"]);
    }
    total["sessions_per_reactor"] = std::move(per_reactor);
    total["reactors"] = answers.size();
    return total;
}

}  // namespace

ServerControl::ServerControl(runtime::Reactor& home, std::vector<ServerPart> parts)
    : home_(home), parts_(std::move(parts)) {
    assert(!parts_.empty());
}

void ServerControl::handle(const Json& request, Responder respond) {
    if (auto refused = check_request(request, server_commands())) return respond(std::move(*refused));
    const std::string cmd = request.value("cmd", "");
    if (cmd == "list") {
        return gather([](ServerPart& part, std::size_t index) { return list_of(part.blocks, index); },
                      [](std::vector<Json> answers) {
                          Json devices = Json::array();
                          for (Json& answer : answers) {
                              for (Json& device : answer) devices.push_back(std::move(device));
                          }
                          return Json{{"ok", true}, {"devices", std::move(devices)}};
                      },
                      std::move(respond));
    }
    if (cmd == "stats") {
        return gather([](ServerPart& part, std::size_t) { return stats_of(part); }, merge_stats,
                      std::move(respond));
    }
    if (cmd == "force_close") {
        const std::string session = request.value("session", "");
        const std::uint32_t device_id = request.value("device_id", 0u);
        return gather([session, device_id](ServerPart& part, std::size_t) {
                          return Json(part.blocks.force_close(session, device_id).has_value());
                      },
                      [](std::vector<Json> answers) {
                          for (const Json& closed : answers) {
                              if (closed.get<bool>()) return Json{{"ok", true}};
                          }
                          return error_response(-ENOENT, "no such session or device; see 'list'");
                      },
                      std::move(respond));
    }
    respond(error_response(-ENOSYS, "command '" + cmd + "' is declared but not served"));  // a bug, not input
}

void ServerControl::gather(PerReactor ask, Merge merge, Responder respond) {
    struct Gathered {
        std::vector<Json> answers;
        std::size_t pending = 0;
        Merge merge;
        Responder respond;
    };
    auto gathered = std::make_shared<Gathered>();
    gathered->answers.resize(parts_.size());
    gathered->pending = parts_.size();
    gathered->merge = std::move(merge);
    gathered->respond = std::move(respond);
    for (std::size_t index = 0; index < parts_.size(); ++index) {
        ServerPart& part = parts_[index];
        // Asked on the part's thread; the answer comes back to the home thread, where the
        // gathered state (and the control connection) is touched.
        part.reactor.post_message([this, &part, index, ask, gathered] {
            Json answer = ask(part, index);
            home_.post_message([index, gathered, answer = std::move(answer)]() mutable {
                gathered->answers[index] = std::move(answer);
                if (--gathered->pending == 0) gathered->respond(gathered->merge(std::move(gathered->answers)));
            });
        });
    }
}

}  // namespace ibnbd::daemon
