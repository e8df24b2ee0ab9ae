// IBNBD on the simulator: a server node with an IBTRS server, a BlockServer over memory stores,
// and client nodes with BlockClients, joined by two paths each.
#pragma once

#include <functional>
#include <ostream>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/server.hpp"
#include "fabric/sim/world.hpp"
#include "ibnbd/client/block_client.hpp"
#include "ibnbd/server/block_server.hpp"
#include "ibnbd/storage/memory/memory_backend.hpp"
#include "sim-scenarios/lib/block_oracle.hpp"
#include "sim-scenarios/lib/server_group.hpp"

namespace ibnbd::block {
inline std::ostream& operator<<(std::ostream& os, DeviceState state) { return os << to_string(state); }
}  // namespace ibnbd::block

namespace ibnbd::block::test {

using ibtrs::kMillisecond;
using ibtrs::kSecond;

inline std::string server_address(int path) { return "10.0." + std::to_string(path) + ".1"; }
inline std::string client_address(int client, int path) {
    return "10." + std::to_string(client + 1) + "." + std::to_string(path) + ".2";
}

// Collects block IO completions (cookie, status) in arrival order.
struct Collect : BlockIoHandler {
    void on_block_io_complete(std::uint64_t cookie, int status) override { results.emplace_back(cookie, status); }
    std::vector<std::pair<std::uint64_t, int>> results;
    int status_of(std::uint64_t cookie) const {
        for (const auto& [c, s] : results) {
            if (c == cookie) return s;
        }
        return 1;
    }
};

// Records what a BlockClient reports.
struct ClientEvents : BlockClientHandler {
    void on_mapped(BlockDevice& device, int status) override {
        mapped.push_back(&device);
        statuses.push_back(status);
    }
    void on_unmapped(BlockDevice&) override { ++unmapped; }
    void on_device_changed(BlockDevice&, const DeviceInfo&) override { ++changed; }
    int status_of(const BlockDevice* device) const {
        for (std::size_t i = mapped.size(); i-- > 0;) {  // newest first: addresses get reused
            if (mapped[i] == device) return statuses[i];
        }
        return 1;  // not reported yet
    }
    std::vector<BlockDevice*> mapped;
    std::vector<int> statuses;
    int unmapped = 0;
    int changed = 0;
};

struct BlockCluster {
    static constexpr int kClients = 3;
    static constexpr int kPaths = 2;

    // storage_queue_depth: operations the memory storage takes per device before -EAGAIN.
    // server_reactors > 1: the server runs as it does on that many reactors (one fabric view,
    // storage backend, BlockServer and ibtrs::Server each, sharing a directory and a ledger;
    // reactor 0 listens).
    explicit BlockCluster(std::uint64_t seed = 1, std::string search_path = "/srv",
                          std::uint32_t storage_queue_depth = 256, std::size_t server_reactors = 1)
        : world(seed), server_node(world.add_node("server", {server_address(0), server_address(1)})),
          search_path_(std::move(search_path)), storage_queue_depth_(storage_queue_depth),
          server_reactors_(server_reactors) {
        for (int c = 0; c < kClients; ++c) {
            std::vector<std::string> addresses;
            for (int p = 0; p < kPaths; ++p) addresses.push_back(client_address(c, p));
            client_nodes.push_back(&world.add_node("client" + std::to_string(c), addresses));
            for (int p = 0; p < kPaths; ++p) world.add_link(client_address(c, p), server_address(p), {5'000, 1'000, 0});
        }
        start_server();
    }

    void start_server() {
        scenario::ServerGroupConfig config;
        config.reactors = server_reactors_;
        config.transport.queue_depth = 32;
        config.transport.chunk_size = 16384;
        config.transport.heartbeat = {100 * kMillisecond, 3};
        config.dev_search_path = search_path_;
        config.storage_queue_depth = storage_queue_depth_;
        group = std::make_unique<scenario::ServerGroup>(server_node, catalog, config);
        for (int p = 0; p < kPaths; ++p) BOOST_REQUIRE(group->listen({server_address(p), 1234}).has_value());
        backend = group->reactor(0).backend.get();
        block_server = group->reactor(0).blocks.get();
        server = group->reactor(0).server.get();
    }

    // Crash of the server node: the process is gone, the memory stores lose what was not durable.
    void crash_server(std::uint64_t seed) {
        server_node.crash();
        group.reset();
        server = nullptr;
        block_server = nullptr;
        backend = nullptr;
        catalog.crash_all(seed);
    }
    void restart_server() {
        server_node.restart();
        start_server();
    }

    // `shards`: where the client's IO shards beyond the first run (ShardLayout, see tests/support).
    std::unique_ptr<BlockClient> client(int index, const std::string& session, int paths = 2,
                                        fabric::Nanos wait_while_reconnecting = 0, ibtrs::ShardLayout shards = {},
                                        fabric::Fabric* home = nullptr) {
        BlockClientConfig config;
        config.transport.session_name = session;
        config.transport.heartbeat = {100 * kMillisecond, 3};
        config.transport.reconnect_delay = 100 * kMillisecond;
        config.transport.reconnect_max_delay = 400 * kMillisecond;
        config.transport.reconnect_jitter = 20 * kMillisecond;
        config.wait_while_reconnecting = wait_while_reconnecting;
        std::vector<ibtrs::PathSpec> specs;
        for (int p = 0; p < paths; ++p) specs.push_back({{client_address(index, p), 0}, {server_address(p), 1234}});
        fabric::Fabric& fabric = home ? *home : *client_nodes[index];
        auto created = BlockClient::create(fabric, config, specs, events[index], std::move(shards));
        BOOST_REQUIRE(created.has_value());
        return std::move(created.value());
    }

    // Maps and waits; returns the device (nullptr on failure, with the status in *status).
    BlockDevice* map(BlockClient& client, int index, const std::string& name, wire::AccessMode mode,
                     int* status = nullptr) {
        const std::size_t reports = events[index].mapped.size();
        auto device = client.map(name, mode);
        if (!device) {
            if (status) *status = device.error();
            return nullptr;
        }
        BlockDevice* result = *device;
        BOOST_REQUIRE(run_until([&] { return events[index].mapped.size() > reports; }, 5 * kSecond));
        BOOST_REQUIRE(events[index].mapped.back() == result);
        const int outcome = events[index].statuses.back();
        if (status) *status = outcome;
        return outcome == 0 ? result : nullptr;
    }

    bool run_until(const std::function<bool()>& done, fabric::Nanos timeout) {
        return world.run_until(done, world.now() + timeout);
    }
    void run_for(fabric::Nanos duration) { world.run_until(world.now() + duration); }

    bool drive(scenario::BlockOracle& oracle, fabric::Nanos timeout = 60 * kSecond) {
        oracle.pump();
        return run_until([&] { return oracle.done(); }, timeout);
    }

    fabric::sim::World world;
    fabric::sim::Node& server_node;
    std::vector<fabric::sim::Node*> client_nodes;
    storage::memory::MemoryCatalog catalog;
    std::unique_ptr<scenario::ServerGroup> group;
    // Reactor 0's (the only one unless server_reactors > 1).
    storage::memory::MemoryBackend* backend = nullptr;
    BlockServer* block_server = nullptr;
    ibtrs::Server* server = nullptr;
    ClientEvents events[kClients];

private:
    std::string search_path_;
    std::uint32_t storage_queue_depth_ = 256;
    std::size_t server_reactors_ = 1;
};

}  // namespace ibnbd::block::test
