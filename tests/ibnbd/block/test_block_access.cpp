// Access modes (docs/protocol.md §3.8) and device name resolution with %SESSNAME% namespaces (§3.9).
#include <boost/test/unit_test.hpp>

#include "tests/ibnbd/block/block_cluster.hpp"

using namespace ibnbd;
using namespace ibnbd::block;
using namespace ibnbd::block::test;
using wire::AccessMode;

namespace {

int map_status(BlockCluster& cluster, BlockClient& client, int index, const std::string& name, AccessMode mode) {
    int status = 1;
    cluster.map(client, index, name, mode, &status);
    return status;
}

}  // namespace

BOOST_AUTO_TEST_CASE(access_mode_matrix_counts_writers_per_device) {
    struct Case {
        AccessMode first, second;
        int expected;
    };
    const std::vector<Case> cases{
        {AccessMode::ro, AccessMode::ro, 0},          {AccessMode::ro, AccessMode::rw, 0},
        {AccessMode::rw, AccessMode::ro, 0},          {AccessMode::rw, AccessMode::rw, -EPERM},
        {AccessMode::rw, AccessMode::migration, 0},   {AccessMode::migration, AccessMode::migration, 0},
        {AccessMode::migration, AccessMode::rw, -EPERM},
    };
    for (const Case& c : cases) {
        BlockCluster cluster;
        cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
        auto a = cluster.client(0, "alpha");
        auto b = cluster.client(1, "beta");
        BOOST_REQUIRE(map_status(cluster, *a, 0, "vol0", c.first) == 0);
        BOOST_TEST(map_status(cluster, *b, 1, "vol0", c.second) == c.expected,
                   "modes " << int(c.first) << " then " << int(c.second));
    }
    // A third writer is refused even in migration mode; a reader still gets in.
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto a = cluster.client(0, "alpha");
    auto b = cluster.client(1, "beta");
    auto c = cluster.client(2, "gamma");
    BOOST_REQUIRE(map_status(cluster, *a, 0, "vol0", AccessMode::migration) == 0);
    BOOST_REQUIRE(map_status(cluster, *b, 1, "vol0", AccessMode::migration) == 0);
    BOOST_TEST(map_status(cluster, *c, 2, "vol0", AccessMode::migration) == -EPERM);
    BOOST_TEST(map_status(cluster, *c, 2, "vol0", AccessMode::ro) == 0);
}

BOOST_AUTO_TEST_CASE(two_names_for_one_store_are_one_device) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    cluster.catalog.add_symlink("/srv/alias", "vol0");
    auto a = cluster.client(0, "alpha");
    auto b = cluster.client(1, "beta");
    BOOST_REQUIRE(map_status(cluster, *a, 0, "vol0", AccessMode::rw) == 0);
    BOOST_TEST(map_status(cluster, *b, 1, "alias", AccessMode::rw) == -EPERM);
    BOOST_TEST(cluster.block_server->open_devices() == 1u);
}

BOOST_AUTO_TEST_CASE(unmapping_a_writer_lets_the_next_one_in) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto a = cluster.client(0, "alpha");
    auto b = cluster.client(1, "beta");
    BOOST_REQUIRE(map_status(cluster, *a, 0, "vol0", AccessMode::rw) == 0);
    BOOST_REQUIRE(map_status(cluster, *b, 1, "vol0", AccessMode::rw) == -EPERM);
    BOOST_REQUIRE(a->unmap(*a->find("vol0"), false).has_value());
    cluster.run_for(10 * kMillisecond);  // the CLOSE reaches the server
    BOOST_TEST(map_status(cluster, *b, 1, "vol0", AccessMode::rw) == 0);
}

