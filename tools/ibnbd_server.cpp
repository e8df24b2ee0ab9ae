// ibnbd-server: the IBNBD server daemon. Serves files and block devices found under
// --dev-search-path to ibnbd clients over the chosen fabric; nothing is exported explicitly.
// SIGINT/SIGTERM: stop accepting, let in-flight IO finish (at most 10 s), flush every open
// device, exit 0. --reactors threads each own a fabric, an io_uring and the sessions placed on them.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>

#include "core/ibtrs/server.hpp"
#include "core/log.hpp"
#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/daemon/fabric_factory.hpp"
#include "ibnbd/daemon/pollables.hpp"
#include "ibnbd/daemon/server_control.hpp"
#include "ibnbd/nbd/unix_listener.hpp"
#include "ibnbd/runtime/reactor_mailbox.hpp"
#include "ibnbd/runtime/reactor_threads.hpp"
#include "ibnbd/server/block_server.hpp"

namespace {

using namespace ibnbd;
using daemon::Json;

struct Options {
    std::vector<std::string> listen;
    std::string fabric = "ofi";
    std::string provider = "tcp";
    std::string dev_search_path = "/";
    std::uint16_t queue_depth = 512;  // the kernel's default; chunk pool: 512 x 128 KiB per session
    std::uint32_t chunk_size = 131072;
    std::uint32_t hb_interval_ms = 5000;
    std::uint32_t hb_missed = 5;
    std::string control_socket;
    std::size_t reactors = runtime::ReactorThreads::default_count();
    std::uint32_t spin_polls = runtime::ReactorConfig{}.spin_polls;
    std::uint32_t max_pending_handshakes = ibtrs::ServerConfig{}.max_pending_handshakes;
    std::uint32_t handshake_timeout_ms = 10000;
    std::string always_invalidate;  // on, off, or empty: on where the fabric can rotate keys
    int verbosity = 0;
};

class FlushWaiter : public storage::CompletionHandler {
public:
    void on_storage_complete(std::uint64_t, int status) override {
        ++done;
        if (status != 0) ++failed;
    }
    std::size_t done = 0, failed = 0;
};

// One reactor's share of the server: its fabric (completion queues), io_uring, BlockServer and
// ibtrs::Server with the sessions placed on it. Members in teardown order (last first).
struct ReactorPart {
    daemon::OpenedFabric fabric;
    std::unique_ptr<storage::uring::UringBackend> storage;
    std::unique_ptr<daemon::UringPollable> storage_poll;
    std::unique_ptr<runtime::ReactorMailbox> mailbox;
    std::unique_ptr<block::BlockServer> blocks;
    std::unique_ptr<ibtrs::Server> server;
};

// The verbs backend picks its RDMA device by address: the first --listen host.
std::string listen_host(const Options& options) {
    auto first = fabric::Address::parse(options.listen.front(), 1234);
    return first ? first->host : std::string();
}

Expected<std::unique_ptr<ReactorPart>, int> open_reactor_part(const Options& options, block::DeviceLedger& ledger,
                                                 runtime::Reactor& reactor) {
    auto part = std::make_unique<ReactorPart>();
    // Connections not yet connect requests get the same bounds as those in the RTRS handshake.
    const daemon::PendingBounds pending{options.max_pending_handshakes,
                                        std::uint64_t{options.handshake_timeout_ms} * ibtrs::kMillisecond};
    auto fabric = daemon::open_fabric(options.fabric, options.provider, listen_host(options), pending);
    if (!fabric) {
        fmt::print(stderr, "ibnbd-server: {}\n", fabric.error());
        return unexpected(1);
    }
    part->fabric = std::move(fabric.value());
    // Requests that arrive in one reactor round go to the kernel in one system call.
    auto storage = storage::uring::UringBackend::create({.defer_submit = true});
    if (!storage) {
        fmt::print(stderr, "ibnbd-server: io_uring unavailable (errno {})\n", -storage.error());
        return unexpected(1);
    }
    part->storage = std::move(storage.value());
    part->storage_poll = std::make_unique<daemon::UringPollable>(*part->storage);
    part->mailbox = std::make_unique<runtime::ReactorMailbox>(reactor);
    part->blocks = std::make_unique<block::BlockServer>(*part->storage,
                                                         block::BlockServerConfig{options.dev_search_path, &ledger});
    const bool windows = part->fabric.fabric->supports_fabric_windows();
    if (options.always_invalidate == "on" && !windows) {
        fmt::print(stderr, "ibnbd-server: --always-invalidate on needs memory windows to rotate chunk keys, which "
                           "fabric {} does not have (libfabric has none): use --always-invalidate off, or --fabric "
                           "verbs on a device with type-1 memory windows\n", part->fabric.fabric->name());
        return unexpected(2);
    }
    ibtrs::ServerConfig config;
    config.always_invalidate = options.always_invalidate.empty() ? windows : options.always_invalidate == "on";
    log().info("ibnbd-server: always_invalidate {} on fabric {}", config.always_invalidate ? "on" : "off",
               part->fabric.fabric->name());
    config.queue_depth = options.queue_depth;
    config.chunk_size = options.chunk_size;
    config.heartbeat = {std::uint64_t{options.hb_interval_ms} * ibtrs::kMillisecond, options.hb_missed};
    config.max_pending_handshakes = options.max_pending_handshakes;
    config.handshake_timeout = std::uint64_t{options.handshake_timeout_ms} * ibtrs::kMillisecond;
    auto server = ibtrs::Server::create(*part->fabric.fabric, config, *part->blocks);
    if (!server) {
        fmt::print(stderr, "ibnbd-server: queue depth {} with chunk size {} is invalid (chunk: power of two "
                           ">= 8192; bits(qd-1)+bits(chunk-1) <= 28)\n", options.queue_depth, options.chunk_size);
        return unexpected(2);
    }
    part->server = std::move(server.value());
    reactor.add(*part->fabric.pollable);
    reactor.add(*part->storage_poll);
    return part;
}

int listen_all(const Options& options, ibtrs::Server& server) {
    for (const std::string& text : options.listen) {
        auto address = fabric::Address::parse(text, 1234);
        if (!address) {
            fmt::print(stderr, "ibnbd-server: bad --listen '{}' (ADDR[:PORT])\n", text);
            return 2;
        }
        if (auto listening = server.listen(*address); !listening) {
            fmt::print(stderr, "ibnbd-server: cannot listen on {} (errno {})\n", address->to_string(), -listening.error());
            return 1;
        }
        log().info("ibnbd-server: listening on {}", address->to_string());
    }
    return 0;
}

// After the threads stopped, this thread drives every reactor in turn until `done`.
template <class Done>
void drive_until(runtime::ReactorThreads& threads, std::chrono::steady_clock::time_point deadline, Done done) {
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        for (std::size_t i = 0; i < threads.size(); ++i) threads.reactor(i).run_once(false);
    }
}

