// The daemons' control sockets under hostile input: requests of the wrong
// shape are answered with an error that names the field and never take the daemon down; unknown
// commands and limits are named; overlong lines close the connection after saying why; a client
// that pipelines requests without reading the answers gets its connection paused, not the
// daemon's memory filled.
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/ibtrs/server.hpp"
#include "fabric/sim/world.hpp"
#include "ibnbd/daemon/client_router.hpp"
#include "ibnbd/daemon/client_service.hpp"
#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/daemon/server_control.hpp"
#include "ibnbd/runtime/reactor.hpp"
#include "ibnbd/server/block_server.hpp"
#include "ibnbd/storage/memory/memory_backend.hpp"
#include "ibnbd/storage/memory/memory_catalog.hpp"

using namespace ibnbd;
using daemon::Json;

namespace {

std::string temp_socket(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / ("ibnbd-control-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

// One connection to a control socket, driven from the thread that polls the daemon's reactor.
class Peer {
public:
    Peer(const std::string& path, runtime::Reactor& reactor) : reactor_(reactor) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        BOOST_REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    }
    ~Peer() { ::close(fd_); }

    // Polls the reactor once; an exception escaping it is what aborts a daemon: a failure here.
    bool pump() {
        try {
            reactor_.run_once(false);
            return true;
        } catch (const std::exception& error) {
            BOOST_ERROR("the daemon's reactor threw: " << error.what());
            return false;
        }
    }
    // Sends as much of `data` as the socket takes now; returns how much.
    std::size_t send_some(std::string_view data) {
        const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        return sent > 0 ? static_cast<std::size_t>(sent) : 0;
    }
    void send_all(std::string_view data) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!data.empty() && std::chrono::steady_clock::now() < deadline) {
            data.remove_prefix(send_some(data));
            if (!pump()) return;
        }
        BOOST_REQUIRE(data.empty());
    }
    // The next answer line, or nullopt when the connection closed (or 10 s passed).
    std::optional<std::string> line() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            if (const auto newline = in_.find('\n'); newline != std::string::npos) {
                std::string line = in_.substr(0, newline);
                in_.erase(0, newline + 1);
                return line;
            }
            char chunk[65536];
            const ssize_t got = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
            if (got > 0) {
                in_.append(chunk, static_cast<std::size_t>(got));
                continue;
            }
            if (got == 0) return std::nullopt;
            if (!pump()) return std::nullopt;
        }
        return std::nullopt;
    }
    Json call(const std::string& request_line) {
        send_all(request_line + "\n");
        const auto answer = line();
        BOOST_REQUIRE_MESSAGE(answer.has_value(), "no answer to " << request_line.substr(0, 200));
        return Json::parse(*answer);
    }
    bool closed_by_daemon() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            char byte;
            const ssize_t got = ::recv(fd_, &byte, 1, MSG_DONTWAIT);
            if (got == 0) return true;
            if (got < 0 && errno != EAGAIN) return true;
            if (!pump()) return false;
        }
        return false;
    }

private:
    runtime::Reactor& reactor_;
    int fd_ = -1;
    std::string in_;
};

// Answers every command as a client daemon's reactor would, echoing the command.
class EchoHandler : public daemon::CommandHandler {
public:
    void handle(const Json& request, daemon::Responder respond) override {
        ++handled;
        if (request.value("cmd", "") == "list") return respond({{"ok", true}, {"devices", Json::array()}});
        respond({{"ok", true}, {"cmd", request.value("cmd", "")}});
    }
    int handled = 0;
};

// The client daemon's control socket, as ibnbd-client wires it: ControlServer -> ClientRouter.
struct ClientDaemon {
    ClientDaemon()
        : router(reactor, {{reactor, handler}}),
          control(daemon::ControlServer::listen(temp_socket("client.sock"), [this](const Json& request, auto respond) {
                      router.handle(request, std::move(respond));
                  }).value()) {
        reactor.add(*control);
    }
    ~ClientDaemon() { reactor.remove(*control); }
    runtime::Reactor reactor;
    EchoHandler handler;
    daemon::ClientRouter router;
    std::unique_ptr<daemon::ControlServer> control;
};

