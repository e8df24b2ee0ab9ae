// The simulated system of one run: a World with server nodes (IBTRS server + IBNBD BlockServer
// over memory stores) and client nodes (one BlockClient per session, devices mapped read-write),
// built from a scenario's topology and settings.
//
// ADDRESSES
//     server j:        172.16.j.(p+1), one per path slot p (the p-th path of every session to it)
//     client i:        10.(i/250+1).(i%250).(k+1), one per path k of the client (all sessions)
//     rogue node:      192.168.j.1 -> 172.16.j.1 (only when a rogue_client fault exists)
//     Every path has its own link, so faults on one path touch nothing else.
//
// TABLES
//     paths(), devices(), servers() are numbered as in Layout (observer.hpp): clients, then
//     sessions, then paths or devices, in topology order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ibtrs/server.hpp"
#include "fabric/sim/world.hpp"
#include "ibnbd/client/block_client.hpp"
#include "ibnbd/server/block_server.hpp"
#include "ibnbd/storage/memory/memory_backend.hpp"
#include "sim-scenarios/lib/server_group.hpp"
#include "sim-scenarios/lib/shard_fabric.hpp"
#include "sim-scenarios/runner/lagging_fabric.hpp"
#include "sim-scenarios/runner/observer.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

inline constexpr std::uint16_t kPort = 1234;

class Cluster {
public:
    struct Server {
        const ServerSpec* spec = nullptr;
        fabric::sim::Node* node = nullptr;
        std::vector<std::string> addresses;
        std::unique_ptr<storage::memory::MemoryCatalog> catalog;  // the disks: they survive crashes
        std::vector<storage::memory::MemoryStore*> stores;        // per DeviceSpec
        std::unique_ptr<ServerGroup> group;  // the process: settings.server_reactors reactors
        bool up = false;
        std::uint32_t crashes = 0;
    };
    struct Path {
        std::string client_address;
        std::string server_address;
        std::uint32_t session = 0;
        std::uint32_t index = 0;      // within its session
        std::string transport_name;   // ClientPath::name()
    };
    struct Device {
        std::uint32_t session = 0;
        std::uint32_t server = 0;
        std::uint32_t store = 0;      // index into Server::stores
        std::string name;
        block::BlockDevice* device = nullptr;
        int map_status = 1;           // 1 until on_mapped
    };
    // One BlockClient and what it reports.
    class Session final : public block::BlockClientHandler, public ibtrs::ClientEventListener {
    public:
        Session(Cluster& cluster, std::uint32_t client, std::uint32_t server, std::string name)
            : client(client), server(server), name(std::move(name)), cluster_(cluster) {}

        const std::uint32_t client;       // index into the topology's clients
        const std::uint32_t server;
        const std::string name;           // wire session name
        std::vector<std::uint32_t> paths;    // global path indices, in session order
        std::vector<std::uint32_t> devices;  // global device indices
        std::unique_ptr<block::BlockClient> block;

        // block::BlockClientHandler
        void on_mapped(block::BlockDevice& device, int status) override;
        void on_device_state(block::BlockDevice& device, block::DeviceState from, block::DeviceState to) override;
        ibtrs::ClientEventListener* transport_listener() override { return this; }
        // ibtrs::ClientEventListener
        void on_path_state(std::string_view path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                           std::string_view reason) override;
        void on_failover(std::string_view from, std::string_view to, std::uint32_t ios) override;
        void on_reconnect_attempt(std::string_view path, std::uint32_t attempt, bool ok) override;

    private:
        std::uint32_t path_of(std::string_view transport_name) const;
        std::uint32_t device_of(const block::BlockDevice& device) const;
        Cluster& cluster_;
    };

    Cluster(const Scenario& scenario, std::uint64_t seed, RunObserver& observer);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    // Starts the servers and the clients and maps every device; waits up to `timeout` of virtual
    // time. Errors: a message saying what did not come up.
    Expected<void, std::string> start(Nanos timeout);

    fabric::sim::World& world() { return world_; }
    const Layout& layout() const { return layout_; }
    std::vector<Server>& servers() { return servers_; }
    const std::vector<Path>& paths() const { return paths_; }
    std::vector<Device>& devices() { return devices_; }
    std::size_t session_count() const;
    const Session& session(std::uint32_t index) const;
    block::BlockClient& block_client(std::uint32_t session);
    // The fabric the session's client runs on (its node, through a LaggingFabric).
    fabric::Fabric& client_fabric(std::uint32_t session);
    // The rogue node and its address toward server j (only with rogue faults).
    fabric::sim::Node* rogue_node() const { return rogue_; }
    std::string rogue_address(std::uint32_t server) const;

    // Server faults: the node dies silently (the stores lose what was not durable) / comes back
    // with a fresh IBTRS and IBNBD server over the same stores.
    void crash_server(std::uint32_t server, std::uint64_t seed);
    void restart_server(std::uint32_t server);
    std::optional<std::uint32_t> server_index(std::string_view name) const;

    // What is still held at the end of a run: permits, in-flight device IO, busy server chunks.
    std::vector<std::string> leaks() const;

private:
    void build_servers();
    void build_clients();
    void start_server(Server& server);
    std::uint32_t add_session(std::uint32_t client, const ClientSpec& spec, const SessionSpec& session,
                              std::uint32_t& next_path);

    const Scenario& scenario_;
    RunObserver& observer_;
    fabric::sim::World world_;
    Layout layout_;
    std::vector<Server> servers_;
    std::vector<fabric::sim::Node*> client_nodes_;
    std::vector<std::unique_ptr<fabric::Fabric>> client_fabrics_;  // LaggingFabric over each client node
    // Per client node with settings.io_shards > 1: the mailboxes of its "reactors" (0: the sessions'
    // own) and a view of its LaggingFabric per further shard.
    struct ClientShards {
        ViewRegistry registry;
        std::vector<std::unique_ptr<SimMailbox>> mailboxes;
        std::vector<std::unique_ptr<ShardFabric>> views;
    };
    std::vector<std::unique_ptr<ClientShards>> client_shards_;
    ibtrs::ShardLayout shard_layout(std::uint32_t client);
    std::vector<Path> paths_;
    std::vector<Device> devices_;
    std::vector<std::unique_ptr<Session>> sessions_;
    fabric::sim::Node* rogue_ = nullptr;
};

}  // namespace ibnbd::scenario