// Shutdown: no new connections; let in-flight IO finish, flush every device, then free each
// reactor's objects with the tasks still on their way run first.
int shut_down(std::vector<std::unique_ptr<ReactorPart>>& parts, runtime::ReactorThreads& threads) {
    parts.front()->server->stop_listening();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    drive_until(threads, deadline, [&] {
        return std::all_of(parts.begin(), parts.end(), [](const auto& part) { return part->blocks->inflight() == 0; });
    });
    FlushWaiter flushed;
    std::size_t flushes = 0;
    for (auto& part : parts) flushes += part->blocks->flush_devices(flushed);
    drive_until(threads, deadline, [&] { return flushed.done >= flushes; });
    log().warn("ibnbd-server: stopped ({} device flushes, {} failed)", flushes, flushed.failed);
    // Tasks between reactors refer to their Servers and BlockServers: run them all first.
    threads.run_left_tasks();
    for (auto& part : parts) part->server.reset();
    threads.run_left_tasks();
    parts.clear();
    return flushed.failed == 0 && flushed.done >= flushes ? 0 : 1;
}

int run(const Options& options) {
    runtime::ReactorConfig reactor_config;
    reactor_config.spin_polls = options.spin_polls;
    runtime::ReactorThreads threads(options.reactors, reactor_config);
    block::DeviceLedger ledger;
    ibtrs::SessionDirectory directory(threads.size());
    std::vector<std::unique_ptr<ReactorPart>> parts;
    for (std::size_t i = 0; i < threads.size(); ++i) {
        auto part = open_reactor_part(options, ledger, threads.reactor(i));
        if (!part) return part.error();
        parts.push_back(std::move(part.value()));
    }
    std::vector<ibtrs::ServerPeer> peers;
    std::vector<block::BlockReactor> blocks;
    std::vector<daemon::ServerPart> control_parts;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        peers.push_back({parts[i]->server.get(), parts[i]->mailbox.get()});
        blocks.push_back({parts[i]->mailbox.get(), parts[i]->blocks.get()});
        control_parts.push_back({threads.reactor(i), *parts[i]->blocks, *parts[i]->server});
    }
    ibtrs::join_group(directory, peers);
    block::wake_on_drain(ledger, std::move(blocks));
    // Reactor 0 listens and hands each connection to the reactor that owns its session.
    if (const int failed = listen_all(options, *parts.front()->server); failed != 0) return failed;

    runtime::Reactor& home = threads.reactor(0);
    daemon::SignalPollable signals([&](int signal) {
        log().warn("ibnbd-server: signal {}, shutting down", signal);
        home.stop();
    });
    home.add(signals);
    daemon::ServerControl commands(home, control_parts);
    std::unique_ptr<daemon::ControlServer> control;
    if (!options.control_socket.empty()) {
        auto created = daemon::ControlServer::listen(options.control_socket, [&](const Json& request, auto respond) {
            commands.handle(request, std::move(respond));
        });
        if (!created) {
            fmt::print(stderr, "ibnbd-server: cannot create the control socket: {}\n",
                       nbd::unix_listen_error_text(options.control_socket, created.error()));
            return 1;
        }
        control = std::move(created.value());
        home.add(*control);
    }
    threads.start();
    fmt::print(stderr, "ibnbd-server: serving {} (pid {}, {} reactors)\n", options.dev_search_path, ::getpid(),
               threads.size());
    home.run();
    threads.stop();
    if (control) home.remove(*control);
    return shut_down(parts, threads);
}

}  // namespace

