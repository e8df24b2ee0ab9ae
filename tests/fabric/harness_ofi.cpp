// The conformance harness on libfabric: two OfiFabrics in this thread, talking over loopback.
// Driving = polling both; time = the wall clock. kill_server_silently() stops polling the server
// fabric: a hung node whose sockets stay open, so no FIN or RST reaches the client.
#include <chrono>
#include <string>
#include <thread>

#include "fabric/ofi/ofi_fabric.hpp"
#include "tests/fabric/harness.hpp"

namespace ibnbd::fabric::test {

namespace {

constexpr std::size_t kPollBudget = 64;

class OfiHarness final : public Harness {
public:
    OfiHarness(std::string provider, std::unique_ptr<ofi::OfiFabric> server,
               std::unique_ptr<ofi::OfiFabric> client)
        : provider_(std::move(provider)), server_(std::move(server)), client_(std::move(client)) {}

    std::string name() const override { return "ofi-" + provider_; }
    Fabric& server() override { return *server_; }
    Fabric& client() override { return *client_; }
    // Port 0: the listener picks a free port and reports it.
    Address listen_address() override { return Address{"127.0.0.1", 0}; }

    bool run_until(const std::function<bool()>& done, Nanos timeout) override {
        const auto deadline = Clock::now() + std::chrono::nanoseconds(timeout);
        while (!done()) {
            if (Clock::now() >= deadline) return done();
            drive();
        }
        return true;
    }

    void run_for(Nanos duration) override {
        const auto deadline = Clock::now() + std::chrono::nanoseconds(duration);
        while (Clock::now() < deadline) drive();
    }

    bool kill_server_silently() override {
        server_frozen_ = true;
        return true;
    }

private:
    using Clock = std::chrono::steady_clock;

    void drive() {
        std::size_t delivered = client_->poll(kPollBudget);
        if (!server_frozen_) delivered += server_->poll(kPollBudget);
        // Nothing happened: give the other processes on this machine the CPU for a moment.
        if (delivered == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }

    std::string provider_;
    std::unique_ptr<ofi::OfiFabric> server_;
    std::unique_ptr<ofi::OfiFabric> client_;
    bool server_frozen_ = false;
};

}  // namespace

std::unique_ptr<Harness> make_ofi_harness(std::string_view provider, bool delivery_complete, std::string& why_not) {
    ofi::OfiConfig config;
    config.provider = std::string(provider);
    config.delivery_complete = delivery_complete;
    auto server = ofi::OfiFabric::create(config);
    if (!server) {
        why_not = "libfabric provider '" + config.provider + "' unusable: " + std::string(to_string(server.error()));
        return nullptr;
    }
    auto client = ofi::OfiFabric::create(config);
    if (!client) {
        why_not = "libfabric provider '" + config.provider + "' unusable: " + std::string(to_string(client.error()));
        return nullptr;
    }
    return std::make_unique<OfiHarness>(config.provider + (delivery_complete ? "" : "-tc"), std::move(*server),
                                        std::move(*client));
}

}  // namespace ibnbd::fabric::test
