// The simulator's model of keys and type-2 memory windows beyond the conformance suite: keys
// tied to the connection that bound them, the 8-bit key tag that wraps, local operations in
// send-queue order, and determinism.
#include <cstring>

#include <boost/test/unit_test.hpp>

#include "tests/fabric/sim/sim_support.hpp"

namespace ibnbd::fabric::sim::test {
namespace {

constexpr Nanos kLatency = 10 * kMicrosecond;
constexpr std::uint32_t kWindowRegion = kAllAccess | access_window_bind;
constexpr std::uint32_t kReadWrite = access_remote_read | access_remote_write;

WindowBind whole(Region& region, std::uint32_t access = kReadWrite) {
    return WindowBind{region.mr.get(), region.bytes.data(), region.bytes.size(), access};
}

// Posts a bind of `window` through `endpoint`, runs until it completed, and returns its key.
RemoteKey bind(TwoNodes& net, Endpoint& endpoint, const Recorder& events, MemoryWindow& window,
               const WindowBind& what, std::uint64_t context) {
    auto key = endpoint.post_bind_window(context, window, what);
    BOOST_REQUIRE(key.has_value());
    BOOST_REQUIRE(net.run_until([&] { return events.find(context).has_value(); }));
    BOOST_REQUIRE(events.find(context)->completion.status == WcStatus::success);
    return *key;
}

void invalidate(TwoNodes& net, Endpoint& endpoint, const Recorder& events, std::uint32_t rkey,
                std::uint64_t context) {
    BOOST_REQUIRE(endpoint.post_local_invalidate(context, rkey).has_value());
    BOOST_REQUIRE(net.run_until([&] { return events.find(context).has_value(); }));
    BOOST_REQUIRE(events.find(context)->completion.status == WcStatus::success);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(windows)

// Verbs keeps a window's index and counts binds in the key's low 8 bits (ibv_inc_rkey): the
// 257th key of a window is its first again, and the first key works again.
BOOST_AUTO_TEST_CASE(a_windows_keys_come_back_after_256_binds) {
    TwoNodes net(3, {}, LinkConfig{.latency = kLatency});
    net.connect(QueueSizes{8, 8});
    Region target(net.server_node, 4096, kWindowRegion);
    Region source(net.client_node, 4096, kAllAccess, 5);
    auto window = net.server_node.allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey first = bind(net, net.server(), net.server_events, **window, whole(target), 1);
    RemoteKey key = first;
    for (std::uint64_t i = 0; i < 256; ++i) {
        invalidate(net, net.server(), net.server_events, key.rkey, 1000 + i);
        key = bind(net, net.server(), net.server_events, **window, whole(target), 2000 + i);
        BOOST_REQUIRE((key.rkey == first.rkey) == (i == 255));
        BOOST_REQUIRE((key.rkey >> 8) == (first.rkey >> 8));
    }
    const Sge sge = source.sge(0, 64);
    BOOST_REQUIRE(net.client().post_write(3, {&sge, 1}, first).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(3).has_value(); }));
    BOOST_TEST(net.client_events.find(3)->completion.status == WcStatus::success);
    BOOST_TEST(std::memcmp(target.bytes.data(), source.bytes.data(), 64) == 0);
}

// Type 2B: a window's key is tied to the queue pair that bound it. Another connection between
// the same two nodes can neither use it nor invalidate it.
BOOST_AUTO_TEST_CASE(a_key_works_only_over_the_connection_that_bound_it) {
    TwoNodes net(4, {}, LinkConfig{.latency = kLatency});
    net.connect();
    Recorder other_events(net.world);
    auto other = net.client_node.connect(net.listener->address(), Address{}, {}, other_events, QueueSizes{});
    BOOST_REQUIRE(other.has_value());
    BOOST_REQUIRE(net.run_until([&] {
        return other_events.has(CmEventType::established) && net.server_events.count(CmEventType::established) == 2;
    }));
    BOOST_REQUIRE(net.acceptor.endpoints.size() == 2u);
    Endpoint& first_server = *net.acceptor.endpoints[0];
    Region target(net.server_node, 4096, kWindowRegion);
    Region source(net.client_node, 4096, kAllAccess, 6);
    auto window = net.server_node.allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind(net, first_server, net.server_events, **window, whole(target), 1);
    const std::vector<std::byte> before = target.bytes;
    const Sge sge = source.sge(0, 64);
    BOOST_REQUIRE((*other)->post_write(2, {&sge, 1}, key).has_value());
    BOOST_REQUIRE(net.run_until([&] { return other_events.has(CmEventType::disconnected); }));
    BOOST_TEST(other_events.find(2)->completion.status == WcStatus::remote_access_error);
    BOOST_TEST((target.bytes == before));
    // The connection that bound it still uses it.
    BOOST_REQUIRE(net.client().post_write(3, {&sge, 1}, key).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(3).has_value(); }));
    BOOST_TEST(net.client_events.find(3)->completion.status == WcStatus::success);
    BOOST_TEST(std::memcmp(target.bytes.data(), source.bytes.data(), 64) == 0);
}

