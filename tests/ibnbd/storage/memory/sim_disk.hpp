// A simulated node with a memory catalogue and backend, and helpers to run storage operations
// on it in virtual time.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fabric/sim/world.hpp"
#include "ibnbd/storage/memory/memory_backend.hpp"

namespace ibnbd::storage::memory::test {

inline constexpr fabric::Nanos kMicrosecond = 1'000;
inline constexpr fabric::Nanos kMillisecond = 1'000'000;

// Every completion, with the virtual time it arrived at.
struct Recorder : CompletionHandler {
    struct Completion {
        std::uint64_t cookie;
        int status;
        fabric::Nanos at;
    };
    explicit Recorder(fabric::Fabric& node) : node(node) {}
    void on_storage_complete(std::uint64_t cookie, int status) override {
        completions.push_back({cookie, status, node.now()});
    }
    int status_of(std::uint64_t cookie) const {
        for (const auto& completion : completions) {
            if (completion.cookie == cookie) return completion.status;
        }
        return 1;  // not completed
    }
    fabric::Fabric& node;
    std::vector<Completion> completions;
};

inline Request read_request(std::uint64_t offset, std::span<std::byte> buffer) {
    return Request{Op::read, offset, static_cast<std::uint32_t>(buffer.size()), buffer, {}, 0};
}
inline Request write_request(std::uint64_t offset, std::span<std::byte> data, IoFlags flags = {}) {
    return Request{Op::write, offset, static_cast<std::uint32_t>(data.size()), data, flags, 0};
}
inline Request range_request(Op op, std::uint64_t offset, std::uint32_t length, IoFlags flags = {}) {
    return Request{op, offset, length, {}, flags, 0};
}
inline Request flush_request() { return Request{Op::flush, 0, 0, {}, {}, 0}; }

// Bytes that differ by offset and by `seed`, so that a misplaced or stale block shows.
inline std::vector<std::byte> pattern(std::size_t size, std::uint64_t seed) {
    std::vector<std::byte> data(size);
    std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (auto& byte : data) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        byte = static_cast<std::byte>(state);
    }
    return data;
}

inline bool all_zero(std::span<const std::byte> data) {
    for (const std::byte byte : data) {
        if (byte != std::byte{0}) return false;
    }
    return true;
}

struct SimDisk {
    explicit SimDisk(std::uint64_t seed = 1, MemoryBackendConfig config = {})
        : world(seed), node(world.add_node("server", {"10.0.0.1"})), backend(node, catalog, config) {}

    std::unique_ptr<Device> open(const std::string& path, bool writable = true) {
        auto device = backend.open(path, writable);
        BOOST_REQUIRE_MESSAGE(device.has_value(), "open " << path << ": " << (device ? 0 : device.error()));
        return std::move(device.value());
    }

    // Submits one operation and runs the world until it completes: its status, or the submit error.
    int run(Device& device, const Request& request) {
        Recorder recorder(node);
        auto submitted = device.submit(request, recorder, 7);
        if (!submitted) return submitted.error();
        BOOST_REQUIRE(world.run_until([&] { return !recorder.completions.empty(); }, world.now() + kMillisecond * 1000));
        return recorder.completions.front().status;
    }

    std::vector<std::byte> read(Device& device, std::uint64_t offset, std::size_t length) {
        std::vector<std::byte> data(length);
        BOOST_REQUIRE_EQUAL(run(device, read_request(offset, data)), 0);
        return data;
    }

    void write(Device& device, std::uint64_t offset, std::vector<std::byte> data, IoFlags flags = {}) {
        BOOST_REQUIRE_EQUAL(run(device, write_request(offset, data, flags)), 0);
    }

    bool run_until_done(const Recorder& recorder, std::size_t count, fabric::Nanos timeout = kMillisecond * 1000) {
        return world.run_until([&] { return recorder.completions.size() >= count; }, world.now() + timeout);
    }

    fabric::sim::World world;
    fabric::sim::Node& node;
    MemoryCatalog catalog;
    MemoryBackend backend;
};

}  // namespace ibnbd::storage::memory::test
