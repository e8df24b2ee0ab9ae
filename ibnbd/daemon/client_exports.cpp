// The exports of mapped devices: NBD sockets (served here and, through ShardExport, on the
// session's other reactors) and ublk block devices (UblkExport).
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "ibnbd/daemon/client_service_parts.hpp"
#include "ibnbd/nbd/unix_listener.hpp"

namespace ibnbd::daemon {

int ClientService::export_nbd(Session& session, Device& device, std::string& why) {
    if (device.nbd_socket.empty()) {
        ::mkdir(config_.nbd_dir.c_str(), 0755);
        std::string name = device.name;
        for (char& c : name) c = c == '/' ? '!' : c;
        device.nbd_socket = config_.nbd_dir + "/" + session.name + "@" + name + ".sock";
    }
    auto server = nbd::NbdServer::listen_unix(device.nbd_socket);
    if (!server) {
        why = nbd::unix_listen_error_text(device.nbd_socket, server.error()) + " (--nbd-socket)";
        return server.error();
    }
    std::unique_ptr<nbd::NbdServer> tcp_server;
    if (!device.nbd_tcp.empty()) {
        const auto address = fabric::Address::parse(device.nbd_tcp, 10809);  // checked in map()
        auto listening = nbd::NbdServer::listen_tcp(address->host, address->port);
        if (!listening) {
            why = "cannot listen on " + device.nbd_tcp + ": " + errno_text(listening.error()) + " (is the --nbd-tcp port free?)";
            return listening.error();
        }
        tcp_server = std::move(listening.value());
    }
    device.target = std::make_unique<BlockDeviceTarget>(*device.device);
    device.nbd = std::move(server.value());
    device.nbd_tcp_server = std::move(tcp_server);
    export_on_peers(session, device);
    for (nbd::NbdServer* exported : {device.nbd.get(), device.nbd_tcp_server.get()}) {
        if (exported == nullptr) continue;
        exported->add_export(device.name, *device.target);
        exported->add_export("", *device.target);  // clients that do not name an export
        if (!device.remote.empty()) exported->spread([this, &device](int fd) { return hand_off(device, fd); });
        reactor_.add(*exported);
    }
    return 0;
}

void ClientService::export_on_peers(Session& session, Device& device) {
    for (std::size_t shard = 1; shard < session.reactors.size(); ++shard) {
        runtime::Reactor* reactor = peers_[session.reactors[shard]].reactor;
        auto* remote = new ShardExport(device.device->shard_copy(shard), device.name);
        device.remote.push_back({remote, reactor});
        reactor->post_message([remote, reactor] { remote->start(*reactor); });
    }
}

// Accepted connections go round the session's reactors; false: serve it here.
bool ClientService::hand_off(Device& device, int fd) {
    const std::size_t pick = device.next_reactor++ % (1 + device.remote.size());
    if (pick == 0) return false;
    const Device::Remote& remote = device.remote[pick - 1];
    log().debug("ibnbd-client: NBD connection to {} handed to the reactor of shard {}", device.name, pick);
    remote.reactor->post_message([target = remote.host, fd] { target->adopt(fd); });
    return true;
}

void ClientService::stop_export(Device& device) {
    for (auto* exported : {&device.nbd, &device.nbd_tcp_server}) {
        if (*exported) reactor_.remove(**exported);
        exported->reset();  // closes remaining connections; their target is invalid by now
    }
    for (const Device::Remote& remote : device.remote) {
        remote.reactor->post_message([target = remote.host, reactor = remote.reactor] {
            target->stop(*reactor);
            delete target;
        });
    }
    device.remote.clear();
}

void ClientService::export_ublk(Session& session, Device& device, Responder respond) {
    std::vector<UblkExport::Shard> shards;
    std::uint32_t depth = UBLK_MAX_QUEUE_DEPTH;
    const ibtrs::ClientSession& transport = session.client->transport();
    for (std::size_t shard = 0; shard < session.reactors.size(); ++shard) {
        runtime::Reactor* reactor = peers_.empty() ? &reactor_ : peers_[session.reactors[shard]].reactor;
        std::shared_ptr<block::DeviceIo> io = shard == 0 ? std::shared_ptr<block::DeviceIo>(std::shared_ptr<void>(), device.device)
                                                         : device.device->shard_copy(shard);
        shards.push_back({reactor, std::move(io)});
        depth = std::min(depth, transport.shard(shard).permit_count());  // more would wait for permits here
    }
    const ublk::DeviceShape shape{static_cast<std::uint32_t>(shards.size()), depth, device.device->info().max_io_bytes};
    device.ublk = std::make_unique<UblkExport>(reactor_, std::move(shards), shape);
    device.ublk_busy = true;
    device.ublk->start([this, session_name = session.name, device_name = device.name,
                        respond = std::move(respond)](int status, const std::string& why) {
        Session& owner = *sessions_.at(session_name);  // kept: its device is there (unmap waits for ublk_busy)
        Device& exported = *owner.devices.at(device_name);
        exported.ublk_busy = false;
        if (status != 0) {
            return fail_map(owner, device_name, respond, status, "cannot export '" + device_name + "' as a ublk device: " + why);
        }
        log().info("ibnbd-client: {}/{} is {}", session_name, device_name, exported.ublk->block_device());
        if (respond) respond(show(owner, exported));
    });
}

// Without force the ublk device goes first (refused while open); the IBNBD device is unmapped
// after. With force the IBNBD device goes at once, failing its IO, so that the ublk device's stop
// does not wait for IO that waits for a path.
void ClientService::unmap_ublk(Session& session, Device& device, bool force, Responder respond) {
    if (force) {
        device.invalidate_nbd_targets();
        device.ublk->invalidate();
        (void)session.client->unmap(*device.device, true);
        stop_export(device);
        device.device = nullptr;  // other commands no longer find it
    }
    device.ublk_busy = true;
    device.ublk->stop(force, [this, session_name = session.name, device_name = device.name, force,
                              respond = std::move(respond)](int status, const std::string& why) {
        Session& owner = *sessions_.at(session_name);
        Device& unmapped = *owner.devices.at(device_name);
        unmapped.ublk_busy = false;
        if (status != 0 && !force) return respond(error_response(status, why));  // still mapped and exported
        if (status != 0) log().warn("ibnbd-client: forced unmap of {}/{}: {}", session_name, device_name, why);
        if (force) {
            owner.devices.erase(device_name);
            return respond({{"ok", true}});
        }
        if (auto gone = owner.client->unmap(*unmapped.device, false); !gone) {
            return respond(error_response(gone.error(), "'" + device_name + "' has IO in flight (its ublk device is gone); "
                                                        "retry or use --force"));
        }
        finish_unmap(owner, unmapped, respond);
    });
}

void ClientService::stop_ublk_exports(std::function<void()> done) {
    auto left = std::make_shared<std::size_t>(1);  // this reactor's thread only
    auto one_done = [left, done = std::move(done)] {
        if (--*left == 0) done();
    };
    for (auto& [session_name, session] : sessions_) {
        for (auto& [device_name, device] : session->devices) {
            if (!device->ublk || device->ublk_busy || !device->ublk->live()) continue;
            ++*left;
            device->ublk_busy = true;
            device->ublk->stop(true, [one_done, stopped = device.get()](int status, const std::string& why) {
                stopped->ublk_busy = false;
                if (status != 0) log().warn("ibnbd-client: ublk device of {}: {}", stopped->name, why);
                one_done();
            });
        }
    }
    one_done();
}

}  // namespace ibnbd::daemon