BOOST_AUTO_TEST_CASE(a_send_with_invalidate_over_another_connection_fails_the_receive) {
    TwoNodes net(5, {}, LinkConfig{.latency = kLatency});
    net.connect();
    Recorder other_events(net.world);
    auto other = net.client_node.connect(net.listener->address(), Address{}, {}, other_events, QueueSizes{});
    BOOST_REQUIRE(other.has_value());
    BOOST_REQUIRE(net.run_until([&] {
        return other_events.has(CmEventType::established) && net.server_events.count(CmEventType::established) == 2;
    }));
    BOOST_REQUIRE(net.acceptor.endpoints.size() == 2u);
    Endpoint& first_server = *net.acceptor.endpoints[0];
    Endpoint& second_server = *net.acceptor.endpoints[1];
    Region target(net.server_node, 4096, kWindowRegion);
    auto window = net.server_node.allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind(net, first_server, net.server_events, **window, whole(target), 1);
    BOOST_REQUIRE(second_server.post_recv(2, {}).has_value());
    BOOST_REQUIRE((*other)->post_send_invalidate(3, {}, key.rkey).has_value());
    BOOST_REQUIRE(net.run_until([&] { return other_events.has(CmEventType::disconnected); }));
    const auto received = net.server_events.find(2);
    BOOST_REQUIRE(received.has_value());
    BOOST_TEST(received->completion.status == WcStatus::remote_operation_error);
    BOOST_TEST(other_events.find(3)->completion.status == WcStatus::success);
    // The key was not invalidated: it still serves the connection that bound it.
    BOOST_REQUIRE(first_server.post_local_invalidate(4, key.rkey).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.server_events.find(4).has_value(); }));
    BOOST_TEST(net.server_events.find(4)->completion.status == WcStatus::success);
}

// Local operations wait in the send queue behind earlier work and complete right after it:
// the bind completes with the write's acknowledgement, after the write.
BOOST_AUTO_TEST_CASE(local_operations_complete_in_post_order) {
    TwoNodes net(6, {}, LinkConfig{.latency = kLatency});
    net.connect();
    Region mine(net.server_node, 4096, kWindowRegion);
    Region theirs(net.client_node, 4096, kAllAccess);
    auto window = net.server_node.allocate_window();
    BOOST_REQUIRE(window.has_value());
    const std::uint64_t operations = net.world.stats().network_operations();
    const Nanos start = net.world.now();
    const Sge sge = mine.sge(0, 128);
    BOOST_REQUIRE(net.server().post_write(1, {&sge, 1}, theirs.remote(0)).has_value());
    BOOST_REQUIRE(net.server().post_bind_window(2, **window, whole(mine)).has_value());
    BOOST_REQUIRE(net.run_until([&] { return net.server_events.completions.size() == 2; }));
    const auto& done = net.server_events.completions;
    BOOST_TEST(done[0].completion.context == 1u);
    BOOST_TEST(done[1].completion.context == 2u);
    BOOST_TEST(done[1].completion.opcode == kOpBindWindow);
    BOOST_TEST(done[1].time == done[0].time);
    BOOST_TEST(done[0].time == start + 2 * kLatency);
    BOOST_TEST(net.world.stats().network_operations() == operations + 1);  // a bind crosses no link
    BOOST_TEST(net.world.stats().posted_of(OpKind::bind_window) == 1u);
}

// An invalidated key is no window's current key any more: invalidating it again fails.
BOOST_AUTO_TEST_CASE(invalidating_a_key_twice_fails_and_breaks_both_sides) {
    TwoNodes net(7, {}, LinkConfig{.latency = kLatency});
    net.connect();
    Region target(net.server_node, 4096, kWindowRegion);
    auto window = net.server_node.allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind(net, net.server(), net.server_events, **window, whole(target), 1);
    invalidate(net, net.server(), net.server_events, key.rkey, 2);
    BOOST_REQUIRE(net.server().post_local_invalidate(3, key.rkey).has_value());
    BOOST_REQUIRE(net.run_until([&] {
        return net.server_events.has(CmEventType::disconnected) && net.client_events.has(CmEventType::disconnected);
    }));
    BOOST_TEST(net.server_events.find(3)->completion.status == WcStatus::local_error);
    BOOST_TEST(net.server_events.find(3)->completion.opcode == kOpLocalInvalidate);
}

