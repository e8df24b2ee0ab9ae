// IBTRS sessions over verbs on rxe (see rxe_e2e_main.cpp): every IO byte verified
// (sim-scenarios/lib/verified_io.hpp: reads are checked against the last acknowledged write of
// each block), queue pairs released after TIMEWAIT_EXIT, and a path killed under load without a
// single IO error.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/client_path.hpp"
#include "core/ibtrs/client_session.hpp"
#include "sim-scenarios/lib/verified_io.hpp"
#include "tests/core/ibtrs/session_events.hpp"
#include "tests/rxe/rxe_support.hpp"

namespace ibnbd::rxe_test {

namespace {

using fabric::verbs::VerbsFabric;
using ibtrs::kMillisecond;
using ibtrs::kSecond;

// A client fabric, a session over every address of the environment, and the means to drive it.
struct Client {
    explicit Client(std::uint16_t port) : port_(port) {
        fabric::verbs::VerbsConfig config;
        config.address = environment().addresses.front();
        auto created = VerbsFabric::create(config);
        BOOST_REQUIRE(created.has_value());
        fabric = std::move(*created);
    }
    ~Client() {
        if (session) {
            session->close();
            run_until([&] { return session->closed(); }, 10 * kSecond);
        }
        session.reset();
    }

    bool run_until(const std::function<bool()>& done, fabric::Nanos timeout) {
        return rxe_test::run_until(*fabric, done, timeout);
    }

    void open(const std::string& name) {
        std::vector<ibtrs::PathSpec> paths;
        for (const std::string& address : environment().addresses) {
            paths.push_back({{address, 0}, {address, port_}});
        }
        auto created = ibtrs::ClientSession::create(*fabric, rxe_client_config(name), paths, events);
        BOOST_REQUIRE(created.has_value());
        session = std::move(created.value());
        session->start();
        BOOST_REQUIRE(run_until([&] { return events.opened; }, 20 * kSecond));
        BOOST_REQUIRE_EQUAL(events.open_status, 0);
        BOOST_REQUIRE(run_until([&] { return session->connected_paths() == paths.size(); }, 20 * kSecond));
    }

    scenario::IoDriver::Options io_options(std::uint32_t block_size, bool random_sizes, std::uint64_t ios) const {
        scenario::IoDriver::Options options;
        options.queue_depth = 16;
        options.blocks = 64;
        options.block_size = block_size;
        options.total_ios = ios;
        options.random_sizes = random_sizes;
        options.read_percent = 50;
        options.seed = block_size + (random_sizes ? 1 : 0);
        return options;
    }

    std::uint64_t failovered() const {
        std::uint64_t total = 0;
        for (std::uint32_t i = 0; i < session->path_count(); ++i) {
            if (const auto* path = session->path(i)) total += path->stats().failovered;
        }
        return total;
    }

