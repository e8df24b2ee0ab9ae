// ibnbd-server: the IBNBD server daemon. Serves files and block devices found under
// --dev-search-path to ibnbd clients over the chosen fabric; nothing is exported explicitly.
// SIGINT/SIGTERM: stop accepting, let in-flight IO finish (at most 10 s), flush every open
// device, exit 0.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <chrono>
#include <csignal>

#include "core/ibtrs/server.hpp"
#include "core/log.hpp"
#include "ibnbd/daemon/control_server.hpp"
#include "ibnbd/daemon/fabric_factory.hpp"
#include "ibnbd/daemon/pollables.hpp"
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

Json handle_control(const Json& request, block::BlockServer& blocks, ibtrs::Server& server) {
    const std::string cmd = request.value("cmd", "");
    if (cmd == "list") {
        Json devices = Json::array();
        for (const auto& device : blocks.devices()) {
            devices.push_back({{"session", device.session}, {"device_id", device.device_id}, {"name", device.name},
                               {"path", device.path}, {"access_mode", static_cast<int>(device.mode)},
                               {"inflight", device.inflight}});
        }
        return {{"ok", true}, {"devices", devices}};
    }
    if (cmd == "force_close") {
        auto closed = blocks.force_close(request.value("session", ""), request.value("device_id", 0u));
        if (!closed) return daemon::error_response(closed.error(), "no such session or device; see 'list'");
        return {{"ok", true}};
    }
    if (cmd == "stats") {
        const auto& s = blocks.stats();
        const auto& t = server.stats();
        return {{"ok", true},
                {"sessions", server.session_count()},
                {"opens", s.opens},
                {"opens_refused", s.opens_refused},
                {"ios", s.ios},
                {"io_errors", s.io_errors},
                {"bad_requests", s.bad_requests},
                {"connect_requests", t.connect_requests},
                {"rejected", t.rejected},
                {"violations", t.violations}};
    }
    return daemon::error_response(-EINVAL, "unknown command '" + cmd + "' (list, force_close, stats)");
}

// The verbs backend picks its RDMA device by address: the first --listen host.
std::string listen_host(const Options& options) {
    auto first = fabric::Address::parse(options.listen.front(), 1234);
    return first ? first->host : std::string();
}

int run(const Options& options) {
    auto fabric = daemon::open_fabric(options.fabric, options.provider, listen_host(options));
    if (!fabric) {
        fmt::print(stderr, "ibnbd-server: {}\n", fabric.error());
        return 1;
    }
    auto storage = storage::uring::UringBackend::create();
    if (!storage) {
        fmt::print(stderr, "ibnbd-server: io_uring unavailable (errno {})\n", -storage.error());
        return 1;
    }
    block::BlockServer blocks(**storage, {options.dev_search_path});
    ibtrs::ServerConfig config;
    config.queue_depth = options.queue_depth;
    config.chunk_size = options.chunk_size;
    config.heartbeat = {std::uint64_t{options.hb_interval_ms} * ibtrs::kMillisecond, options.hb_missed};
    auto server = ibtrs::Server::create(*fabric->fabric, config, blocks);
    if (!server) {
        fmt::print(stderr, "ibnbd-server: queue depth {} with chunk size {} is invalid (chunk: power of two "
                           ">= 8192; bits(qd-1)+bits(chunk-1) <= 28)\n", options.queue_depth, options.chunk_size);
        return 2;
    }
    for (const std::string& text : options.listen) {
        auto address = fabric::Address::parse(text, 1234);
        if (!address) {
            fmt::print(stderr, "ibnbd-server: bad --listen '{}' (ADDR[:PORT])\n", text);
            return 2;
        }
        if (auto listening = (*server)->listen(*address); !listening) {
            fmt::print(stderr, "ibnbd-server: cannot listen on {} (errno {})\n", address->to_string(), -listening.error());
            return 1;
        }
        log().info("ibnbd-server: listening on {}", address->to_string());
    }
    runtime::Reactor reactor;
        daemon::UringPollable storage_poll(**storage);
    bool stopping = false;
    daemon::SignalPollable signals([&](int signal) {
        log().warn("ibnbd-server: signal {}, shutting down", signal);
        stopping = true;
        reactor.stop();
    });
    reactor.add(*fabric->pollable);
    reactor.add(storage_poll);
    reactor.add(signals);
    std::unique_ptr<daemon::ControlServer> control;
    if (!options.control_socket.empty()) {
        auto created = daemon::ControlServer::listen(options.control_socket, [&](const Json& request, auto respond) {
            respond(handle_control(request, blocks, **server));
        });
        if (!created) {
            fmt::print(stderr, "ibnbd-server: cannot create control socket {} (errno {})\n", options.control_socket,
                       -created.error());
            return 1;
        }
        control = std::move(created.value());
        reactor.add(*control);
    }
    fmt::print(stderr, "ibnbd-server: serving {} (pid {})\n", options.dev_search_path, ::getpid());
    reactor.run();
    // Shutdown: no new connections; let in-flight IO finish, then flush.
    (*server)->stop_listening();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (blocks.inflight() != 0 && std::chrono::steady_clock::now() < deadline) reactor.run_once(false);
    FlushWaiter flushed;
    const std::size_t flushes = blocks.flush_devices(flushed);
    while (flushed.done < flushes && std::chrono::steady_clock::now() < deadline) reactor.run_once(false);
    log().warn("ibnbd-server: stopped ({} device flushes, {} failed)", flushes, flushed.failed);
    (void)stopping;
    return flushed.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
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
    app.add_flag("-v,--verbose", options.verbosity, "-v: info, -vv: debug (every state transition)");
    CLI11_PARSE(app, argc, argv);
    ibnbd::log().set_level(options.verbosity >= 2 ? spdlog::level::debug
                           : options.verbosity == 1 ? spdlog::level::info
                                                    : spdlog::level::warn);
    return run(options);
}
