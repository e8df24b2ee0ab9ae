// Fabric-wide memory windows (fabric.hpp, KEY INVALIDATION AND MEMORY WINDOWS; verbs type 1), the
// windows a server's always_invalidate rotates its chunk keys with: a key reaches over every
// connection of the fabric, a bind of a bound window kills the old key, a zero-length bind revokes
// the key, and the key cannot be invalidated. Each test asserts what happened to memory. Backends
// without them (ofi) skip these, with the reason, and run the one that checks the refusal.
#include <boost/test/unit_test.hpp>

#include "tests/fabric/conformance/conformance.hpp"
#include "tests/fabric/conformance/window_support.hpp"

namespace ibnbd::fabric::test {

namespace {

namespace utf = boost::unit_test;

bool backend_has_fabric_windows() {
    std::string why_not;
    auto harness = make_harness(backend_name(), why_not);
    return harness && harness->server().supports_fabric_windows();
}

boost::test_tools::assertion_result fabric_windows_supported(utf::test_unit_id) {
    boost::test_tools::assertion_result result(backend_has_fabric_windows());
    if (!result) {
        result.message() << "backend " << backend_name()
                         << " has no fabric-wide memory windows (Fabric::supports_fabric_windows() is false)";
    }
    return result;
}

boost::test_tools::assertion_result fabric_windows_unsupported(utf::test_unit_id) {
    boost::test_tools::assertion_result result(!backend_has_fabric_windows());
    if (!result) result.message() << "backend " << backend_name() << " has fabric-wide memory windows";
    return result;
}

// Revokes `window` (a bind of length 0 over `region`) through `endpoint` and waits for it.
RemoteKey revoke_and_wait(Pair& pair, Endpoint& endpoint, const Recorder& events, MemoryWindow& window,
                          Region& region, std::uint64_t context) {
    const WindowBind revocation{region.mr.get(), region.bytes.data(), 0, access_remote_write};
    auto key = endpoint.post_bind_window(context, window, revocation);
    BOOST_REQUIRE_MESSAGE(key.has_value(), "post_bind_window (revoke): " << (key ? Errc{} : key.error()));
    const Completion revoked = wait_for(pair, events, context);
    BOOST_TEST(revoked.opcode == kOpBindWindow);
    BOOST_REQUIRE(revoked.status == WcStatus::success);
    return *key;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fabric_windows)

BOOST_AUTO_TEST_CASE(unsupported_backends_refuse_fabric_windows, *utf::precondition(fabric_windows_unsupported)) {
    auto harness = open_harness();
    BOOST_TEST(!harness->server().supports_fabric_windows());
    BOOST_TEST(fails_with(harness->server().allocate_fabric_window(), Errc::not_supported));
}

// The key a bind on one connection gives works over another connection of the same fabric: the
// kernel's client sends a chunk's next request on whichever connection its CPU picks.
BOOST_AUTO_TEST_CASE(a_key_reaches_over_every_connection_of_the_fabric,
                     *utf::precondition(fabric_windows_supported)) {
    auto harness = open_harness();
    Pair first(*harness);
    Pair second(*harness);
    BOOST_REQUIRE(first.connect());
    BOOST_REQUIRE(second.connect());
    Region target(harness->server(), 8192, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 91);
    auto window = harness->server().allocate_fabric_window();
    BOOST_REQUIRE(window.has_value());
    BOOST_TEST((*window)->rkey() == 0u);
    const RemoteKey key = bind_and_wait(first, first.server(), first.server_events, **window, target, 4096, 4096,
                                        access_remote_write, 10);
    check_client_write_lands(second, source, RemoteKey{key.addr + 64, key.rkey}, target, 4096 + 64, 512, 11);
    check_client_write_lands(first, source, key, target, 4096, 256, 12);
    BOOST_TEST(first.client().connected());
    BOOST_TEST(second.client().connected());
}

// always_invalidate binds a chunk's window again for every response, without invalidating it.
BOOST_AUTO_TEST_CASE(binding_a_bound_window_gives_the_next_key_and_kills_the_old_one,
                     *utf::precondition(fabric_windows_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 92);
    auto window = harness->server().allocate_fabric_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey first = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                          access_remote_write, 20);
    check_client_write_lands(pair, source, first, target, 0, 128, 21);
    const RemoteKey second = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                           access_remote_write, 22);
    BOOST_TEST(second.rkey != first.rkey);
    BOOST_TEST((second.rkey & ~0xFFu) == (first.rkey & ~0xFFu));  // same window, the next tag
    check_client_write_lands(pair, source, second, target, 0, 256, 23);
    check_write_refused(pair, pair.client(), pair.client_events, source, first, target, 24);
}

// A request's arrival revokes its chunk's key: the key stays, valid for nothing, until the next bind.
BOOST_AUTO_TEST_CASE(a_revoked_window_keeps_its_key_and_reaches_nothing,
                     *utf::precondition(fabric_windows_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 93);
    auto window = harness->server().allocate_fabric_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey bound = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                          access_remote_write, 30);
    const RemoteKey revoked = revoke_and_wait(pair, pair.server(), pair.server_events, **window, target, 31);
    BOOST_TEST(revoked.rkey == bound.rkey);
    BOOST_TEST((*window)->rkey() == bound.rkey);
    check_write_refused(pair, pair.client(), pair.client_events, source, bound, target, 32);
}

BOOST_AUTO_TEST_CASE(a_revoked_window_binds_again_with_the_next_key, *utf::precondition(fabric_windows_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion);
    Region source(harness->client(), 4096, access_local_write, 94);
    auto window = harness->server().allocate_fabric_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey first = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                          access_remote_write, 40);
    revoke_and_wait(pair, pair.server(), pair.server_events, **window, target, 41);
    const RemoteKey next = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                         access_remote_write, 42);
    BOOST_TEST(next.rkey != first.rkey);
    check_client_write_lands(pair, source, next, target, 0, 512, 43);
}

BOOST_AUTO_TEST_CASE(a_fabric_window_key_cannot_be_invalidated, *utf::precondition(fabric_windows_supported)) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region target(harness->server(), 4096, kWindowRegion);
    auto window = harness->server().allocate_fabric_window();
    BOOST_REQUIRE(window.has_value());
    const RemoteKey key = bind_and_wait(pair, pair.server(), pair.server_events, **window, target, 0, 4096,
                                        access_remote_write, 50);
    BOOST_REQUIRE(pair.server().post_local_invalidate(51, key.rkey).has_value());
    wait_for_both_disconnected(pair);
    const auto invalidated = find(pair.server_events, 51);
    BOOST_REQUIRE(invalidated.has_value());
    BOOST_TEST(invalidated->status == WcStatus::local_error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ibnbd::fabric::test
