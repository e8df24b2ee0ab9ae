// The conformance harness on libfabric: three OfiFabrics in this thread, talking over loopback:
// the server, its sibling (another reactor of the server: its own fabric, domain, event queue
// and CQs, created with the same config; detached requests are accepted on it) and the client.
// Driving = polling all three; time = the wall clock. kill_server_silently() stops polling the
// server and its sibling: a hung node whose sockets stay open, so no FIN or RST reaches the client.
#include <array>
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
               std::unique_ptr<ofi::OfiFabric> sibling, std::unique_ptr<ofi::OfiFabric> client)
        : provider_(std::move(provider)),
          server_(std::move(server)),
          sibling_(std::move(sibling)),
          client_(std::move(client)) {}

    std::string name() const override { return "ofi-" + provider_; }
    Fabric& server() override { return *server_; }
    Fabric& client() override { return *client_; }
    Fabric& server_sibling() override { return *sibling_; }
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
        if (!server_frozen_) {
            delivered += server_->poll(kPollBudget);
            delivered += sibling_->poll(kPollBudget);
        }
        // Nothing happened: give the other processes on this machine the CPU for a moment.
        if (delivered == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }

    std::string provider_;
    std::unique_ptr<ofi::OfiFabric> server_;
    std::unique_ptr<ofi::OfiFabric> sibling_;
    std::unique_ptr<ofi::OfiFabric> client_;
    bool server_frozen_ = false;
};

}  // namespace

std::unique_ptr<Harness> make_ofi_harness(std::string_view provider, bool delivery_complete, std::string& why_not) {
    ofi::OfiConfig config;
    config.provider = std::string(provider);
    config.delivery_complete = delivery_complete;
    // Server, sibling and client alike: a detached request moves only to a fabric of the same
    // provider and domain.
    std::array<std::unique_ptr<ofi::OfiFabric>, 3> fabrics;
    for (auto& fabric : fabrics) {
        auto created = ofi::OfiFabric::create(config);
        if (!created) {
            why_not = "libfabric provider '" + config.provider + "' unusable: " + std::string(to_string(created.error()));
            return nullptr;
        }
        fabric = std::move(*created);
    }
    return std::make_unique<OfiHarness>(config.provider + (delivery_complete ? "" : "-tc"), std::move(fabrics[0]),
                                        std::move(fabrics[1]), std::move(fabrics[2]));
}

}  // namespace ibnbd::fabric::test
