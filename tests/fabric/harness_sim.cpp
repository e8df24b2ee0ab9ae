// The conformance harness on the simulator: a server node and a client node joined by one link
// with a small latency, in either IMM mode. Time is virtual: run_until() advances it up to the
// deadline in no wall time at all.
#include <cstdint>
#include <memory>
#include <string>

#include "fabric/sim/world.hpp"
#include "fabric/forwarding_fabric.hpp"
#include "tests/fabric/harness.hpp"

namespace ibnbd::fabric::test {
namespace {

constexpr std::uint64_t kSeed = 0x1BBD;
constexpr const char* kServerAddress = "10.0.0.1";
constexpr const char* kClientAddress = "10.0.0.2";

class SimHarness final : public Harness {
public:
    explicit SimHarness(bool imm_consumes_recv)
        : world_(kSeed, make_config(imm_consumes_recv)),
          server_(world_.add_node("server", {kServerAddress})),
          client_(world_.add_node("client", {kClientAddress})),
          server_sibling_(server_),
          name_(imm_consumes_recv ? "sim-verbs" : "sim-tcp") {
        world_.add_link(kClientAddress, kServerAddress, sim::LinkConfig{.latency = 2'000});
    }

    std::string name() const override { return name_; }
    Fabric& server() override { return server_; }
    Fabric& client() override { return client_; }
    // On the simulator a node is one fabric; another reactor of that node is a view of it.
    Fabric& server_sibling() override { return server_sibling_; }
    Address listen_address() override { return Address{kServerAddress, next_port_++}; }

    bool run_until(const std::function<bool()>& done, Nanos timeout) override {
        return world_.run_until(done, sim::later_by(world_.now(), timeout));
    }

    void run_for(Nanos duration) override { world_.run_for(duration); }

    bool kill_server_silently() override {
        server_.crash();
        return true;
    }

private:
    static sim::WorldConfig make_config(bool imm_consumes_recv) {
        sim::WorldConfig config;
        config.imm_mode = imm_consumes_recv ? sim::ImmMode::verbs : sim::ImmMode::tcp;
        return config;
    }

    sim::World world_;
    sim::Node& server_;
    sim::Node& client_;
    ForwardingFabric server_sibling_;
    std::string name_;
    std::uint16_t next_port_ = 7000;
};

}  // namespace

std::unique_ptr<Harness> make_sim_harness(bool imm_consumes_recv, std::string& /*why_not*/) {
    return std::make_unique<SimHarness>(imm_consumes_recv);
}

}  // namespace ibnbd::fabric::test