// The server daemon's control socket over one reactor: a BlockServer and an IBTRS server (on a
// simulated node, never connected: the commands only read their state).
struct ServerDaemon {
    ServerDaemon()
        : node(world.add_node("server", {"10.0.0.1"})), backend(node, catalog), blocks(backend, {"/srv"}),
          server(ibtrs::Server::create(node, {}, blocks).value()),
          commands(reactor, {{reactor, blocks, *server}}),
          control(daemon::ControlServer::listen(temp_socket("server.sock"), [this](const Json& request, auto respond) {
                      commands.handle(request, std::move(respond));
                  }).value()) {
        reactor.add(*control);
    }
    ~ServerDaemon() { reactor.remove(*control); }
    runtime::Reactor reactor;
    fabric::sim::World world{1};
    fabric::sim::Node& node;
    storage::memory::MemoryCatalog catalog;
    storage::memory::MemoryBackend backend;
    block::BlockServer blocks;
    std::unique_ptr<ibtrs::Server> server;
    daemon::ServerControl commands;
    std::unique_ptr<daemon::ControlServer> control;
};

bool contains(const Json& answer, const std::string& part) {
    return answer.value("error", std::string()).find(part) != std::string::npos;
}

// Each bad request must get {"ok": false} with an error that contains `names`.
void expect_refused(Peer& peer, const std::string& request, const std::string& names) {
    const Json answer = peer.call(request);
    BOOST_TEST_CONTEXT(request.substr(0, 120)) {
        BOOST_TEST(answer.value("ok", true) == false);
        BOOST_TEST(answer.value("errno", 0) == EINVAL);
        BOOST_TEST(contains(answer, names), answer.dump());
    }
}

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

BOOST_AUTO_TEST_CASE(the_client_daemon_refuses_requests_of_the_wrong_shape_naming_the_field) {
    ClientDaemon daemon;
    Peer peer(daemon.control->path(), daemon.reactor);
    expect_refused(peer, R"({"cmd":5})", "'cmd'");
    expect_refused(peer, R"({"cmd":[1]})", "'cmd'");
    expect_refused(peer, R"({"cmd":null})", "'cmd'");
    expect_refused(peer, R"({"cmd":"stats","session":5})", "'session'");
    expect_refused(peer, R"({"cmd":"stats"})", "'session'");  // missing
    expect_refused(peer, R"({"cmd":"map","session":"s","device":7})", "'device'");
    expect_refused(peer, R"({"cmd":"map","session":"s","device":"d","paths":"127.0.0.1"})", "'paths'");
    expect_refused(peer, R"({"cmd":"map","session":"s","device":"d","paths":[1,{"a":[]}]})", "'paths'");
    expect_refused(peer, R"({"cmd":"map","session":"s","device":"d","access_mode":{}})", "'access_mode'");
    expect_refused(peer, R"({"cmd":"unmap","session":"s","device":"d","force":"yes"})", "'force'");
    expect_refused(peer, R"({"cmd":"resize","session":"s","device":"d","size":-1})", "'size'");
    expect_refused(peer, R"({"cmd":"resize","session":"s","device":"d","size":1e300})", "'size'");
    expect_refused(peer, R"({"cmd":"resize","session":"s","device":"d","size":18446744073709551616})", "'size'");
    expect_refused(peer, R"({"cmd":"resize","session":"s","device":"d","size":"10G"})", "'size'");
    expect_refused(peer, R"({"cmd":"policy_set","session":"s","policy":true})", "'policy'");
    expect_refused(peer, R"({"cmd":"path_add","session":"s","path":["a"]})", "'path'");
    expect_refused(peer, R"({"cmd":)" + nested(20000) + "}", "'cmd'");
    for (const char* top : {"[1,2]", "\"list\"", "5", "null", "{}", "{\"cmd\":\"list\"", "\x01\xff"}) {
        const Json answer = peer.call(top);
        BOOST_TEST(answer.value("ok", true) == false, top);
        BOOST_TEST(contains(answer, "JSON object"), answer.dump());
    }
    // Fields a command does not use are not looked at; the daemon is still there.
    BOOST_TEST(peer.call(R"({"cmd":"list","x":{"y":[[[{}]]]}})").value("ok", false));
    BOOST_TEST(daemon.handler.handled == 1);
}

