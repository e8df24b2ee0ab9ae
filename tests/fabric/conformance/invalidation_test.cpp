// Key invalidation and memory windows (fabric.hpp, KEY INVALIDATION AND MEMORY WINDOWS): sends
// with invalidate, local invalidation, type-2 windows bound, invalidated and bound again. Each test
// asserts what happened to memory, not only the statuses. Backends without support (ofi) skip the
// tests that need it (Boost counts them as skipped, with the reason) and run the one that checks
// they refuse everything with not_supported.
#include <algorithm>
#include <cstring>
#include <optional>

#include <boost/test/unit_test.hpp>

#include "tests/fabric/conformance/conformance.hpp"
#include "tests/fabric/conformance/window_support.hpp"

namespace ibnbd::fabric::test {

namespace {

namespace utf = boost::unit_test;


bool backend_supports_invalidation() {
    std::string why_not;
    auto harness = make_harness(backend_name(), why_not);
    return harness && harness->server().supports_invalidation() && harness->client().supports_invalidation();
}

boost::test_tools::assertion_result invalidation_supported(utf::test_unit_id) {
    boost::test_tools::assertion_result result(backend_supports_invalidation());
    if (!result) {
        result.message() << "backend " << backend_name()
                         << " does not support key invalidation (Fabric::supports_invalidation() is false)";
    }
    return result;
}

boost::test_tools::assertion_result invalidation_unsupported(utf::test_unit_id) {
    boost::test_tools::assertion_result result(!backend_supports_invalidation());
    if (!result) result.message() << "backend " << backend_name() << " supports key invalidation";
    return result;
}

// SoftRoCE, the one verbs device tested, checks accesses through a window against its region,
// not against the window's range (verbs_fabric.hpp, KEY INVALIDATION AND MEMORY WINDOWS).
boost::test_tools::assertion_result window_ranges_enforced(utf::test_unit_id id) {
    boost::test_tools::assertion_result result = invalidation_supported(id);
    if (result && backend_name() == "verbs") {
        result = false;
        result.message() << "backend verbs: SoftRoCE checks window accesses against the region only, "
                         << "not the window's range (see verbs_fabric.hpp)";
    }
    return result;
}

// A window that cannot be anyone's: for calls that must fail before looking at the window.
class NoWindow final : public MemoryWindow {
public:
    std::uint32_t rkey() const override { return 0; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(invalidation)

BOOST_AUTO_TEST_CASE(unsupported_backends_refuse_every_operation, *utf::precondition(invalidation_unsupported)) {
    auto harness = open_harness();
    BOOST_TEST(!harness->server().supports_invalidation());
    BOOST_TEST(fails_with(harness->server().allocate_window(), Errc::not_supported));
    std::vector<std::byte> memory(4096);
    BOOST_TEST(fails_with(harness->server().register_memory(memory.data(), memory.size(), kWindowRegion),
                          Errc::not_supported));
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region region(harness->client(), 4096, access_local_write | access_remote_write);
    const Sge sge = region.sge(0, 8);
    const auto send_invalidate = pair.client().post_send_invalidate(1, {&sge, 1}, region.mr->remote_key().rkey);
    BOOST_TEST((!send_invalidate && send_invalidate.error() == Errc::not_supported));
    const auto local_invalidate = pair.client().post_local_invalidate(2, region.mr->remote_key().rkey);
    BOOST_TEST((!local_invalidate && local_invalidate.error() == Errc::not_supported));
    NoWindow window;
    const WindowBind bind{region.mr.get(), region.bytes.data(), 4096, kReadWrite};
    BOOST_TEST(fails_with(pair.client().post_bind_window(3, window, bind), Errc::not_supported));
    // Nothing was posted: nothing completes, and the connection stays up.
    harness->run_for(50 * kMillisecond);
    BOOST_TEST(pair.client_events.completions.empty());
    BOOST_TEST(pair.server_events.completions.empty());
    BOOST_TEST(pair.client().connected());
}

BOOST_AUTO_TEST_CASE(bound_window_gives_the_peer_its_range, *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 8192, kWindowRegion, 81);
    Region source(harness->client(), 4096, access_local_write, 82);
    auto window = harness->server().allocate_window();
    BOOST_REQUIRE(window.has_value());
    BOOST_TEST((*window)->rkey() == 0u);
    const RemoteKey key = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 1024, 4096,
                                        kReadWrite, 10);
    check_client_write_lands(pair, source, RemoteKey{key.addr + 100, key.rkey}, target, 1124, 512, 11);
    const Sge read_sge = source.sge(2048, 256);
    BOOST_REQUIRE(pair.client().post_read(12, {&read_sge, 1}, RemoteKey{key.addr + 2048, key.rkey}).has_value());
    const Completion read = wait_for(pair, pair.client_events, 12);
    BOOST_TEST(read.status == WcStatus::success);
    BOOST_TEST(std::memcmp(source.bytes.data() + 2048, target.bytes.data() + 1024 + 2048, 256) == 0);
    BOOST_TEST(pair.client().connected());
}

// The kernel's rtrs-client with NEED_INVAL: the server writes the data through the client's key,
// then a send with invalidate of that key carries the response; the key is dead afterwards.
BOOST_AUTO_TEST_CASE(send_with_invalidate_reports_the_key_and_revokes_it,
                     *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region buffer(harness->client(), 4096, kWindowRegion);
    Region inbox(harness->client(), 64, access_local_write);
    Region data(harness->server(), 4096, access_local_write, 83);
    auto window = harness->client().allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind_and_wait(pair, pair.client(), pair.client_events, **window, buffer, 0, 4096,
                                        access_remote_write, 20);
    const Sge recv_sge = inbox.sge(0, 64);
    BOOST_REQUIRE(pair.client().post_recv(21, {&recv_sge, 1}).has_value());
    const Sge data_sge = data.sge(0, 2048);
    BOOST_REQUIRE(pair.server().post_write(22, {&data_sge, 1}, key).has_value());
    const Sge response = data.sge(3000, 8);
    BOOST_REQUIRE(pair.server().post_send_invalidate(23, {&response, 1}, key.rkey).has_value());

    const Completion received = wait_for(pair, pair.client_events, 21);
    BOOST_TEST(received.status == WcStatus::success);
    BOOST_TEST(received.opcode == Opcode::recv);
    BOOST_TEST(received.byte_len == 8u);
    BOOST_TEST(!received.has_imm);
    BOOST_TEST(received.has_invalidated_rkey);
    BOOST_TEST(received.invalidated_rkey == key.rkey);
    BOOST_TEST(std::memcmp(inbox.bytes.data(), data.bytes.data() + 3000, 8) == 0);
    BOOST_TEST(std::memcmp(buffer.bytes.data(), data.bytes.data(), 2048) == 0);  // landed before the send
    const Completion sent = wait_for(pair, pair.server_events, 23);
    BOOST_TEST(sent.status == WcStatus::success);
    BOOST_TEST(sent.opcode == Opcode::send);
    BOOST_TEST(pair.client().connected());
    // A late write through the invalidated key: refused, nothing written.
    check_write_refused(pair, pair.server(), pair.server_events, data, key, buffer, 24);
}

BOOST_AUTO_TEST_CASE(local_invalidate_revokes_the_key, *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 84);
    auto window = harness->server().allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                        kReadWrite, 30);
    check_client_write_lands(pair, source, key, target, 0, 128, 31);
    BOOST_REQUIRE(pair.server().post_local_invalidate(32, key.rkey).has_value());
    const Completion invalidated = wait_for(pair, pair.server_events, 32);
    BOOST_TEST(invalidated.status == WcStatus::success);
    BOOST_TEST(invalidated.opcode == kOpLocalInvalidate);
    check_write_refused(pair, pair.client(), pair.client_events, source, key, target, 33);
}

