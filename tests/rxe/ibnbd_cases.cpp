// IBNBD over verbs on rxe (see rxe_e2e_main.cpp): rxe_server exports a 32 MiB file through
// BlockServer and io_uring; a BlockClient here maps it over every path and runs verified block IO
// (block_verifier.hpp), once undisturbed and once with a path killed under load.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/client_path.hpp"
#include "ibnbd/client/block_client.hpp"
#include "tests/rxe/block_verifier.hpp"
#include "tests/rxe/rxe_support.hpp"

namespace ibnbd::rxe_test {

namespace {

using ibtrs::kSecond;

constexpr const char* kBlockDir = "/tmp/ibnbd-rxe-disks";
constexpr std::uint64_t kVolumeSize = 32u << 20;

struct MapEvents final : block::BlockClientHandler {
    void on_mapped(block::BlockDevice&, int result) override {
        mapped = true;
        status = result;
    }
    void on_unmapped(block::BlockDevice&) override { unmapped = true; }
    bool mapped = false;
    int status = 1;
    bool unmapped = false;
};

// A client fabric and a BlockClient over every address of the environment, with vol0 mapped.
struct BlockClientRun {
    BlockClientRun(std::uint16_t port, const std::string& session) {
        fabric::verbs::VerbsConfig config;
        config.address = environment().addresses.front();
        auto created = fabric::verbs::VerbsFabric::create(config);
        BOOST_REQUIRE(created.has_value());
        fabric = std::move(*created);
        std::vector<ibtrs::PathSpec> paths;
        for (const std::string& address : environment().addresses) paths.push_back({{address, 0}, {address, port}});
        block::BlockClientConfig client_config;
        client_config.transport = rxe_client_config(session);
        auto made = block::BlockClient::create(*fabric, client_config, paths, events);
        BOOST_REQUIRE(made.has_value());
        client = std::move(made.value());
        auto mapped = client->map("vol0", wire::AccessMode::rw);
        BOOST_REQUIRE(mapped.has_value());
        device = *mapped;
        BOOST_REQUIRE(run_until([&] { return events.mapped; }, 20 * kSecond));
        BOOST_REQUIRE_EQUAL(events.status, 0);
        BOOST_REQUIRE(run_until([&] { return client->transport().connected_paths() == paths.size(); }, 20 * kSecond));
    }

    ~BlockClientRun() {
        if (device && device->state() != block::DeviceState::unmapped && client->unmap(*device, true)) {
            run_until([&] { return events.unmapped; }, 10 * kSecond);
        }
        client->transport().close();
        run_until([&] { return client->transport().closed(); }, 10 * kSecond);
        client.reset();
    }

    bool run_until(const std::function<bool()>& done, fabric::Nanos timeout) {
        return rxe_test::run_until(*fabric, done, timeout);
    }

    BlockVerifier::Options options(std::uint64_t ios) const {
        BlockVerifier::Options options;
        options.region_size = std::min<std::uint32_t>(131072, device->info().max_io_bytes) / 4096 * 4096;
        options.regions = static_cast<std::uint32_t>(std::min<std::uint64_t>(64, kVolumeSize / options.region_size));
        options.total_ios = ios;
        return options;
    }

    std::uint64_t failovered() const {
        std::uint64_t total = 0;
        auto& transport = client->transport();
        for (std::uint32_t i = 0; i < transport.path_count(); ++i) {
            if (const auto* path = transport.path(i)) total += path->stats().failovered;
        }
        return total;
    }

    std::unique_ptr<fabric::verbs::VerbsFabric> fabric;
    MapEvents events;
    std::unique_ptr<block::BlockClient> client;
    block::BlockDevice* device = nullptr;
};

void check_clean(const BlockVerifier& verifier, std::uint64_t ios) {
    BOOST_TEST(verifier.completed == ios);
    BOOST_TEST(verifier.errors == 0u);
    BOOST_TEST(verifier.submit_errors == 0u);
    BOOST_TEST(verifier.verify_failures == 0u);
    BOOST_TEST(verifier.reads > 0u);
    BOOST_TEST(verifier.writes > 0u);
    if (verifier.last_error != 0) BOOST_TEST_MESSAGE("last error " << verifier.last_error);
}

}  // namespace

BOOST_AUTO_TEST_CASE(ibnbd_device_verified_io_over_all_paths) {
    auto server = ServerProcess::start(environment().addresses, 18520, rxe_server_config(), kBlockDir);
    BOOST_REQUIRE_MESSAGE(server.has_value(), "the IBNBD server process could not start");
    {
        BlockClientRun run(18520, "ibnbd-io");
        BOOST_TEST(run.device->info().size_bytes == kVolumeSize);
        BOOST_TEST(run.device->info().max_io_bytes >= 4096u);
        constexpr std::uint64_t kIos = 400;
        BlockVerifier verifier(*run.device, run.options(kIos));
        verifier.pump();
        BOOST_REQUIRE(run.run_until([&] { return verifier.done(); }, 120 * kSecond));
        check_clean(verifier, kIos);
        BOOST_TEST(run.failovered() == 0u);
    }
    BOOST_TEST(server->stop() == 0);
}

BOOST_AUTO_TEST_CASE(ibnbd_io_survives_a_path_killed_under_load) {
    if (environment().addresses.size() < 2 || environment().interface.empty()) {
        BOOST_TEST_MESSAGE("skipped: needs two addresses on the rxe netdev (RXE_VM_IP2, RXE_VM_IFACE)");
        BOOST_TEST(true);
        return;
    }
    const std::string victim = environment().addresses[1];
    auto server = ServerProcess::start(environment().addresses, 18521, rxe_server_config(), kBlockDir);
    BOOST_REQUIRE_MESSAGE(server.has_value(), "the IBNBD server process could not start");
    {
        BlockClientRun run(18521, "ibnbd-failover");
        constexpr std::uint64_t kIos = 2000;
        BlockVerifier verifier(*run.device, run.options(kIos));
        verifier.pump();
        BOOST_REQUIRE(run.run_until([&] { return verifier.completed >= 200; }, 60 * kSecond));
        BOOST_REQUIRE_EQUAL(delete_address(victim), 0);
        const bool finished = run.run_until([&] { return verifier.done(); }, 180 * kSecond);
        const int restored = add_address(victim);
        BOOST_REQUIRE(finished);
        check_clean(verifier, kIos);
        BOOST_TEST(run.failovered() > 0u);
        BOOST_TEST((run.device->state() == block::DeviceState::mapped));
        BOOST_REQUIRE_EQUAL(restored, 0);
        BOOST_TEST(run.run_until([&] { return run.client->transport().connected_paths() == 2; }, 30 * kSecond));
    }
    BOOST_TEST(server->stop() == 0);
}

}  // namespace ibnbd::rxe_test
