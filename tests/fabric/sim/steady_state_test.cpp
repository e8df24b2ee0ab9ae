// The IO hot path: exact operation and completion counts per IO, no heap allocation once warm,
// and the rate (reported, not asserted: wall time depends on the machine).
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <new>

#include "tests/fabric/sim/sim_support.hpp"

namespace {
std::size_t allocations = 0;  // the simulator is single-threaded; so is this module
}  // namespace

// Counts every allocation of the test module.
void* operator new(std::size_t size) {
    ++allocations;
    if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
    throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }

namespace ibnbd::fabric::sim::test {
namespace {

constexpr std::uint32_t kDepth = 32;
constexpr std::uint32_t kBlock = 4096;

// The server answers every request (write-with-imm of a block) with an empty write-with-imm.
class PingServer final : public EndpointHandler, public ListenerHandler {
public:
    explicit PingServer(Node& node) : memory(node, kBlock * kDepth, kAllAccess) {}
    void on_connect_request(ConnectRequest& request) override {
        endpoint = request.accept({}, *this, QueueSizes{.max_send_wr = 2 * kDepth, .max_recv_wr = 2 * kDepth}).value();
    }
    void on_completion(const Completion& completion) override {
        if (completion.opcode != Opcode::recv_rdma_with_imm) return;
        if (completion.recv_consumed && !endpoint->post_recv(completion.context, {})) failures++;
        const std::uint32_t imm = completion.imm;
        if (!endpoint->post_write(imm, {}, RemoteKey{}, &imm)) failures++;
    }
    void on_cm_event(const CmEvent& event) override {
        if (event.type != CmEventType::established) return;
        for (std::uint32_t i = 0; i < 2 * kDepth; ++i) BOOST_REQUIRE(endpoint->post_recv(i, {}).has_value());
    }

    Region memory;
    std::unique_ptr<Endpoint> endpoint;
    int failures = 0;
};

class PingClient final : public EndpointHandler {
public:
    PingClient(Node& node, const PingServer& server) : memory(node, kBlock * kDepth, kAllAccess), server_(server) {}
    void on_completion(const Completion& completion) override {
        if (completion.status != WcStatus::success) failures++;
        if (completion.opcode != Opcode::recv_rdma_with_imm) return;
        if (completion.recv_consumed && !endpoint->post_recv(completion.context, {})) failures++;
        ++done;
        issue(completion.imm);
    }
    void on_cm_event(const CmEvent& event) override {
        if (event.type != CmEventType::established) return;
        for (std::uint32_t i = 0; i < 2 * kDepth; ++i) BOOST_REQUIRE(endpoint->post_recv(i, {}).has_value());
        for (std::uint32_t i = 0; i < kDepth; ++i) issue(i);
    }
    void issue(std::uint32_t tag) {
        if (issued == limit) return;
        ++issued;
        Sge block = memory.sge(tag * kBlock, kBlock);
        if (!endpoint->post_write(tag, {&block, 1}, server_.memory.remote(tag * kBlock), &tag)) failures++;
    }

    Region memory;
    std::unique_ptr<Endpoint> endpoint;
    std::uint64_t done = 0;
    std::uint64_t issued = 0;
    std::uint64_t limit = 0;
    int failures = 0;

private:
    const PingServer& server_;
};

void run_ping_pong(ImmMode mode) {
    WorldConfig config;
    config.imm_mode = mode;
    World world(1, config);
    Node& server_node = world.add_node("server", {kServerAddress});
    Node& client_node = world.add_node("client", {kClientAddress});
    world.add_link(kClientAddress, kServerAddress, LinkConfig{.latency = 2 * kMicrosecond, .jitter = 500});
    PingServer server(server_node);
    PingClient client(client_node, server);
    auto listener = server_node.listen(Address{kServerAddress, 1234}, server).value();
    client.endpoint = client_node.connect(listener->address(), Address{}, {}, client, QueueSizes{
        .max_send_wr = 2 * kDepth, .max_recv_wr = 2 * kDepth}).value();
    client.limit = 220'000;
    const auto reach = [&](std::uint64_t count) {
        while (client.done < count && world.step()) {
        }
    };
    reach(10'000);  // warm: every pool and ring has its working size

    const WorldStats before = world.stats();
    const std::uint64_t done_before = client.done;
    const std::size_t allocations_before = allocations;
    const auto start = std::chrono::steady_clock::now();
    reach(done_before + 200'000);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::size_t allocated = allocations - allocations_before;
    const std::uint64_t ios = client.done - done_before;
    const double events_per_io =
        static_cast<double>(world.stats().events_processed - before.events_processed) / static_cast<double>(ios);
    BOOST_TEST(allocated == 0u);

    world.run_for(kSecond);  // drain: every IO issued has completed
    const WorldStats& total = world.stats();
    BOOST_TEST(client.done == client.limit);
    BOOST_TEST(client.failures == 0);
    BOOST_TEST(server.failures == 0);
    BOOST_TEST(total.network_operations() == 2 * client.done);
    BOOST_TEST(total.posted_of(OpKind::write_imm) == 2 * client.done);
    BOOST_TEST(total.completions == 4 * client.done);
    BOOST_TEST(total.messages_delivered == 2 * client.done);
    BOOST_TEST(total.bytes_moved == std::uint64_t{kBlock} * client.done);
    BOOST_TEST_MESSAGE("sim ping-pong (" << (mode == ImmMode::verbs ? "verbs" : "tcp") << "): " << ios << " IOs in "
                                         << seconds << " s = " << static_cast<std::uint64_t>(ios / seconds)
                                         << " IO/s, " << events_per_io << " events per IO");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(steady_state)

BOOST_AUTO_TEST_CASE(two_operations_four_completions_and_no_allocation_per_io) {
    run_ping_pong(ImmMode::verbs);
    run_ping_pong(ImmMode::tcp);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
