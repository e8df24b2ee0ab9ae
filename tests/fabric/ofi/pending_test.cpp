// Connections libfabric's tcp provider accepted that never become a connect request (issue 16,
// D2): a peer that connects and closes, or sends part of a CM request and closes, leaves no
// socket behind whatever errno the caller left set (ofi_cm.cpp, Domain::poll_cm).
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
    Server() {
        fabric::ofi::OfiConfig config;
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
    Server server;
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