BOOST_AUTO_TEST_CASE(the_server_daemon_refuses_requests_of_the_wrong_shape_naming_the_field) {
    ServerDaemon daemon;
    Peer peer(daemon.control->path(), daemon.reactor);
    expect_refused(peer, R"({"cmd":5})", "'cmd'");
    expect_refused(peer, R"({"cmd":{"a":1}})", "'cmd'");
    expect_refused(peer, R"({"cmd":"force_close","session":"s1","device_id":"abc"})", "'device_id'");
    expect_refused(peer, R"({"cmd":"force_close","session":"s1","device_id":-1})", "'device_id'");
    expect_refused(peer, R"({"cmd":"force_close","session":"s1","device_id":4294967296})", "'device_id'");
    expect_refused(peer, R"({"cmd":"force_close","session":"s1","device_id":1.5})", "'device_id'");
    expect_refused(peer, R"({"cmd":"force_close","session":7,"device_id":1})", "'session'");
    expect_refused(peer, R"({"cmd":"force_close","device_id":1})", "'session'");
    const Json closed = peer.call(R"({"cmd":"force_close","session":"s1","device_id":1})");
    BOOST_TEST(closed.value("errno", 0) == ENOENT);  // well formed: no such session
    BOOST_TEST(peer.call(R"({"cmd":"stats"})").value("ok", false));
    BOOST_TEST(peer.call(R"({"cmd":"list"})").value("ok", false));
}

BOOST_AUTO_TEST_CASE(unknown_commands_are_named_by_both_daemons) {
    ClientDaemon client;
    Peer to_client(client.control->path(), client.reactor);
    const Json answer = to_client.call(R"({"cmd":"foo","session":"s"})");
    BOOST_TEST(answer.value("errno", 0) == EINVAL);
    BOOST_TEST(contains(answer, "unknown command 'foo'"), answer.dump());
    ServerDaemon server;
    Peer to_server(server.control->path(), server.reactor);
    BOOST_TEST(contains(to_server.call(R"({"cmd":"foo"})"), "unknown command 'foo'"));
}

BOOST_AUTO_TEST_CASE(limits_are_named_in_the_messages) {
    ClientDaemon daemon;
    Peer peer(daemon.control->path(), daemon.reactor);
    const std::string device(300, 'd');
    const Json answer = peer.call(R"({"cmd":"map","session":"s","device":")" + device + R"(","paths":["127.0.0.1"]})");
    BOOST_TEST(answer.value("ok", true) == false);
    BOOST_TEST(contains(answer, "'device'"), answer.dump());
    BOOST_TEST(contains(answer, "254"), answer.dump());  // the limit, not a bare "Invalid argument"
    const std::string session(300, 's');
    const Json long_session = peer.call(R"({"cmd":"map","session":")" + session + R"(","device":"d","paths":["127.0.0.1"]})");
    BOOST_TEST(contains(long_session, "254"), long_session.dump());
    const std::string socket = "/tmp/" + std::string(200, 'n');
    const Json long_socket =
        peer.call(R"({"cmd":"map","session":"s","device":"d","paths":["127.0.0.1"],"nbd_socket":")" + socket + "\"}");
    BOOST_TEST(contains(long_socket, "'nbd_socket'"), long_socket.dump());
    BOOST_TEST(contains(long_socket, "107"), long_socket.dump());
    BOOST_TEST(daemon.handler.handled == 0);
}

