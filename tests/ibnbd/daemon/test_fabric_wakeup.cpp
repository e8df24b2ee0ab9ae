// A daemon's reactor sleeps when idle and wakes at once when libfabric has work for it: the tcp
// provider's wait fds (fabric/ofi/ofi_fabric.hpp, WAITING WHEN IDLE). The server side runs on
// its own reactor thread with a 10 s maximum sleep; a connect and then a message arrive while it
// sleeps, and each must be seen long before that sleep would have ended on its own.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "fabric/ofi/ofi_fabric.hpp"
#include "ibnbd/daemon/pollables.hpp"

using namespace ibnbd;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// The passive side, used only on the server reactor's thread; the test thread reads the atomics.
class Acceptor : public fabric::ListenerHandler, public fabric::EndpointHandler {
public:
    explicit Acceptor(fabric::Fabric& fabric) {
        inbox_mr_ = std::move(fabric.register_memory(inbox_.data(), inbox_.size(), fabric::access_local_write).value());
    }
    void on_connect_request(fabric::ConnectRequest& request) override {
        auto accepted = request.accept({}, *this, fabric::QueueSizes{});
        if (accepted) endpoint_ = std::move(*accepted);
    }
    void on_cm_event(const fabric::CmEvent& event) override {
        if (event.type != fabric::CmEventType::established) return;
        const fabric::Sge sge{inbox_mr_.get(), inbox_.data(), static_cast<std::uint32_t>(inbox_.size())};
        (void)endpoint_->post_recv(1, {&sge, 1});
        established = true;
    }
    void on_completion(const fabric::Completion& completion) override {
        if (completion.opcode == fabric::Opcode::recv && completion.status == fabric::WcStatus::success) received = true;
    }
    std::atomic<bool> established{false};
    std::atomic<bool> received{false};

private:
    std::array<std::byte, 64> inbox_{};
    std::unique_ptr<fabric::MemoryRegion> inbox_mr_;
    std::unique_ptr<fabric::Endpoint> endpoint_;
};

class Recorder : public fabric::EndpointHandler {
public:
    void on_cm_event(const fabric::CmEvent& event) override {
        if (event.type == fabric::CmEventType::established) established = true;
    }
    void on_completion(const fabric::Completion&) override {}
    bool established = false;
};

// Stops and joins the server reactor's thread however the test ends (before the objects it drives
// are destroyed: declare it after them).
struct ServerThread {
    runtime::Reactor& reactor;
    std::thread thread;
    ~ServerThread() {
        reactor.stop();
        if (thread.joinable()) thread.join();
    }
};

// Polls the client side (this thread) until `done` or the deadline; returns the time it took.
template <class Done>
Clock::duration drive_until(fabric::ofi::OfiFabric& client, Done done, Clock::duration limit) {
    const auto start = Clock::now();
    while (!done() && Clock::now() - start < limit) {
        if (client.poll(16) == 0) std::this_thread::sleep_for(50us);
    }
    return Clock::now() - start;
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_idle_reactor_wakes_for_libfabric_connects_and_messages) {
    fabric::ofi::OfiConfig config;
    auto server_fabric = fabric::ofi::OfiFabric::create(config);
    auto client_fabric = fabric::ofi::OfiFabric::create(config);
    if (!server_fabric || !client_fabric) {
        BOOST_TEST_MESSAGE("skipped: libfabric tcp is unusable here");
        return;
    }
    if ((*server_fabric)->wait_fd() < 0) {
        BOOST_TEST_MESSAGE("skipped: this libfabric tcp provider offers no wait fd");
        return;
    }
    runtime::ReactorConfig reactor_config;
    reactor_config.spin_polls = 10;
    reactor_config.max_sleep = 10s;
    runtime::Reactor reactor(reactor_config);
    daemon::FabricPollable<fabric::ofi::OfiFabric> server_poll(**server_fabric);
    Acceptor acceptor(**server_fabric);
    auto listener = (*server_fabric)->listen({"127.0.0.1", 0}, acceptor);
    BOOST_REQUIRE(listener.has_value());
    const fabric::Address address = (*listener)->address();
    reactor.add(server_poll);
    auto server_thread = std::unique_ptr<ServerThread>(new ServerThread{reactor, std::thread([&] { reactor.run(); })});

    std::this_thread::sleep_for(200ms);  // the server reactor is asleep by now
    Recorder recorder;
    auto endpoint = (*client_fabric)->connect(address, {}, {}, recorder, fabric::QueueSizes{});
    BOOST_REQUIRE(endpoint.has_value());
    const auto connect_time = drive_until(**client_fabric, [&] { return recorder.established && acceptor.established; }, 5s);
    BOOST_REQUIRE(acceptor.established.load());
    BOOST_TEST(std::chrono::duration<double>(connect_time).count() < 3.0);

    std::this_thread::sleep_for(200ms);  // asleep again
    std::array<std::byte, 16> outbox{};
    auto outbox_mr = (*client_fabric)->register_memory(outbox.data(), outbox.size(), fabric::access_local_write);
    BOOST_REQUIRE(outbox_mr.has_value());
    const fabric::Sge sge{outbox_mr->get(), outbox.data(), static_cast<std::uint32_t>(outbox.size())};
    BOOST_REQUIRE((*endpoint)->post_send(7, {&sge, 1}).has_value());
    const auto message_time = drive_until(**client_fabric, [&] { return acceptor.received.load(); }, 5s);
    BOOST_TEST(acceptor.received.load());
    BOOST_TEST(std::chrono::duration<double>(message_time).count() < 3.0);

    (*endpoint)->disconnect();
    drive_until(**client_fabric, [] { return false; }, 100ms);
    server_thread.reset();
    BOOST_TEST(reactor.stats().sleeps >= 2u);  // it did sleep, and was woken
    endpoint->reset();
}
