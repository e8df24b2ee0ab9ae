// The conformance harness on the verbs backend: three VerbsFabrics in this thread on one RDMA
// device - the server listening on that device's IP address, the server's sibling (another
// reactor's fabric: connect requests detached on the server are accepted on it) and the client
// connecting to the server (SoftRoCE loops traffic between two addresses of one rxe device, or to
// the same address, internally). The address comes from IBNBD_VERBS_ADDR, else from RXE_VM_IP (set
// inside the rxe VM, see scripts/rxe/). Driving = polling all three; time = the wall clock.
// kill_server_silently() stops polling the server and its sibling: their NIC still acknowledges
// at the transport level, so the client sees nothing, as with a hung host.
#include <infiniband/verbs.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "fabric/verbs/verbs_fabric.hpp"
#include "tests/fabric/harness.hpp"

namespace ibnbd::fabric::test {

std::unique_ptr<Harness> make_verbs_harness(std::string& why_not);

namespace {

constexpr std::size_t kPollBudget = 64;

class VerbsHarness final : public Harness {
public:
    VerbsHarness(std::string address, std::unique_ptr<verbs::VerbsFabric> server,
                 std::unique_ptr<verbs::VerbsFabric> sibling, std::unique_ptr<verbs::VerbsFabric> client)
        : address_(std::move(address)),
          server_(std::move(server)),
          sibling_(std::move(sibling)),
          client_(std::move(client)) {}

    std::string name() const override { return "verbs"; }
    Fabric& server() override { return *server_; }
    Fabric& client() override { return *client_; }
    Fabric& server_sibling() override { return *sibling_; }
    Address listen_address() override { return Address{address_, 0}; }

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
        if (delivered == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }

    std::string address_;
    std::unique_ptr<verbs::VerbsFabric> server_;
    std::unique_ptr<verbs::VerbsFabric> sibling_;
    std::unique_ptr<verbs::VerbsFabric> client_;
    bool server_frozen_ = false;
};

int rdma_device_count() {
    int count = 0;
    ibv_device** list = ibv_get_device_list(&count);
    if (list) ibv_free_device_list(list);
    return list ? count : 0;
}

std::string configured_address() {
    for (const char* name : {"IBNBD_VERBS_ADDR", "RXE_VM_IP"}) {
        const char* value = std::getenv(name);
        if (value && *value) return value;
    }
    return {};
}

}  // namespace

std::unique_ptr<Harness> make_verbs_harness(std::string& why_not) {
    if (rdma_device_count() == 0) {
        why_not = "no RDMA device on this machine (this kernel has no RDMA driver or rxe link); "
                  "the suite runs on verbs inside the SoftRoCE VM: ctest -L rxe";
        return nullptr;
    }
    const std::string address = configured_address();
    if (address.empty()) {
        why_not = "set IBNBD_VERBS_ADDR to the IP address of an RDMA-capable interface";
        return nullptr;
    }
    verbs::VerbsConfig config;
    config.address = address;
    auto server = verbs::VerbsFabric::create(config);
    if (!server) {
        why_not = "no usable RDMA device for " + address + ": " + std::string(to_string(server.error())) +
                  " (IBNBD_LOG=debug tells more)";
        return nullptr;
    }
    auto sibling = verbs::VerbsFabric::create(config);
    if (!sibling) {
        why_not = "a second fabric on the RDMA device of " + address + " failed: " +
                  std::string(to_string(sibling.error()));
        return nullptr;
    }
    auto client = verbs::VerbsFabric::create(config);
    if (!client) {
        why_not = "a third fabric on the RDMA device of " + address + " failed: " +
                  std::string(to_string(client.error()));
        return nullptr;
    }
    return std::make_unique<VerbsHarness>(address, std::move(*server), std::move(*sibling), std::move(*client));
}

}  // namespace ibnbd::fabric::test