BOOST_AUTO_TEST_CASE(a_line_over_64_KiB_is_refused_and_closes_the_connection) {
    ClientDaemon daemon;
    Peer peer(daemon.control->path(), daemon.reactor);
    const std::string huge = R"({"cmd":"list","pad":")" + std::string(70 * 1024, 'x') + "\"}\n";
    peer.send_all(huge);
    const auto answer = peer.line();
    BOOST_REQUIRE(answer.has_value());
    const Json refused = Json::parse(*answer);
    BOOST_TEST(refused.value("ok", true) == false);
    BOOST_TEST(contains(refused, "64 KiB"), refused.dump());
    BOOST_TEST(peer.closed_by_daemon());
    BOOST_TEST(daemon.handler.handled == 0);
    // Other connections are served as before.
    Peer other(daemon.control->path(), daemon.reactor);
    BOOST_TEST(other.call(R"({"cmd":"list"})").value("ok", false));
}

BOOST_AUTO_TEST_CASE(a_client_that_does_not_read_its_answers_is_paused_not_buffered) {
    // Every answer is ~1 KiB: 20,000 pipelined requests would be ~20 MiB of answers.
    runtime::Reactor reactor;
    const std::string padding(1000, 'a');
    auto control = daemon::ControlServer::listen(temp_socket("pipeline.sock"), [&](const Json& request, auto respond) {
        respond({{"ok", true}, {"n", request.value("n", 0)}, {"padding", padding}});
    });
    BOOST_REQUIRE(control.has_value());
    reactor.add(**control);
    Peer peer((*control)->path(), reactor);
    constexpr int kRequests = 20000;
    std::string requests;
    for (int n = 0; n < kRequests; ++n) {
        requests += R"({"cmd":"stats","n":)" + std::to_string(n) + R"(,"pad":")" + std::string(150, 'p') + "\"}\n";
    }
    // Write without reading until the daemon stops taking more.
    std::size_t accepted = 0;
    int idle_rounds = 0;
    while (accepted < requests.size() && idle_rounds < 2000) {
        const std::size_t sent = peer.send_some(std::string_view(requests).substr(accepted));
        accepted += sent;
        idle_rounds = sent == 0 ? idle_rounds + 1 : 0;
        BOOST_REQUIRE(peer.pump());
    }
    BOOST_TEST_MESSAGE("the daemon took " << accepted << " of " << requests.size() << " bytes before pausing");
    BOOST_TEST(accepted < requests.size() / 4);  // socket buffers plus a bounded amount, not everything
    const std::size_t bound = daemon::ControlServer::kMaxLine + daemon::ControlServer::kMaxBuffered + 32 * 1024;
    BOOST_TEST((*control)->buffered_bytes() <= bound);
    // Reading the answers lets the rest through, every answer once and in order.
    int next = 0;
    std::size_t at = accepted;
    while (next < kRequests) {
        at += peer.send_some(std::string_view(requests).substr(at));
        const auto line = peer.line();
        BOOST_REQUIRE(line.has_value());
        const Json answer = Json::parse(*line);
        BOOST_REQUIRE_EQUAL(answer.value("n", -1), next);
        ++next;
    }
    reactor.remove(**control);
}

