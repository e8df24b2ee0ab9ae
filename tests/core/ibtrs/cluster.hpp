// A simulated client and server joined by up to four paths (10.0.<p>.2 -> 10.0.<p>.1), with an
// IBTRS server over a MemoryTarget and helpers to open a client session and drive the world.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/client_session.hpp"
#include "core/ibtrs/server.hpp"
#include "fabric/sim/world.hpp"
#include "sim-scenarios/lib/verified_io.hpp"
#include "tests/core/ibtrs/session_events.hpp"

namespace ibnbd::ibtrs::test {

using scenario::IoDriver;
using scenario::MemoryTarget;
using scenario::UserMessage;

inline std::string server_address(int path) { return "10.0." + std::to_string(path) + ".1"; }
inline std::string client_address(int path) { return "10.0." + std::to_string(path) + ".2"; }

inline ServerConfig test_server_config() {
    ServerConfig config;
    config.queue_depth = 32;
    config.chunk_size = 16384;  // max_io_size 12288
    config.heartbeat = {100 * kMillisecond, 3};
    return config;
}

inline ClientConfig test_client_config(std::string name = "sess") {
    ClientConfig config;
    config.session_name = std::move(name);
    config.io_connections = 2;
    config.heartbeat = {100 * kMillisecond, 3};
    config.reconnect_delay = 100 * kMillisecond;
    config.reconnect_max_delay = 400 * kMillisecond;
    config.reconnect_jitter = 20 * kMillisecond;
    config.connect_timeout = 2 * kSecond;
    config.fence_timeout = 3 * kSecond;  // the test server notices a gone client well within it
    return config;
}

struct Cluster {
    static constexpr int kPaths = 4;

    explicit Cluster(std::uint64_t seed = 1, fabric::sim::WorldConfig world_config = {},
                     fabric::sim::LinkConfig link = {})
        : world(seed, world_config),
          server_node(world.add_node("server", {server_address(0), server_address(1), server_address(2),
                                                server_address(3)})),
          client_node(world.add_node("client", {client_address(0), client_address(1), client_address(2),
                                                client_address(3)})),
          target(1 << 22) {
        if (link.latency == 1'000 && link.jitter == 0) link = {5'000, 2'000, 0};
        for (int p = 0; p < kPaths; ++p) world.add_link(client_address(p), server_address(p), link);
    }

    void start_server(ServerConfig config = test_server_config()) {
        auto created = Server::create(server_node, config, target);
        BOOST_REQUIRE(created.has_value());
        server = std::move(created.value());
        for (int p = 0; p < kPaths; ++p) {
            BOOST_REQUIRE(server->listen({server_address(p), 1234}).has_value());
        }
    }

    std::vector<PathSpec> path_specs(int count) const {
        std::vector<PathSpec> specs;
        for (int p = 0; p < count; ++p) specs.push_back({{client_address(p), 0}, {server_address(p), 1234}});
        return specs;
    }

    // Creates and starts a session over the first `paths` paths and waits until it is open.
    ClientSession& open(int paths = 1, ClientConfig config = test_client_config()) {
        auto created = ClientSession::create(client_node, std::move(config), path_specs(paths), events);
        BOOST_REQUIRE(created.has_value());
        session = std::move(created.value());
        session->start();
        BOOST_REQUIRE(run_until([&] { return events.opened; }, 5 * kSecond));
        BOOST_REQUIRE_EQUAL(events.open_status, 0);
        // Let the remaining paths finish their handshake too.
        run_until([&] { return session->connected_paths() == static_cast<std::size_t>(paths); }, 5 * kSecond);
        return *session;
    }

    bool run_until(const std::function<bool()>& done, fabric::Nanos timeout) {
        return world.run_until(done, world.now() + timeout);
    }
    void run_for(fabric::Nanos duration) { world.run_until(world.now() + duration); }

    IoDriver::Options io_options(std::uint64_t ios, std::uint32_t depth = 8) const {
        IoDriver::Options options;
        options.total_ios = ios;
        options.queue_depth = depth;
        options.block_size = 4096;
        return options;
    }

    // Runs a driver to completion (or timeout); returns whether it finished.
    bool drive(IoDriver& driver, fabric::Nanos timeout = 60 * kSecond) {
        driver.pump();
        return run_until([&] { return driver.done(); }, timeout);
    }

    const ClientPath& path(std::uint32_t index) const { return *session->path(index); }

    fabric::sim::World world;
    fabric::sim::Node& server_node;
    fabric::sim::Node& client_node;
    MemoryTarget target;
    std::unique_ptr<Server> server;
    SessionEvents events;
    std::unique_ptr<ClientSession> session;
};

}  // namespace ibnbd::ibtrs::test
