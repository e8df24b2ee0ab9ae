// Connections libfabric's tcp provider accepted that never become a connect request
// (fabric/ofi/ofi_fabric.hpp, PENDING CONNECTIONS): a peer that connects and closes, or sends
// part of a CM request and closes, leaves no socket behind whatever errno the caller left set; a
// silent one is closed after OfiConfig::pending_timeout; beyond pending_limit the oldest are
// closed; Listener::dropped_connections() counts the closed ones; real clients still connect.
#define BOOST_TEST_MODULE fabric_ofi
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "fabric/ofi/ofi_fabric.hpp"

using namespace ibnbd;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

struct Requests : fabric::ListenerHandler, fabric::EndpointHandler {
    void on_connect_request(fabric::ConnectRequest& request) override {
        ++count;
        auto accepted = request.accept({}, *this, fabric::QueueSizes{});
        if (accepted) endpoints.push_back(std::move(*accepted));
    }
    void on_cm_event(const fabric::CmEvent& event) override {
        if (event.type == fabric::CmEventType::established) ++established;
    }
    void on_completion(const fabric::Completion&) override {}
    int count = 0;
    int established = 0;
    std::vector<std::unique_ptr<fabric::Endpoint>> endpoints;
};

struct Server {
    explicit Server(std::size_t limit, fabric::Nanos timeout) {
        fabric::ofi::OfiConfig config;
        config.pending_limit = limit;
        config.pending_timeout = timeout;
        auto created = fabric::ofi::OfiFabric::create(config);
        if (!created) return;
        fabric = std::move(*created);
        auto listening = fabric->listen({"127.0.0.1", 0}, requests);
        BOOST_REQUIRE(listening.has_value());
        listener = std::move(*listening);
    }
    // Polls as a daemon's reactor does, with errno left at EAGAIN by some earlier non-blocking
    // call (the reactor's own eventfd and signalfd reads leave it so), until `done` or `limit`.
    bool poll_until(const std::function<bool()>& done, Clock::duration limit) {
        const auto deadline = Clock::now() + limit;
        while (Clock::now() < deadline) {
            errno = EAGAIN;
            if (fabric->poll(64) == 0) std::this_thread::sleep_for(1ms);
            if (done()) return true;
        }
        return done();
    }
    void poll_for(Clock::duration time) {
        poll_until([] { return false; }, time);
    }
    Requests requests;
    std::unique_ptr<fabric::ofi::OfiFabric> fabric;
    std::unique_ptr<fabric::Listener> listener;
};

int raw_connect(const fabric::Address& address) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(address.port);
    ::inet_pton(AF_INET, address.host.c_str(), &to.sin_addr);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
    return fd;
}

// True once the server closed its end: the peer reads end-of-file (or a reset).
bool closed_by_server(int fd) {
    char byte;
    const ssize_t got = ::recv(fd, &byte, 1, MSG_DONTWAIT);
    return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

std::size_t open_fds() {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                  std::filesystem::directory_iterator{}));
}

#define REQUIRE_FABRIC(server)                                              \
    if (!(server).fabric) {                                                 \
        BOOST_TEST_MESSAGE("skipped: libfabric tcp is unusable here");      \
        return;                                                             \
    }

}  // namespace

BOOST_AUTO_TEST_CASE(peers_that_close_before_their_cm_request_leave_no_socket_behind) {
    Server server(0, 0);  // no sweeping: the provider alone must close these
    REQUIRE_FABRIC(server);
    server.poll_for(50ms);
    const std::size_t baseline = open_fds();
    for (int i = 0; i < 40; ++i) {
        const int fd = raw_connect(server.listener->address());
        if (i % 2 == 1) (void)!::send(fd, "\x03\x00\x00", 3, 0);  // part of a CM header
        ::close(fd);
    }
    const bool back = server.poll_until([&] { return open_fds() <= baseline; }, 5s);
    BOOST_TEST(back, "the server still holds " << open_fds() - baseline << " of 40 closed connections");
    BOOST_TEST(server.requests.count == 0);
}

BOOST_AUTO_TEST_CASE(a_silent_connection_is_closed_after_the_pending_timeout) {
    Server server(0, 300'000'000);
    REQUIRE_FABRIC(server);
    const int silent = raw_connect(server.listener->address());
    const auto start = Clock::now();
    BOOST_TEST(server.poll_until([&] { return closed_by_server(silent); }, 5s));
    BOOST_TEST((Clock::now() - start >= 300ms));
    BOOST_TEST(server.listener->dropped_connections() == 1u);
    ::close(silent);

    // A real client sends its CM request at once and is not affected.
    fabric::ofi::OfiConfig config;
    auto client = fabric::ofi::OfiFabric::create(config);
    BOOST_REQUIRE(client.has_value());
    Requests client_side;
    auto endpoint = (*client)->connect(server.listener->address(), {}, {}, client_side, fabric::QueueSizes{});
    BOOST_REQUIRE(endpoint.has_value());
    BOOST_TEST(server.poll_until([&] {
        (*client)->poll(16);
        return client_side.established == 1 && server.requests.established == 1;
    }, 5s));
    server.poll_for(700ms);  // two sweeps later it is still connected
    BOOST_TEST((*endpoint)->connected());
    BOOST_TEST(server.listener->dropped_connections() == 1u);
    endpoint->reset();
    server.requests.endpoints.clear();
}

BOOST_AUTO_TEST_CASE(beyond_the_pending_limit_the_oldest_are_closed) {
    Server server(4, 0);  // no timeout: only the limit acts
    REQUIRE_FABRIC(server);
    server.poll_for(50ms);
    const std::size_t baseline = open_fds();
    std::vector<int> older, newer;
    for (int i = 0; i < 4; ++i) older.push_back(raw_connect(server.listener->address()));
    server.poll_for(400ms);  // seen by a few sweeps: within the limit, nothing closed
    for (const int fd : older) BOOST_TEST(!closed_by_server(fd));
    for (int i = 0; i < 4; ++i) newer.push_back(raw_connect(server.listener->address()));
    const auto all_closed = [&](const std::vector<int>& fds) {
        return std::all_of(fds.begin(), fds.end(), closed_by_server);
    };
    BOOST_TEST(server.poll_until([&] { return all_closed(older); }, 5s));
    server.poll_for(400ms);
    for (const int fd : newer) BOOST_TEST(!closed_by_server(fd));
    BOOST_TEST(server.listener->dropped_connections() == 4u);
    for (const int fd : older) ::close(fd);
    for (const int fd : newer) ::close(fd);
    // The provider frees a waiting connection's state only when it reads its end-of-file (closing
    // the fabric does not): nothing may be left behind once the peers are gone.
    const bool back = server.poll_until([&] { return open_fds() <= baseline; }, 5s);
    BOOST_TEST(back, "the server still holds " << open_fds() - baseline << " of 8 closed connections");
}