BOOST_AUTO_TEST_CASE(rebinding_gives_a_fresh_key_and_the_old_one_fails, *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 8192, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 85);
    auto window = harness->server().allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey first = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                          kReadWrite, 40);
    BOOST_REQUIRE(pair.server().post_local_invalidate(41, first.rkey).has_value());
    BOOST_REQUIRE(wait_for(pair, pair.server_events, 41).status == WcStatus::success);
    const RemoteKey second = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 4096, 4096,
                                           access_remote_write, 42);
    BOOST_TEST(second.rkey != first.rkey);
    BOOST_TEST((second.rkey & ~0xFFu) == (first.rkey & ~0xFFu));  // same window, the next tag
    check_client_write_lands(pair, source, second, target, 4096, 1024, 43);
    // The old key, even at an address the new binding covers, is refused.
    check_write_refused(pair, pair.client(), pair.client_events, source, RemoteKey{second.addr, first.rkey}, target, 44);
}

BOOST_AUTO_TEST_CASE(destroying_a_window_revokes_its_key, *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 86);
    auto window = harness->server().allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                        kReadWrite, 50);
    window->reset();
    check_write_refused(pair, pair.client(), pair.client_events, source, key, target, 51);
}

BOOST_AUTO_TEST_CASE(a_window_grants_only_the_access_it_was_bound_with, *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion, 87);
    Region source(harness->client(), 4096, access_local_write, 88);
    auto window = harness->server().allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                        access_remote_read, 60);
    const Sge read_sge = source.sge(1024, 512);
    BOOST_REQUIRE(pair.client().post_read(61, {&read_sge, 1}, key).has_value());
    BOOST_REQUIRE(wait_for(pair, pair.client_events, 61).status == WcStatus::success);
    BOOST_TEST(std::memcmp(source.bytes.data() + 1024, target.bytes.data(), 512) == 0);
    check_write_refused(pair, pair.client(), pair.client_events, source, key, target, 62);
}

