// A run is a pure function of the seed: a mixed workload with jitter, bandwidth and faults gives
// the same trace digest twice with one seed, and a different one with another seed.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/sim/sim_support.hpp"

namespace ibnbd::fabric::sim::test {
namespace {

constexpr std::uint32_t kDepth = 8;
constexpr std::uint32_t kBlock = 512;

// Server side: one handler per accepted path, re-posting every consumed receive.
class Responder final : public ListenerHandler {
public:
    explicit Responder(Node& node) : memory_(node, kBlock * kDepth * 4, kAllAccess, 5) {}
    void on_connect_request(ConnectRequest& request) override {
        auto path = std::make_unique<Path>();
        auto accepted = request.accept({}, *path, QueueSizes{.max_send_wr = 64, .max_recv_wr = 64});
        BOOST_REQUIRE(accepted.has_value());
        path->endpoint = std::move(*accepted);
        paths_.push_back(std::move(path));
    }
    RemoteKey remote(std::size_t offset) const { return memory_.remote(offset); }

private:
    struct Path final : EndpointHandler {
        void on_cm_event(const CmEvent& event) override {
            if (event.type != CmEventType::established) return;
            for (std::uint64_t i = 0; i < 32; ++i) BOOST_REQUIRE(endpoint->post_recv(i, {}).has_value());
        }
        void on_completion(const Completion& completion) override {
            if (completion.status == WcStatus::success && completion.recv_consumed) {
                BOOST_REQUIRE(endpoint->post_recv(completion.context, {}).has_value());
            }
        }
        std::unique_ptr<Endpoint> endpoint;
    };

    Region memory_;
    std::vector<std::unique_ptr<Path>> paths_;
};

// Client side of one path: keeps kDepth operations in flight, of a kind and size drawn from the
// node's stream, and re-posts after each completion until the path breaks.
class Driver final : public EndpointHandler {
public:
    Driver(Node& node, const Responder& responder)
        : node_(node), responder_(responder), memory_(node, kBlock * kDepth * 4, kAllAccess, 6) {}
    void start(std::unique_ptr<Endpoint> endpoint) { endpoint_ = std::move(endpoint); }
    void on_cm_event(const CmEvent& event) override {
        if (event.type == CmEventType::established) {
            for (std::uint64_t i = 0; i < kDepth; ++i) post(i);
        }
    }
    void on_completion(const Completion& completion) override {
        if (completion.status != WcStatus::success) return;
        if (completion.opcode == Opcode::recv) return;
        post(completion.context);
    }
    std::uint64_t completed = 0;

private:
    void post(std::uint64_t slot) {
        ++completed;
        const std::uint64_t draw = node_.random_u64();
        const auto length = static_cast<std::uint32_t>(1 + (draw >> 8) % kBlock);
        Sge piece = memory_.sge(slot * kBlock, length);
        const RemoteKey remote = responder_.remote(slot * kBlock);
        const auto imm = static_cast<std::uint32_t>(draw >> 32);
        switch (draw % 4) {
            case 0: (void)endpoint_->post_write(slot, {&piece, 1}, remote, &imm); break;
            case 1: (void)endpoint_->post_write(slot, {&piece, 1}, remote); break;
            case 2: (void)endpoint_->post_read(slot, {&piece, 1}, remote); break;
            default: (void)endpoint_->post_send(slot, {}, &imm); break;
        }
    }

