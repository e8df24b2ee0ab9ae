// ibnbd-demo: a failover showcase on the deterministic simulator. One client session with two
// paths runs verified random IO against a server; one path's link goes down under load and comes
// back, then the server crashes and restarts. Prints what happened and whether every byte read
// back was right. The same seed always prints the same report.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <memory>

#include "core/ibtrs/client_path.hpp"
#include "core/ibtrs/client_session.hpp"
#include "core/ibtrs/server.hpp"
#include "fabric/sim/world.hpp"
#include "core/log.hpp"
#include "sim-scenarios/lib/verified_io.hpp"

namespace {

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using fabric::Nanos;

class Reporter : public ClientSessionHandler {
public:
    explicit Reporter(const fabric::sim::World& world) : world_(world) {}
    void on_open(int status) override { open_status = status; }
    void on_path_state(std::string_view path, ClientPathState from, ClientPathState to,
                       std::string_view reason) override {
        log(fmt::format("path {}: {} -> {} ({})", path, to_string(from), to_string(to), reason));
    }
    void on_failover(std::string_view from, std::string_view to, std::uint32_t ios) override {
        log(fmt::format("failover: {} requests moved from {} to {}", ios, from, to));
    }
    void log(const std::string& line) const {
        fmt::print("  {:>10.3f} ms  {}\n", static_cast<double>(world_.now()) / 1e6, line);
    }
    int open_status = 1;

private:
    const fabric::sim::World& world_;
};

struct Options {
    std::uint64_t seed = 1;
    std::uint64_t ios = 200000;
};

bool wait(fabric::sim::World& world, const std::function<bool()>& done, Nanos timeout) {
    return world.run_until(done, world.now() + timeout);
}

int run(const Options& options) {
    fabric::sim::World world(options.seed);
    auto& server_node = world.add_node("server", {"10.0.0.1", "10.0.1.1"});
    auto& client_node = world.add_node("client", {"10.0.0.2", "10.0.1.2"});
    const fabric::sim::LinkConfig link{5'000, 2'000, 1'250'000'000};  // 5 µs, ±2 µs, 10 Gbit/s
    world.add_link("10.0.0.2", "10.0.0.1", link);
    world.add_link("10.0.1.2", "10.0.1.1", link);

    scenario::MemoryTarget target(64 << 20);
    ServerConfig server_config;
    server_config.queue_depth = 128;
    server_config.chunk_size = 65536;
    server_config.heartbeat = {100'000'000, 3};
    auto start_server = [&]() {
        auto server = std::move(Server::create(server_node, server_config, target).value());
        (void)server->listen({"10.0.0.1", 1234});
        (void)server->listen({"10.0.1.1", 1234});
        return server;
    };
    auto server = start_server();

    Reporter reporter(world);
    ClientConfig config;
    config.session_name = "demo";
    config.io_connections = 2;
    config.heartbeat = {100'000'000, 3};
    config.reconnect_delay = 100'000'000;
    config.reconnect_max_delay = 1'000'000'000;
    config.queue_while_reconnecting = 5'000'000'000;
    auto session = std::move(ClientSession::create(client_node, config,
                                                   {{{"10.0.0.2", 0}, {"10.0.0.1", 1234}},
                                                    {{"10.0.1.2", 0}, {"10.0.1.1", 1234}}},
                                                   reporter).value());
    fmt::print("ibnbd-demo: seed {}, {} verified IOs, 2 paths, queue depth {}\n\n", options.seed, options.ios,
               server_config.queue_depth);
    session->start();
    if (!wait(world, [&] { return session->connected_paths() == 2; }, 10'000'000'000)) {
        fmt::print("session did not connect\n");
        return 1;
    }
    scenario::IoDriver::Options io;
    io.total_ios = options.ios;
    io.queue_depth = 32;
    io.blocks = 4096;
    io.block_size = 16384;
    io.seed = options.seed;
    scenario::IoDriver driver(client_node, *session, io, target.disk);
    driver.pump();

    const auto at_fraction = [&](double f) {
        return wait(world, [&] { return driver.completed >= static_cast<std::uint64_t>(f * options.ios); },
                    60'000'000'000);
    };
    at_fraction(0.25);
    reporter.log("fault: link 10.0.0.2 <-> 10.0.0.1 down");
    world.set_link_state("10.0.0.2", "10.0.0.1", false);
    at_fraction(0.45);
    reporter.log("fault: link 10.0.0.2 <-> 10.0.0.1 up");
    world.set_link_state("10.0.0.2", "10.0.0.1", true);
    at_fraction(0.65);
    reporter.log("fault: server crashes");
    server_node.crash();
    server.reset();
    world.run_for(300'000'000);
    reporter.log("fault: server restarts");
    server_node.restart();
    server = start_server();
    const bool finished = wait(world, [&] { return driver.done(); }, 120'000'000'000);

    fmt::print("\npaths\n");
    for (std::uint32_t i = 0; i < session->path_count(); ++i) {
        const ClientPath& path = *session->path(i);
        const PathStats& s = path.stats();
        fmt::print("  {:<24} {:<12} reads {:>7}  writes {:>7}  failovered {:>4}  reconnects {} ok / {} failed\n",
                   path.name(), to_string(path.state()), s.read_count, s.write_count, s.failovered,
                   s.reconnects_ok, s.reconnects_failed);
    }
    const auto ms = [](Nanos ns) { return static_cast<double>(ns) / 1e6; };
    fmt::print("\nIO: {} completed ({} reads, {} writes), {} errors, {} refused\n", driver.completed, driver.reads,
               driver.writes, driver.errors, driver.submit_errors);
    fmt::print("latency (virtual): p50 {:.3f} ms  p99 {:.3f} ms  p99.9 {:.3f} ms  max {:.3f} ms\n",
               ms(driver.latency_percentile(0.5)), ms(driver.latency_percentile(0.99)),
               ms(driver.latency_percentile(0.999)), ms(driver.latency_percentile(1.0)));
    fmt::print("failovers: {}\n", session->stats().failovers);
    fmt::print("data verified: {} ({} mismatches)\n", driver.verify_failures == 0 ? "yes" : "NO",
               driver.verify_failures);
    fmt::print("virtual time: {:.1f} ms, trace digest {:016x}\n", ms(world.now()), world.trace_digest());
    const bool ok = finished && driver.verify_failures == 0 && driver.errors == 0 && driver.submit_errors == 0;
    fmt::print("\nresult: {}\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"ibnbd-demo: IBTRS failover showcase on the deterministic simulator"};
    app.add_option("--seed", options.seed, "simulation seed (same seed, same run)");
    app.add_option("--ios", options.ios, "number of verified IOs")->check(CLI::Range(1000, 100000000));
    int verbosity = 0;
    app.add_flag("-v,--verbose", verbosity, "log warnings (-v) or every state transition (-vv) to stderr");
    CLI11_PARSE(app, argc, argv);
    ibnbd::log().set_level(verbosity >= 2 ? spdlog::level::debug
                           : verbosity == 1 ? spdlog::level::warn
                                            : spdlog::level::err);
    return run(options);
}
