// An IBNBD server on one simulated node as it runs on `reactors` reactors (ibnbd-server
// --reactors): per reactor a fabric view of the node, a mailbox, a memory storage backend, a
// BlockServer and an ibtrs::Server, joined by a SessionDirectory and a DeviceLedger; reactor 0
// listens. With one reactor everything sits on the node itself, as before reactors existed.
// Used by the scenario runner (settings.server_reactors) and the block tests.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/server.hpp"
#include "ibnbd/server/block_server.hpp"
#include "ibnbd/storage/memory/memory_backend.hpp"
#include "sim-scenarios/lib/shard_fabric.hpp"

namespace ibnbd::scenario {

struct ServerGroupConfig {
    std::size_t reactors = 1;
    ibtrs::ServerConfig transport;
    std::string dev_search_path = "/srv";
    std::uint32_t storage_queue_depth = 256;  // memory storage operations per device before -EAGAIN
};

class ServerGroup {
public:
    struct Reactor {
        std::unique_ptr<ShardFabric> view;  // none with one reactor: the node itself
        std::unique_ptr<SimMailbox> mailbox;
        std::unique_ptr<storage::memory::MemoryBackend> backend;
        std::unique_ptr<block::BlockServer> blocks;
        std::unique_ptr<ibtrs::Server> server;
    };

    // The transport parameters must pass ibtrs::Server::create() (callers validated them).
    ServerGroup(fabric::Fabric& node, storage::memory::MemoryCatalog& catalog, const ServerGroupConfig& config)
        : directory_(config.reactors) {
        std::vector<ibtrs::ServerPeer> peers;
        std::vector<block::BlockReactor> blocks;
        for (std::size_t i = 0; i < config.reactors; ++i) {
            auto reactor = std::make_unique<Reactor>();
            if (config.reactors > 1) reactor->view = std::make_unique<ShardFabric>(node, views_);
            fabric::Fabric& fabric = reactor->view ? *reactor->view : node;
            reactor->mailbox = std::make_unique<SimMailbox>(fabric);
            reactor->backend = std::make_unique<storage::memory::MemoryBackend>(
                fabric, catalog, storage::memory::MemoryBackendConfig{config.storage_queue_depth});
            reactor->blocks = std::make_unique<block::BlockServer>(
                *reactor->backend, block::BlockServerConfig{config.dev_search_path, &ledger_});
            auto created = ibtrs::Server::create(fabric, config.transport, *reactor->blocks);
            assert(created.has_value());
            reactor->server = std::move(created.value());
            peers.push_back({reactor->server.get(), reactor->mailbox.get()});
            blocks.push_back({reactor->mailbox.get(), reactor->blocks.get()});
            reactors_.push_back(std::move(reactor));
        }
        ibtrs::join_group(directory_, peers);
        block::wake_on_drain(ledger_, std::move(blocks));
    }
    // Tasks still on their way refer to the servers: they run first, then everything goes
    // without further events (as a process that is gone).
    ~ServerGroup() {
        for (auto& reactor : reactors_) reactor->mailbox->run_all();
        for (auto& reactor : reactors_) reactor->server.reset();
        for (auto& reactor : reactors_) reactor->mailbox->run_all();
    }
    ServerGroup(const ServerGroup&) = delete;
    ServerGroup& operator=(const ServerGroup&) = delete;

    Status<int> listen(const fabric::Address& address) { return reactors_.front()->server->listen(address); }

    std::size_t size() const { return reactors_.size(); }
    Reactor& reactor(std::size_t index) { return *reactors_.at(index); }
    const Reactor& reactor(std::size_t index) const { return *reactors_.at(index); }
    block::DeviceLedger& ledger() { return ledger_; }
    // Entries posted through one reactor's view with memory of another's (none may be).
    std::size_t foreign_entries() const {
        std::size_t total = 0;
        for (const auto& reactor : reactors_) total += reactor->view ? reactor->view->foreign_entries : 0;
        return total;
    }

private:
    block::DeviceLedger ledger_;
    ibtrs::SessionDirectory directory_;
    ViewRegistry views_;
    std::vector<std::unique_ptr<Reactor>> reactors_;
};

}  // namespace ibnbd::scenario