BOOST_AUTO_TEST_CASE(bind_arguments_are_checked_when_posting) {
    TwoNodes net(8);
    net.connect();
    Region plain(net.server_node, 4096, kAllAccess);
    Region bindable(net.server_node, 4096, kWindowRegion);
    Region read_only(net.server_node, 4096, access_remote_read | access_window_bind);
    Region elsewhere(net.client_node, 4096, kWindowRegion);
    auto window = net.server_node.allocate_window();
    auto foreign = net.client_node.allocate_window();
    BOOST_REQUIRE(window.has_value());
    BOOST_REQUIRE(foreign.has_value());
    Endpoint& server = net.server();
    BOOST_TEST(fails_with(server.post_bind_window(1, **window, whole(plain)), Errc::invalid_argument));
    BOOST_TEST(fails_with(server.post_bind_window(1, **window, whole(elsewhere)), Errc::invalid_argument));
    BOOST_TEST(fails_with(server.post_bind_window(1, **foreign, whole(bindable)), Errc::invalid_argument));
    BOOST_TEST(fails_with(server.post_bind_window(1, **window, whole(read_only)), Errc::invalid_argument));
    BOOST_TEST(server.post_bind_window(1, **window, whole(read_only, access_remote_read)).has_value());
    WindowBind outside = whole(bindable);
    outside.addr += 1;
    BOOST_TEST(fails_with(server.post_bind_window(2, **window, outside), Errc::invalid_argument));
    WindowBind empty = whole(bindable);
    empty.length = 0;
    BOOST_TEST(fails_with(server.post_bind_window(2, **window, empty), Errc::invalid_argument));
    BOOST_TEST(fails_with(server.post_bind_window(2, **window, whole(bindable, access_local_write)),
                          Errc::invalid_argument));
    BOOST_TEST((*window)->rkey() != 0u);  // the one bind that was posted
    net.server_node.crash();
    BOOST_TEST(fails_with(net.server_node.allocate_window(), Errc::no_resources));
}

namespace {

struct WindowRun {
    std::uint64_t digest;
    std::uint32_t first_key;
};

// Binds, uses, invalidates remotely and rebinds a window a few times over a jittery link.
WindowRun run_window_workload(std::uint64_t seed) {
    TwoNodes net(seed, {}, LinkConfig{.latency = kLatency, .jitter = 3 * kMicrosecond});
    net.connect();
    Region target(net.client_node, 4096, kWindowRegion);
    Region source(net.server_node, 4096, kAllAccess, 9);
    Region inbox(net.client_node, 64, kAllAccess);
    auto window = net.client_node.allocate_window();
    BOOST_REQUIRE(window.has_value());
    WindowRun run{0, 0};
    for (std::uint64_t round = 0; round < 20; ++round) {
        const RemoteKey key = bind(net, net.client(), net.client_events, **window, whole(target), 100 + round);
        if (round == 0) run.first_key = key.rkey;
        const Sge recv_sge = inbox.sge(0, 64);
        BOOST_REQUIRE(net.client().post_recv(200 + round, {&recv_sge, 1}).has_value());
        const Sge data = source.sge(round * 64, 64);
        BOOST_REQUIRE(net.server().post_write(300 + round, {&data, 1}, key).has_value());
        BOOST_REQUIRE(net.server().post_send_invalidate(400 + round, {}, key.rkey).has_value());
        BOOST_REQUIRE(net.run_until([&] { return net.client_events.find(200 + round).has_value(); }));
        BOOST_REQUIRE(net.client_events.find(200 + round)->completion.has_invalidated_rkey);
    }
    run.digest = net.world.trace_digest();
    return run;
}

}  // namespace

BOOST_AUTO_TEST_CASE(windows_keep_a_run_deterministic) {
    const WindowRun first = run_window_workload(21);
    const WindowRun again = run_window_workload(21);
    const WindowRun other = run_window_workload(22);
    BOOST_TEST(first.digest == again.digest);
    BOOST_TEST(first.first_key == again.first_key);
    BOOST_TEST(first.digest != other.digest);
    BOOST_TEST(first.first_key != other.first_key);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::sim::test
