// Per-IO CPU cost of the IBTRS client and server cores together, over a zero-latency simulator:
// 4 KiB writes and reads at queue depth 32 over two paths, with the server's always_invalidate
// off and on. Reports ns per IO (the benchmark's time), simulated IOs per wall-clock second, heap
// allocations per IO (must be 0), network operations per IO and local key operations per IO
// (binds, invalidations); each benchmark's label says them in words and the benchmark reports an
// error when a count is off:
//   off: exactly 2 network operations (docs/protocol.md, decision 7), no key operation;
//   on:  2 for a write, 3 for a read (the data, then the immediate on the send that carries the
//        chunk's next key: the kernel's always_invalidate=Y format), and exactly 2 key operations
//        (the revocation when the request arrives, the bind of the next key with the response).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "core/ibtrs/client_session.hpp"
#include "core/ibtrs/server.hpp"
#include "fabric/sim/world.hpp"
#include "tests/support/alloc_hook.hpp"


namespace {

using namespace ibnbd;
using namespace ibnbd::ibtrs;

constexpr std::uint32_t kBlock = 4096;
constexpr std::uint32_t kDepth = 32;

class Target : public ServerHandler {
public:
    int on_session_connected(ServerSession&) override { return 0; }
    void on_session_disconnected(ServerSession&) override {}
    int on_request(ServerSession& session, RequestId id, Dir, std::span<std::byte>, std::span<const std::byte>) override {
        session.respond(id, 0);
        return 0;
    }
};

class Opener : public ClientSessionHandler {
public:
    void on_open(int status) override { open_status = status; }
    int open_status = 1;
};

// Keeps kDepth requests in flight until `remaining` reaches zero.
class Loop : public IoHandler {
public:
    Loop(ClientSession& session, Dir dir, const RegisteredBuffer& source)
        : session_(session), dir_(dir), source_(source) {}
    void run(std::uint64_t ios) {
        remaining_ = ios;
        for (std::uint32_t i = 0; i < kDepth && remaining_ > 0; ++i) issue(*session_.get_permit());
    }
    bool done() const { return remaining_ == 0 && outstanding_ == 0; }
    void on_io_complete(std::uint64_t permit, int status) override {
        if (status != 0) std::abort();
        --outstanding_;
        if (remaining_ > 0) {
            issue(static_cast<Permit>(permit));
        } else {
            session_.put_permit(static_cast<Permit>(permit));
        }
    }

private:
    void issue(Permit permit) {
        --remaining_;
        ++outstanding_;
        const std::array<std::byte, 8> usr{};
        const fabric::Sge sge = dir_ == Dir::write ? source_.sge(0, kBlock) : session_.read_buffer(permit, kBlock);
        if (!session_.request(dir_, permit, usr, {&sge, 1}, *this, permit)) std::abort();
    }
    ClientSession& session_;
    Dir dir_;
    const RegisteredBuffer& source_;
    std::uint64_t remaining_ = 0;
    std::uint32_t outstanding_ = 0;
};

std::string format_ops(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", value);
    return text;
}

void run_io(benchmark::State& state, Dir dir, bool always_invalidate) {
    fabric::sim::World world(1);
    auto& server_node = world.add_node("server", {"10.0.0.1", "10.0.1.1"});
    auto& client_node = world.add_node("client", {"10.0.0.2", "10.0.1.2"});
    world.add_link("10.0.0.2", "10.0.0.1", {0, 0, 0});
    world.add_link("10.0.1.2", "10.0.1.1", {0, 0, 0});
    Target target;
    ServerConfig server_config;
    server_config.queue_depth = kDepth;
    server_config.chunk_size = 16384;
    server_config.always_invalidate = always_invalidate;
    auto server = std::move(Server::create(server_node, server_config, target).value());
    (void)server->listen({"10.0.0.1", 1234});
    (void)server->listen({"10.0.1.1", 1234});
    Opener opener;
    ClientConfig config;
    config.session_name = "bench";
    auto session = std::move(ClientSession::create(client_node, config,
                                                   {{{"10.0.0.2", 0}, {"10.0.0.1", 1234}},
                                                    {{"10.0.1.2", 0}, {"10.0.1.1", 1234}}},
                                                   opener).value());
    session->start();
    world.run_until([&] { return session->connected_paths() == 2; }, world.now() + 1'000'000'000);
    if (session->connected_paths() != 2) {
        state.SkipWithError("session did not connect");
        return;
    }
    auto source = std::move(RegisteredBuffer::create(client_node, kBlock, fabric::access_local_write).value());
    Loop loop(*session, dir, source);
    const std::function<bool()> done = [&] { return loop.done(); };
    loop.run(10'000);  // warm-up
    world.run_until(done, world.now() + 3'600'000'000'000);

    std::uint64_t ios = 0;
    std::uint64_t allocations = 0;
    std::uint64_t operations = 0;
    std::uint64_t key_operations = 0;
    const auto key_ops = [&] {
        return world.stats().posted_of(fabric::sim::OpKind::bind_window) +
               world.stats().posted_of(fabric::sim::OpKind::local_invalidate);
    };
    for (auto _ : state) {
        const std::uint64_t ops_before = world.stats().network_operations();
        const std::uint64_t key_ops_before = key_ops();
        const std::uint64_t allocs_before = ibnbd::test::allocation_count();
        loop.run(10'000);
        world.run_until(done, world.now() + 3'600'000'000'000);
        allocations += ibnbd::test::allocation_count() - allocs_before;
        operations += world.stats().network_operations() - ops_before;
        key_operations += key_ops() - key_ops_before;
        ios += 10'000;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(ios));
    state.counters["ns_per_io"] = benchmark::Counter(static_cast<double>(ios), benchmark::Counter::kIsRate |
                                                                               benchmark::Counter::kInvert);
    state.counters["allocs_per_io"] = static_cast<double>(allocations) / static_cast<double>(ios);
    const double net_ops = static_cast<double>(operations) / static_cast<double>(ios);
    state.counters["net_ops_per_io"] = net_ops;
    const double key_ops_per_io = static_cast<double>(key_operations) / static_cast<double>(ios);
    state.counters["key_ops_per_io"] = key_ops_per_io;
    state.counters["sim_ios_per_s"] = benchmark::Counter(static_cast<double>(ios), benchmark::Counter::kIsRate);
    const double expected_net_ops = always_invalidate && dir == Dir::read ? 3.0 : 2.0;
    const double expected_key_ops = always_invalidate ? 2.0 : 0.0;
    state.SetLabel(std::string(dir == Dir::read ? "read" : "write") + ", always_invalidate " +
                   (always_invalidate ? "on" : "off") + ": " + format_ops(net_ops) +
                   " network messages per IO (goal: exactly " + format_ops(expected_net_ops) + "), " +
                   format_ops(key_ops_per_io) + " key operations (goal: exactly " + format_ops(expected_key_ops) + ")");
    // A regression here is a protocol change, not noise: make it impossible to miss.
    if (net_ops != expected_net_ops) {
        state.SkipWithError(("expected exactly " + format_ops(expected_net_ops) + " network messages per IO, got " +
                             format_ops(net_ops)).c_str());
    }
    if (key_ops_per_io != expected_key_ops) {
        state.SkipWithError(("expected exactly " + format_ops(expected_key_ops) + " key operations per IO, got " +
                             format_ops(key_ops_per_io)).c_str());
    }
    if (allocations != 0) state.SkipWithError("the IO path allocated");
}

void BM_ibtrs_write_4k_qd32(benchmark::State& state) { run_io(state, Dir::write, false); }
void BM_ibtrs_read_4k_qd32(benchmark::State& state) { run_io(state, Dir::read, false); }
void BM_ibtrs_write_4k_qd32_always_invalidate(benchmark::State& state) { run_io(state, Dir::write, true); }
void BM_ibtrs_read_4k_qd32_always_invalidate(benchmark::State& state) { run_io(state, Dir::read, true); }

}  // namespace

BENCHMARK(BM_ibtrs_write_4k_qd32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ibtrs_read_4k_qd32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ibtrs_write_4k_qd32_always_invalidate)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ibtrs_read_4k_qd32_always_invalidate)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