BOOST_AUTO_TEST_CASE(a_window_grants_only_its_range, *utf::precondition(window_ranges_enforced)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 8192, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 89);
    auto window = harness->server().allocate_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 2048, 2048,
                                        kReadWrite, 70);
    // Inside the region, but 128 of the 256 bytes lie past the window's end.
    check_write_refused(pair, pair.client(), pair.client_events, source, RemoteKey{key.addr + 2048 - 128, key.rkey},
                        target, 71);
}

BOOST_AUTO_TEST_CASE(binding_a_bound_window_fails_and_breaks_the_connection,
                     *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion);
    auto window = harness->server().allocate_window();
    BOOST_REQUIRE(window.has_value());
    bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096, kReadWrite, 80);
    const WindowBind again{target.mr.get(), target.bytes.data(), 1024, kReadWrite};
    BOOST_REQUIRE(pair.server().post_bind_window(81, **window, again).has_value());
    wait_for_both_disconnected(pair);
    const auto second = find(pair.server_events, 81);
    BOOST_REQUIRE(second.has_value());
    BOOST_TEST(second->status == WcStatus::local_error);
    BOOST_TEST(second->opcode == kOpBindWindow);
}

// Keys of register_memory() cannot be invalidated (verbs user memory regions), locally ...
BOOST_AUTO_TEST_CASE(local_invalidate_of_a_region_key_fails_and_breaks_the_connection,
                     *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, access_local_write | access_remote_write);
    BOOST_REQUIRE(pair.server().post_local_invalidate(90, target.mr->remote_key().rkey).has_value());
    wait_for_both_disconnected(pair);
    const auto failed = find(pair.server_events, 90);
    BOOST_REQUIRE(failed.has_value());
    BOOST_TEST(failed->status == WcStatus::local_error);
    BOOST_TEST(failed->opcode == kOpLocalInvalidate);
}

// ... or remotely: the target fails the receive and breaks the connection.
BOOST_AUTO_TEST_CASE(send_with_invalidate_of_a_region_key_fails_the_receive,
                     *utf::precondition(invalidation_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, access_local_write | access_remote_write, 91);
    Region source(harness->client(), 64, access_local_write, 92);
    const std::vector<std::byte> before = target.bytes;
    const Sge recv_sge = target.sge(0, 64);
    BOOST_REQUIRE(pair.server().post_recv(100, {&recv_sge, 1}).has_value());
    const Sge sge = source.sge(0, 8);
    BOOST_REQUIRE(pair.client().post_send_invalidate(101, {&sge, 1}, target.mr->remote_key().rkey).has_value());
    wait_for_both_disconnected(pair);
    const auto received = find(pair.server_events, 100);
    BOOST_REQUIRE(received.has_value());
    BOOST_TEST(received->status == WcStatus::remote_operation_error);
    BOOST_TEST(received->opcode == Opcode::recv);
    // The sender's send: acknowledged first on the simulator and SoftRoCE, a failure elsewhere.
    const auto sent = find(pair.client_events, 101);
    BOOST_REQUIRE(sent.has_value());
    if (backend_is_simulator()) BOOST_TEST(sent->status == WcStatus::success);
    // Nothing outside the receive buffer changed (its own contents are undefined after an error).
    BOOST_TEST(std::equal(before.begin() + 64, before.end(), target.bytes.begin() + 64));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::test