    std::uint16_t port_;
    std::unique_ptr<VerbsFabric> fabric;
    ibtrs::test::SessionEvents events;
    std::unique_ptr<ibtrs::ClientSession> session;
};

void check_clean(const scenario::IoDriver& driver, std::uint64_t ios) {
    BOOST_TEST(driver.completed == ios);
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.submit_errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    BOOST_TEST(driver.reads > 0u);
    BOOST_TEST(driver.writes > 0u);
}

}  // namespace

// Every IO size from 4 KiB to the session's maximum, then random sizes, each phase in its own
// session (with its own disk on the server), over every path.
BOOST_AUTO_TEST_CASE(verified_io_of_every_size_over_all_paths) {
    auto server = ServerProcess::start(environment().addresses, 18515, rxe_server_config());
    BOOST_REQUIRE_MESSAGE(server.has_value(), "the server process could not listen");
    std::uint32_t max_io_size = 0;
    {
        Client probe(18515);
        probe.open("probe");
        max_io_size = probe.session->max_io_size();
    }
    BOOST_TEST_MESSAGE("max_io_size " << max_io_size);
    BOOST_REQUIRE(max_io_size >= 65536u);
    struct Phase {
        std::uint32_t block_size;
        bool random_sizes;
    };
    for (const Phase phase : {Phase{4096, false}, Phase{16384, false}, Phase{65536, false},
                              Phase{max_io_size, false}, Phase{max_io_size, true}}) {
        BOOST_TEST_CONTEXT("block size " << phase.block_size << (phase.random_sizes ? " (random sizes)" : "")) {
            Client client(18515);
            client.open("size-" + std::to_string(phase.block_size) + (phase.random_sizes ? "-random" : ""));
            constexpr std::uint64_t kIos = 300;
            const auto options = client.io_options(phase.block_size, phase.random_sizes, kIos);
            std::vector<std::byte> zeros(std::size_t{options.blocks} * options.block_size);
            scenario::IoDriver driver(*client.fabric, *client.session, options, zeros);
            driver.pump();
            BOOST_REQUIRE(client.run_until([&] { return driver.done(); }, 120 * kSecond));
            check_clean(driver, kIos);
            BOOST_TEST(client.failovered() == 0u);
        }
    }
    BOOST_TEST(server->stop() == 0);
}

// Closing a session destroys its endpoints, but the queue pairs stay until the RDMA CM reports
// TIMEWAIT_EXIT (verbs_fabric.hpp): they must all go by themselves, none by the backend's limit.
BOOST_AUTO_TEST_CASE(queue_pairs_are_released_after_timewait) {
    auto server = ServerProcess::start(environment().addresses, 18517, rxe_server_config());
    BOOST_REQUIRE_MESSAGE(server.has_value(), "the server process could not listen");
    Client client(18517);
    client.open("timewait");
    const auto options = client.io_options(4096, false, 100);
    std::vector<std::byte> zeros(std::size_t{options.blocks} * options.block_size);
    scenario::IoDriver driver(*client.fabric, *client.session, options, zeros);
    driver.pump();
    BOOST_REQUIRE(client.run_until([&] { return driver.done(); }, 60 * kSecond));
    check_clean(driver, 100);
    const std::size_t connections = client.fabric->stats().connections;
    BOOST_TEST(connections >= 2 * (1 + rxe_client_config("x").io_connections));
    client.session->close();
    BOOST_REQUIRE(client.run_until([&] { return client.session->closed(); }, 10 * kSecond));
    client.session.reset();
    const fabric::Nanos closed_at = client.fabric->now();
    BOOST_TEST(client.fabric->stats().lingering == connections);
    BOOST_TEST(client.run_until([&] { return client.fabric->stats().connections == 0; }, 60 * kSecond));
    const auto stats = client.fabric->stats();
    BOOST_TEST_MESSAGE("all " << connections << " queue pairs released "
                              << (client.fabric->now() - closed_at) / kMillisecond << " ms after the close");
    BOOST_TEST(stats.timewait_exits >= connections);
    BOOST_TEST(stats.timewait_limit_hits == 0u);
    BOOST_TEST(stats.local_flushes == 0u);
    BOOST_TEST(server->stop() == 0);
}

// One path loses its address under load: no IO fails, the path's requests fail over, and the
// path reconnects once the address is back.
BOOST_AUTO_TEST_CASE(a_path_killed_under_load_fails_over_without_io_errors) {
    if (environment().addresses.size() < 2 || environment().interface.empty()) {
        BOOST_TEST_MESSAGE("skipped: needs two addresses on the rxe netdev (RXE_VM_IP2, RXE_VM_IFACE)");
        BOOST_TEST(true);
        return;
    }
    const std::string victim = environment().addresses[1];
    auto server = ServerProcess::start(environment().addresses, 18516, rxe_server_config());
    BOOST_REQUIRE_MESSAGE(server.has_value(), "the server process could not listen");
    Client client(18516);
    client.open("failover");

    constexpr std::uint64_t kIos = 3000;
    const auto options = client.io_options(16384, true, kIos);
    std::vector<std::byte> zeros(std::size_t{options.blocks} * options.block_size);
    scenario::IoDriver driver(*client.fabric, *client.session, options, zeros);
    driver.pump();
    BOOST_REQUIRE(client.run_until([&] { return driver.completed >= 300; }, 60 * kSecond));
    BOOST_TEST_MESSAGE("deleting " << victim << " after " << driver.completed << " IOs");
    BOOST_REQUIRE_EQUAL(delete_address(victim), 0);
    const bool finished = client.run_until([&] { return driver.done(); }, 180 * kSecond);
    // Put the address back before any check can stop the test.
    const int restored = add_address(victim);
    BOOST_REQUIRE(finished);
    check_clean(driver, kIos);
    BOOST_TEST(client.failovered() > 0u);
    BOOST_TEST(client.events.failover_events > 0);
    BOOST_TEST(client.session->path(0)->state() == ibtrs::ClientPathState::connected);
    BOOST_TEST(client.session->path(1)->state() != ibtrs::ClientPathState::connected);
    BOOST_TEST_MESSAGE("failovered " << client.failovered() << ", path 2 is "
                                     << ibtrs::to_string(client.session->path(1)->state()));

    BOOST_REQUIRE_EQUAL(restored, 0);
    BOOST_TEST(client.run_until([&] { return client.session->connected_paths() == 2; }, 30 * kSecond));
    BOOST_TEST(client.session->path(1)->stats().reconnects_ok > 0u);
    client.session->close();
    client.run_until([&] { return client.session->closed(); }, 10 * kSecond);
    client.session.reset();
    BOOST_TEST(server->stop() == 0);
}

}  // namespace ibnbd::rxe_test