int main(int argc, char** argv) {
    ibnbd::daemon::block_stop_signals();  // before any library can start a thread or set a handler
    Options options;
    CLI::App app{"ibnbd-server: serves block devices and files to ibnbd clients (IBNBD over IBTRS)"};
    app.add_option("--listen", options.listen, "ADDR[:PORT] to listen on (repeatable; port 1234 by default)")
        ->required();
    app.add_option("--fabric", options.fabric, "ofi (libfabric) or verbs")->check(CLI::IsMember({"ofi", "verbs"}));
    app.add_option("--provider", options.provider, "libfabric provider (tcp; verbs on RDMA hardware)");
    app.add_option("--dev-search-path", options.dev_search_path,
                   "where client device names are looked up; %SESSNAME% gives each session its own directory");
    app.add_option("--queue-depth", options.queue_depth, "chunks per session, i.e. requests in flight (1..65535; libfabric tcp queues hold 2048 "
                   "work requests: keep <= 682 there)")->check(CLI::Range(1, 65535));
    app.add_option("--chunk-size", options.chunk_size, "bytes per chunk (power of two >= 8192)");
    app.add_option("--hb-interval-ms", options.hb_interval_ms, "heartbeat interval")->check(CLI::Range(10, 3600000));
    app.add_option("--hb-missed", options.hb_missed, "heartbeats missed before a path is closed")
        ->check(CLI::Range(1, 1000));
    app.add_option("--control-socket", options.control_socket, "unix socket for list / force_close / stats");
    app.add_option("--reactors", options.reactors,
                   "reactor threads: each session with all its connections and IO runs on one of them, sessions "
                   "are spread over all (default: one per core)")
        ->check(CLI::Range(std::size_t{1}, runtime::ReactorThreads::kMaxReactors));
    app.add_option("--max-pending-handshakes", options.max_pending_handshakes,
                   "connections that have not completed their handshake, per reactor, beyond which new ones are "
                   "closed or refused (-EBUSY); 0: no limit")
        ->check(CLI::Range(0u, 1000000u));
    app.add_option("--handshake-timeout-ms", options.handshake_timeout_ms,
                   "a connection that has not completed its handshake by then is closed; 0: no timeout")
        ->check(CLI::Range(0u, 3600000u));
    app.add_option("--spin-polls", options.spin_polls,
                   "empty reactor rounds polled after the last work before sleeping (a bounded busy-poll that "
                   "keeps wake-ups off closely spaced requests; 0: sleep at once)")
        ->check(CLI::Range(0u, 1000000u));
    app.add_option("--always-invalidate", options.always_invalidate,
                   "on: every request revokes its chunk's key and its response gives the next one (the kernel's "
                   "default), so a client writes into a chunk only through the key of its current request; needs "
                   "memory windows (verbs). off: one fixed key per path. Default: on where the fabric has memory "
                   "windows (verbs), off where not (ofi)")
        ->check(CLI::IsMember({"on", "off"}));
    app.add_flag("-v,--verbose", options.verbosity, "-v: info, -vv: debug (every state transition)");
    CLI11_PARSE(app, argc, argv);
    if (auto usable = ibnbd::daemon::check_fabric_choice(options.fabric, options.provider); !usable) {
        fmt::print(stderr, "ibnbd-server: {}\n", usable.error());
        return 2;
    }
    ibnbd::log().set_level(options.verbosity >= 2 ? spdlog::level::debug
                           : options.verbosity == 1 ? spdlog::level::info
                                                    : spdlog::level::warn);
    return run(options);
}
