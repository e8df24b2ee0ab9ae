// ClientService's state of a session and of a mapped device (client_service.cpp: the commands;
// client_exports.cpp: the NBD and ublk exports). Internal to those two files.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "ibnbd/daemon/client_service.hpp"
#include "ibnbd/daemon/ublk_export.hpp"

namespace ibnbd::daemon {

struct ClientService::Device {
    std::string name;
    wire::AccessMode mode = wire::AccessMode::rw;
    block::BlockDevice* device = nullptr;
    std::string nbd_socket;
    std::string nbd_tcp;  // "HOST:PORT" asked for at map (loopback only); empty: none
    std::unique_ptr<BlockDeviceTarget> target;
    std::unique_ptr<nbd::NbdServer> nbd;
    std::unique_ptr<nbd::NbdServer> nbd_tcp_server;
    struct Remote {
        ShardExport* host = nullptr;  // owned; destroyed on its reactor
        runtime::Reactor* reactor = nullptr;
    };
    std::vector<Remote> remote;  // by shard - 1
    std::size_t next_reactor = 0;  // round-robin of accepted NBD connections
    Responder pending_map;
    ExportKind exports = ExportKind::nbd;
    std::unique_ptr<UblkExport> ublk;
    bool ublk_busy = false;  // its start or stop is under way

    // Before a forced unmap: the NBD targets here and on the other reactors answer -ENODEV.
    void invalidate_nbd_targets() {
        if (target) target->invalidate();
        for (const Remote& shard : remote) {
            shard.reactor->post_message([host = shard.host] { host->invalidate(); });
        }
    }

    // Remote connections count once they chose the export (they are the copies' users).
    std::size_t nbd_connections() const {
        std::size_t remote_users = 0;
        for (std::size_t shard = 1; device && shard <= remote.size(); ++shard) {
            remote_users += device->shard_copy(shard)->users();
        }
        return (nbd ? nbd->connections() : 0) + (nbd_tcp_server ? nbd_tcp_server->connections() : 0) + remote_users;
    }
};

struct ClientService::Session : block::BlockClientHandler, ibtrs::ClientEventListener {
    Session(ClientService& owner, std::string session_name) : service(owner), name(std::move(session_name)) {}
    void on_mapped(block::BlockDevice& device, int status) override { service.on_mapped(*this, device, status); }
    ibtrs::ClientEventListener* transport_listener() override { return this; }
    void on_path_state(std::string_view path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                       std::string_view reason) override {
        log().info("ibnbd-client: session {} path {}: {} -> {} ({})", name, path, to_string(from), to_string(to), reason);
    }
    void on_failover(std::string_view from, std::string_view to, std::uint32_t ios) override {
        failed_over += ios;
        log().warn("ibnbd-client: session {}: {} requests failed over from {} to {}", name, ios, from, to);
    }

    ClientService& service;
    std::string name;
    std::unique_ptr<block::BlockClient> client;
    std::map<std::string, std::unique_ptr<Device>> devices;
    std::vector<std::size_t> reactors;  // the reactor of each IO shard
    std::uint64_t failed_over = 0;
};

}  // namespace ibnbd::daemon