BOOST_AUTO_TEST_CASE(read_only_mapping_refuses_writes) {
    BlockCluster cluster;
    cluster.catalog.add_store("/srv/vol0", 1 << 20, {});
    auto a = cluster.client(0, "alpha");
    BlockDevice* device = cluster.map(*a, 0, "vol0", AccessMode::ro);
    BOOST_REQUIRE(device != nullptr);
    std::vector<std::byte> data(512);
    struct : BlockIoHandler {
        void on_block_io_complete(std::uint64_t, int) override {}
    } ignore;
    BOOST_TEST(device->write(0, data, false, ignore, 0).error() == -EROFS);
    BOOST_TEST(device->discard(0, 512, ignore, 0).error() == -EROFS);
    BOOST_TEST(device->read(0, data, ignore, 0).has_value());
}

BOOST_AUTO_TEST_CASE(session_namespaces_resolve_and_refuse_escapes) {
    BlockCluster cluster(1, "/run/ibnbd-guid/%SESSNAME%");
    cluster.catalog.add_store("/run/ibnbd-guid/alpha/sda1", 1 << 20, {});
    cluster.catalog.add_store("/run/ibnbd-guid/beta/sda1", 2 << 20, {});
    cluster.catalog.add_store("/etc/secret", 1 << 20, {});
    cluster.catalog.add_symlink("/run/ibnbd-guid/alpha/escape", "/etc/secret");
    cluster.catalog.add_symlink("/run/ibnbd-guid/alpha/sneaky", "../beta/sda1");
    cluster.catalog.add_symlink("/run/ibnbd-guid/alpha/inside", "sda1");
    auto alpha = cluster.client(0, "alpha");
    auto beta = cluster.client(1, "beta");
    BlockDevice* a = cluster.map(*alpha, 0, "sda1", AccessMode::rw);
    BlockDevice* b = cluster.map(*beta, 1, "sda1", AccessMode::rw);
    BOOST_REQUIRE(a != nullptr);
    BOOST_REQUIRE(b != nullptr);
    BOOST_TEST(a->info().size_bytes == (1u << 20));  // alpha's sda1
    BOOST_TEST(b->info().size_bytes == (2u << 20));  // beta's sda1
    BOOST_TEST(map_status(cluster, *alpha, 0, "../beta/sda1", AccessMode::ro) == -EINVAL);
    BOOST_TEST(map_status(cluster, *alpha, 0, "escape", AccessMode::ro) == -EACCES);
    BOOST_TEST(map_status(cluster, *alpha, 0, "sneaky", AccessMode::ro) == -EACCES);
    BOOST_TEST(map_status(cluster, *alpha, 0, "missing", AccessMode::ro) == -ENOENT);
    BOOST_TEST(map_status(cluster, *alpha, 0, "inside", AccessMode::ro) == 0);  // a symlink that stays home
    BOOST_TEST(map_status(cluster, *alpha, 0, "//sda1", AccessMode::ro) == 0);  // absolute names stay under the root
    BOOST_TEST(alpha->map(std::string(255, 'x'), AccessMode::ro).error() == -EINVAL);
}

BOOST_AUTO_TEST_CASE(overlong_paths_are_refused) {
    BlockCluster cluster(1, "/" + std::string(3990, 'd'));
    auto client = cluster.client(0, "alpha");
    BOOST_TEST(map_status(cluster, *client, 0, std::string(200, 'n'), AccessMode::ro) == -ENAMETOOLONG);
}

BOOST_AUTO_TEST_CASE(resolver_expands_sessname_like_the_kernel) {
    storage::memory::MemoryCatalog catalog;
    fabric::sim::World world(1);
    auto& node = world.add_node("n", {"10.0.0.1"});
    storage::memory::MemoryBackend backend(node, catalog);
    DeviceResolver resolver(backend, "/run/devs/%SESSNAME%/ignored");
    BOOST_TEST(resolver.root_of("blya") == "/run/devs/blya");
    BOOST_TEST(collapse_slashes("//a///b/") == "/a/b/");
    DeviceResolver plain(backend, "/srv/");
    BOOST_TEST(plain.root_of("x") == "/srv/");
}
