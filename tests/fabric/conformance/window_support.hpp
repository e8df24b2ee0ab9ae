// Helpers of the memory window conformance tests (invalidation_test.cpp, fabric_windows_test.cpp).
#pragma once

#include <cstring>
#include <optional>

#include <boost/test/unit_test.hpp>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

inline constexpr std::uint32_t kWindowRegion = access_local_write | access_remote_read | access_remote_write | access_window_bind;
inline constexpr std::uint32_t kReadWrite = access_remote_read | access_remote_write;

inline std::optional<Completion> find(const Recorder& events, std::uint64_t context) {
    for (const Completion& completion : events.completions) {
        if (completion.context == context) return completion;
    }
    return std::nullopt;
}

// Binds `window` over `length` bytes at `offset` of `region` through `endpoint` and waits until the
// bind completed with success; returns the window's remote key.
inline RemoteKey bind_and_wait(Pair& pair, Endpoint& endpoint, const Recorder& events, MemoryWindow& window,
                        Region& region, std::size_t offset, std::uint64_t length, std::uint32_t access,
                        std::uint64_t context) {
    const WindowBind bind{region.mr.get(), region.bytes.data() + offset, length, access};
    auto key = endpoint.post_bind_window(context, window, bind);
    BOOST_REQUIRE_MESSAGE(key.has_value(), "post_bind_window: " << (key ? Errc{} : key.error()));
    BOOST_REQUIRE(pair.run_until([&] { return find(events, context).has_value(); }));
    const Completion bound = *find(events, context);
    BOOST_TEST(bound.opcode == kOpBindWindow);
    BOOST_REQUIRE(bound.status == WcStatus::success);
    BOOST_TEST(key->addr == reinterpret_cast<std::uint64_t>(region.bytes.data() + offset));
    BOOST_TEST(key->rkey == window.rkey());
    BOOST_TEST(key->rkey != region.mr->remote_key().rkey);
    return *key;
}

// Runs until `context` completed on `events`; returns that completion.
inline Completion wait_for(Pair& pair, const Recorder& events, std::uint64_t context) {
    BOOST_REQUIRE(pair.run_until([&] { return find(events, context).has_value(); }));
    return *find(events, context);
}

inline void wait_for_both_disconnected(Pair& pair) {
    BOOST_REQUIRE(pair.run_until([&] {
        return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
    }));
}

// A write through `key` from `initiator` fails with remote_access_error, leaves `target` as it
// was, and breaks the connection on both sides.
inline void check_write_refused(Pair& pair, Endpoint& initiator, const Recorder& initiator_events, Region& source,
                         RemoteKey key, const Region& target, std::uint64_t context) {
    const std::vector<std::byte> before = target.bytes;
    const Sge sge = source.sge(0, 256);
    BOOST_REQUIRE(initiator.post_write(context, {&sge, 1}, key).has_value());
    wait_for_both_disconnected(pair);
    const auto written = find(initiator_events, context);
    BOOST_REQUIRE(written.has_value());
    BOOST_TEST(written->status == WcStatus::remote_access_error);
    BOOST_TEST((target.bytes == before), "the target's memory changed through a refused key");
}

// A write of `source`'s first `length` bytes through `key` from the client succeeds and lands.
inline void check_client_write_lands(Pair& pair, Region& source, RemoteKey key, const Region& target,
                              std::size_t target_offset, std::uint32_t length, std::uint64_t context) {
    const Sge sge = source.sge(0, length);
    BOOST_REQUIRE(pair.client().post_write(context, {&sge, 1}, key).has_value());
    const Completion written = wait_for(pair, pair.client_events, context);
    BOOST_REQUIRE(written.status == WcStatus::success);
    BOOST_TEST(pair.run_until([&] {
        return std::memcmp(target.bytes.data() + target_offset, source.bytes.data(), length) == 0;
    }));
}

}  // namespace ibnbd::fabric::test