BOOST_AUTO_TEST_CASE(requests_waiting_for_their_answer_are_bounded_per_connection) {
    // A handler that answers later (as map and list do): the daemon stops reading from a
    // connection with too many unanswered requests, and resumes as answers go out.
    runtime::Reactor reactor;
    std::vector<daemon::Responder> waiting;
    auto control = daemon::ControlServer::listen(temp_socket("waiting.sock"), [&](const Json&, auto respond) {
        waiting.push_back(std::move(respond));
    });
    BOOST_REQUIRE(control.has_value());
    reactor.add(**control);
    Peer peer((*control)->path(), reactor);
    std::string requests;
    for (int n = 0; n < 1000; ++n) requests += R"({"cmd":"stats"})" "\n";
    peer.send_all(requests);
    for (int round = 0; round < 200; ++round) BOOST_REQUIRE(peer.pump());
    BOOST_TEST(waiting.size() <= daemon::ControlServer::kMaxPending);
    BOOST_TEST(!waiting.empty());
    int answered = 0;
    while (answered < 1000) {
        auto batch = std::move(waiting);
        waiting.clear();
        for (auto& respond : batch) respond({{"ok", true}});
        for (std::size_t i = 0; i < batch.size(); ++i) {
            BOOST_REQUIRE(peer.line().has_value());
            ++answered;
        }
        BOOST_REQUIRE(!batch.empty() || answered == 1000);
        // The control socket is polled every 64 rounds of a busy reactor (poll_every()).
        for (int round = 0; round < 200; ++round) BOOST_REQUIRE(peer.pump());
    }
    BOOST_TEST(waiting.empty());
    reactor.remove(**control);
}

BOOST_AUTO_TEST_CASE(a_control_socket_another_daemon_serves_is_not_taken_over) {
    ClientDaemon first;
    auto second = daemon::ControlServer::listen(first.control->path(), [](const Json&, daemon::Responder respond) {
        respond({{"ok", true}, {"second", true}});
    });
    BOOST_REQUIRE(!second.has_value());
    BOOST_TEST(second.error() == -EADDRINUSE);
    Peer peer(first.control->path(), first.reactor);
    const Json answer = peer.call(R"({"cmd":"list"})");
    BOOST_TEST(answer.value("ok", false));
    BOOST_TEST(!answer.contains("second"));
}

BOOST_AUTO_TEST_CASE(paths_are_ip_addresses_checked_before_they_are_accepted) {
    // A path the daemon cannot connect to must be refused when given, not retried forever.
    for (const char* bad : {"nonsense", "garbage@@", "", "@", "127.0.0.1:99999", "127.0.0.1:", "1.2.3", "127.1",
                            "10.0.0.1@", "@10.0.0.1", "[::1", "::1]:5", "256.0.0.1", "127.0.0.1 "}) {
        BOOST_TEST(!daemon::parse_path(bad, 1234).has_value(), "'" << bad << "' was accepted");
    }
    for (const char* good : {"127.0.0.1", "127.0.0.1:99", "10.0.0.2@10.0.0.1", "10.0.0.2@10.0.0.1:7", "::1", "[::1]:5",
                             "[fe80::1%lo]:5", "fd00::2@[fd00::1]:1234"}) {
        BOOST_TEST(daemon::parse_path(good, 1234).has_value(), "'" << good << "' was refused");
    }
    const auto refused = daemon::parse_path("10.0.0.1@nonsense:5", 1234);
    BOOST_REQUIRE(!refused.has_value());
    BOOST_TEST(refused.error() == "'nonsense' is not an IP address");
}

BOOST_AUTO_TEST_CASE(the_cli_resolves_host_names_in_paths_to_addresses) {
    BOOST_TEST(daemon::resolve_path_names("10.0.0.2@[::1]:7").value() == "10.0.0.2@[::1]:7");  // already addresses
    const auto local = daemon::resolve_path_names("localhost:99");
    BOOST_REQUIRE(local.has_value());
    BOOST_TEST(daemon::parse_path(*local, 1234).has_value(), *local);
    BOOST_TEST(daemon::parse_path(*local, 1234)->destination.port == 99);
    const auto unknown = daemon::resolve_path_names("10.0.0.2@nonsense.invalid");
    BOOST_REQUIRE(!unknown.has_value());
    BOOST_TEST(unknown.error() == "cannot resolve 'nonsense.invalid'");
}
