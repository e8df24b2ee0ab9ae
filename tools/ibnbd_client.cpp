// ibnbd-client: the IBNBD client daemon. Maps devices from ibnbd servers on request of the `ibnbd`
// CLI (over --control-socket) and exports each mapped device as a ublk block device /dev/ublkbN
// and/or over NBD on a unix socket (for nbdinfo, nbdcopy, qemu-img, nbdfuse and the kernel's
// nbd-client). SIGINT/SIGTERM: deletes the ublk devices (their IO in flight completes), then exits;
// a second signal exits at once. At start it deletes ublk devices a dead ibnbd-client left.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <sys/stat.h>
#include <atomic>
#include <unistd.h>

#include "core/log.hpp"
#include "core/wire/rtrs.hpp"
#include "ibnbd/daemon/client_router.hpp"
#include "ibnbd/daemon/client_service.hpp"
#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/daemon/fabric_factory.hpp"
#include "ibnbd/daemon/pollables.hpp"
#include "ibnbd/nbd/unix_listener.hpp"
#include "ibnbd/runtime/reactor_mailbox.hpp"
#include "ibnbd/runtime/reactor_threads.hpp"
#include "ibnbd/ublk/ublk_control.hpp"

namespace {

using namespace ibnbd;

struct Options {
    std::string control_socket = "/run/ibnbd/client.sock";
    std::string fabric = "ofi";
    std::string provider = "tcp";
    std::string rdma_address;  // verbs: a local address on the RDMA device to use
    std::string nbd_dir = "/run/ibnbd";
    std::string exports = "nbd";
    std::uint32_t io_connections = 1;
    std::string policy = "min-inflight";
    std::uint32_t hb_interval_ms = 5000;
    std::uint32_t hb_missed = 5;
    std::uint32_t reconnect_delay_ms = 1000;
    std::int32_t max_reconnect_attempts = -1;
    std::uint32_t wait_while_reconnecting_ms = 0;
    std::uint32_t copy_lifetime_ms = 0;
    std::size_t reactors = runtime::ReactorThreads::default_count();
    std::uint32_t spin_polls = runtime::ReactorConfig{}.spin_polls;
    int verbosity = 0;
};

// One reactor's share of the daemon: its own fabric (completion queues), the mailbox other reactors
// reach it through, and the sessions placed on it (whose IO shards and NBD connections are spread
// over every reactor). Destroyed after its thread stopped; sessions and NBD exports go before
// the fabric.
struct ReactorPart {
    daemon::OpenedFabric fabric;
    std::unique_ptr<runtime::ReactorMailbox> mailbox;
    std::unique_ptr<daemon::ClientService> service;
    ~ReactorPart() { service.reset(); }
};

// After the threads stopped: services post the teardown of their remote parts (IO shards, device
// copies, NBD hosts) to the other reactors, which are then run here, before any fabric goes.
// ublk devices whose ibnbd-client died: their disks are stopped (IO fails), their ids taken.
void remove_orphan_ublk_devices() {
    if (::access(ublk::kControlPath, F_OK) != 0) return;
    auto control = ublk::UblkControl::open();
    if (!control) return;  // no privilege: this daemon cannot add ublk devices either
    if (const std::string report = ublk::remove_orphans(**control); !report.empty()) log().warn("ibnbd-client: {}", report);
}

// Deletes every ublk device while the reactors still serve their queues, then stops `home`.
void stop_ublk_then(runtime::Reactor& home, std::vector<std::unique_ptr<ReactorPart>>& parts,
                    runtime::ReactorThreads& threads) {
    auto left = std::make_shared<std::atomic<std::size_t>>(parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
        threads.reactor(i).post_message([&home, left, service = parts[i]->service.get()] {
            service->stop_ublk_exports([&home, left] {
                if (left->fetch_sub(1) == 1) home.stop();
            });
        });
    }
}

void tear_down(std::vector<std::unique_ptr<ReactorPart>>& parts, runtime::ReactorThreads& threads) {
    threads.run_left_tasks();  // commands that were on their way
    for (auto& part : parts) part->service.reset();
    threads.run_left_tasks();
    parts.clear();
}

int run(const Options& options) {
    // Every path has cid 0 plus io_connections per reactor; RTRS allows 4096 connections a path.
    if (1 + std::uint64_t{options.io_connections} * options.reactors > wire::kMaxCidNum) {
        fmt::print(stderr, "ibnbd-client: --io-connections {} x --reactors {} exceeds the {} connections a path may have; "
                           "lower one of them\n", options.io_connections, options.reactors, wire::kMaxCidNum - 1);
        return 2;
    }
    daemon::ClientServiceConfig config;
    config.nbd_dir = options.nbd_dir;
    if (!daemon::parse_export_kind(options.exports, config.exports)) {
        fmt::print(stderr, "ibnbd-client: --export must be nbd, ublk or both\n");
        return 2;
    }
    config.transport.io_connections = options.io_connections;
    if (!ibtrs::parse_mp_policy(options.policy, config.transport.policy)) {
        fmt::print(stderr, "ibnbd-client: --policy must be round-robin, min-inflight or min-latency\n");
        return 2;
    }
    config.transport.heartbeat = {std::uint64_t{options.hb_interval_ms} * ibtrs::kMillisecond, options.hb_missed};
    config.transport.reconnect_delay = std::uint64_t{options.reconnect_delay_ms} * ibtrs::kMillisecond;
    config.transport.reconnect_jitter = config.transport.reconnect_delay / 4;
    config.transport.max_reconnect_attempts = options.max_reconnect_attempts;
    config.wait_while_reconnecting = std::uint64_t{options.wait_while_reconnecting_ms} * ibtrs::kMillisecond;
    config.transport.copy_lifetime = std::uint64_t{options.copy_lifetime_ms} * ibtrs::kMillisecond;
    runtime::ReactorConfig reactor_config;
    reactor_config.spin_polls = options.spin_polls;
    runtime::ReactorThreads threads(options.reactors, reactor_config);
    std::vector<std::unique_ptr<ReactorPart>> parts;
    std::vector<daemon::ClientRoute> routes;
    std::vector<daemon::ReactorPeer> peers;
    for (std::size_t i = 0; i < threads.size(); ++i) {
        auto fabric = daemon::open_fabric(options.fabric, options.provider, options.rdma_address);
        if (!fabric) {
            fmt::print(stderr, "ibnbd-client: {}\n", fabric.error());
            return 1;
        }
        auto part = std::make_unique<ReactorPart>();
        part->fabric = std::move(fabric.value());
        part->mailbox = std::make_unique<runtime::ReactorMailbox>(threads.reactor(i));
        peers.push_back({&threads.reactor(i), part->fabric.fabric.get(), part->mailbox.get()});
        threads.reactor(i).add(*part->fabric.pollable);
        parts.push_back(std::move(part));
    }
    for (std::size_t i = 0; i < threads.size(); ++i) {
        parts[i]->service =
            std::make_unique<daemon::ClientService>(*parts[i]->fabric.fabric, threads.reactor(i), config, peers, i);
        routes.push_back({threads.reactor(i), *parts[i]->service});
    }
    runtime::Reactor& home = threads.reactor(0);
    daemon::ClientRouter router(home, routes);
    bool stopping = false;
    daemon::SignalPollable signals([&](int signal) {
        log().warn("ibnbd-client: signal {}, exiting", signal);
        if (stopping) return home.stop();
        stopping = true;
        stop_ublk_then(home, parts, threads);
    });
    // Before the control socket exists: once it does, callers may map, and a map must find the ids
    // and block devices of a dead daemon gone.
    remove_orphan_ublk_devices();
    const auto slash = options.control_socket.rfind('/');
    if (slash != std::string::npos && slash > 0) ::mkdir(options.control_socket.substr(0, slash).c_str(), 0755);
    auto control = daemon::ControlServer::listen(options.control_socket, [&](const daemon::Json& request, auto respond) {
        router.handle(request, std::move(respond));
    });
    if (!control) {
        fmt::print(stderr, "ibnbd-client: cannot create the control socket: {}\n",
                   nbd::unix_listen_error_text(options.control_socket, control.error()));
        return 1;
    }
    home.add(signals);
    home.add(**control);
    threads.start();
    fmt::print(stderr, "ibnbd-client: ready on {} (pid {}, {} reactors)\n", options.control_socket, ::getpid(),
               threads.size());
    home.run();
    threads.stop();
    home.remove(**control);
    tear_down(parts, threads);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    ibnbd::daemon::block_stop_signals();  // before any library can start a thread or set a handler
    Options options;
    CLI::App app{"ibnbd-client: maps IBNBD devices and exports them as ublk block devices or over NBD"};
    app.add_option("--control-socket", options.control_socket, "unix socket the ibnbd CLI talks to");
    app.add_option("--fabric", options.fabric, "ofi (libfabric) or verbs")->check(CLI::IsMember({"ofi", "verbs"}));
    app.add_option("--provider", options.provider, "libfabric provider (tcp; verbs on RDMA hardware)");
    app.add_option("--rdma-address", options.rdma_address,
                   "with --fabric verbs: a local address on the RDMA interface to use (default: the only device)");
    app.add_option("--nbd-dir", options.nbd_dir, "directory for the NBD sockets of mapped devices");
    app.add_option("--export", options.exports,
                   "how mapped devices are exported when a map does not say: nbd (a unix socket), ublk "
                   "(/dev/ublkbN; Linux 6.0+ with ublk_drv, root) or both")
        ->check(CLI::IsMember({"nbd", "ublk", "both"}));
    app.add_option("--io-connections", options.io_connections, "IO connections per path on each reactor")->check(CLI::Range(1, 64));
    app.add_option("--policy", options.policy, "multipath policy of new sessions");
    app.add_option("--hb-interval-ms", options.hb_interval_ms, "heartbeat interval")->check(CLI::Range(10, 3600000));
    app.add_option("--hb-missed", options.hb_missed, "heartbeats missed before a path fails")->check(CLI::Range(1, 1000));
    app.add_option("--reconnect-delay-ms", options.reconnect_delay_ms, "first reconnect delay (doubles, capped)");
    app.add_option("--max-reconnect-attempts", options.max_reconnect_attempts, "-1 forever, 0 never")
        ->check(CLI::Range(-1, 9999));
    app.add_option("--wait-while-reconnecting-ms", options.wait_while_reconnecting_ms,
                   "how long IO waits for a path to return before failing (0: fail at once)");
    app.add_option("--copy-lifetime-ms", options.copy_lifetime_ms,
                   "longest a request's copy may stay in the network after it was posted (retransmissions "
                   "included): a write whose copy went out on a path that broke completes only once that copy "
                   "can no longer land, so a newer write cannot be overtaken by it (0: off, as the kernel)")
        ->check(CLI::Range(0, 3600000));
    app.add_option("--reactors", options.reactors,
                   "reactor threads: each session's IO and NBD connections are spread over them, its control "
                   "runs on the least busy one (default: one per core)")
        ->check(CLI::Range(std::size_t{1}, runtime::ReactorThreads::kMaxReactors));
    app.add_option("--spin-polls", options.spin_polls,
                   "empty reactor rounds polled after the last work before sleeping (a bounded busy-poll that "
                   "keeps wake-ups off closely spaced requests; 0: sleep at once)")
        ->check(CLI::Range(0u, 1000000u));
    app.add_flag("-v,--verbose", options.verbosity, "-v: info, -vv: debug");
    CLI11_PARSE(app, argc, argv);
    if (auto usable = ibnbd::daemon::check_fabric_choice(options.fabric, options.provider); !usable) {
        fmt::print(stderr, "ibnbd-client: {}\n", usable.error());
        return 2;
    }
    ibnbd::log().set_level(options.verbosity >= 2 ? spdlog::level::debug
                           : options.verbosity == 1 ? spdlog::level::info
                                                    : spdlog::level::warn);
    return run(options);
}