    Node& node_;
    const Responder& responder_;
    Region memory_;
    std::unique_ptr<Endpoint> endpoint_;
};

struct Outcome {
    std::uint64_t digest;
    std::uint64_t events;
    std::uint64_t operations;
};

Outcome run_mixed_workload(std::uint64_t seed) {
    World world(seed);
    Node& server = world.add_node("server", {"10.0.1.1", "10.0.2.1"});
    Node& client = world.add_node("client", {"10.0.1.2", "10.0.2.2"});
    world.add_link("10.0.1.2", "10.0.1.1", LinkConfig{.latency = 3 * kMicrosecond, .jitter = 2 * kMicrosecond,
                                                      .bandwidth_bytes_per_sec = 10'000'000'000});
    world.add_link("10.0.2.2", "10.0.2.1", LinkConfig{.latency = 5 * kMicrosecond, .jitter = 4 * kMicrosecond,
                                                      .bandwidth_bytes_per_sec = 5'000'000'000});
    Responder responder(server);
    auto listener = server.listen(Address{"", 1234}, responder);
    BOOST_REQUIRE(listener.has_value());
    Driver first(client, responder);
    Driver second(client, responder);
    auto path_one = client.connect(Address{"10.0.1.1", 1234}, Address{"10.0.1.2", 0}, {}, first, QueueSizes{});
    auto path_two = client.connect(Address{"10.0.2.1", 1234}, Address{"10.0.2.2", 0}, {}, second, QueueSizes{});
    BOOST_REQUIRE(path_one.has_value());
    BOOST_REQUIRE(path_two.has_value());
    first.start(std::move(*path_one));
    second.start(std::move(*path_two));

    world.run_for(20 * kMillisecond);
    world.clog_link("10.0.2.2", "10.0.2.1", 30 * kMicrosecond, Direction::a_to_b);
    world.set_link_state("10.0.1.2", "10.0.1.1", false);  // path one will time out
    world.run_for(20 * kMillisecond);
    world.unclog_link("10.0.2.2", "10.0.2.1");
    world.run_for(60 * kMillisecond);
    world.set_link_state("10.0.1.2", "10.0.1.1", true);
    world.run_for(20 * kMillisecond);
    BOOST_TEST(first.completed > 100u);
    BOOST_TEST(second.completed > first.completed);  // path one died half way
    return Outcome{world.trace_digest(), world.stats().events_delivered, world.stats().network_operations()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(determinism)

BOOST_AUTO_TEST_CASE(one_seed_one_trace_two_seeds_two_traces) {
    const Outcome first = run_mixed_workload(11);
    const Outcome again = run_mixed_workload(11);
    const Outcome other = run_mixed_workload(12);
    BOOST_TEST(first.digest == again.digest);
    BOOST_TEST(first.events == again.events);
    BOOST_TEST(first.operations == again.operations);
    BOOST_TEST(first.events > 10'000u);
    BOOST_TEST(first.digest != other.digest);
}

BOOST_AUTO_TEST_CASE(node_streams_depend_on_seed_and_node_only) {
    World one(5);
    World two(5);
    Node& a1 = one.add_node("a", {"1"});
    Node& b1 = one.add_node("b", {"2"});
    Node& a2 = two.add_node("a", {"1"});
    const std::uint64_t first_a = a1.random_u64();
    BOOST_TEST(first_a == a2.random_u64());
    BOOST_TEST(first_a != b1.random_u64());
    World three(6);
    BOOST_TEST(first_a != three.add_node("a", {"1"}).random_u64());
}

BOOST_AUTO_TEST_CASE(observer_sees_every_traced_event_and_faults) {
    TwoNodes net;
    std::vector<TraceEvent> seen;
    net.world.set_trace_observer([&](const TraceEvent& event) { seen.push_back(event); });
    net.connect();
    net.world.set_link_state(kClientAddress, kServerAddress, false, Direction::a_to_b);
    BOOST_REQUIRE(seen.size() == 4u);  // connect request, two established, one fault
    BOOST_TEST((seen[0].kind == TraceKind::connect_request));
    BOOST_TEST((seen[1].kind == TraceKind::cm_event));
    BOOST_TEST(seen[1].code == static_cast<std::uint8_t>(CmEventType::established));
    BOOST_TEST((seen[3].kind == TraceKind::fault));
    BOOST_TEST(seen[3].code == static_cast<std::uint8_t>(FaultKind::link_state));
    BOOST_TEST(seen[3].context == 0u);
    BOOST_TEST(net.world.stats().events_delivered == 3u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
