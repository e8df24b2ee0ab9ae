// Names in the memory catalogue: canonical paths like realpath(3), directories, symlinks, open().
#include <boost/test/unit_test.hpp>

#include <cerrno>

#include "tests/ibnbd/storage/memory/sim_disk.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::memory;
using namespace ibnbd::storage::memory::test;

namespace {

std::string canonical(const MemoryCatalog& catalog, const std::string& path) {
    auto result = catalog.canonical_path(path);
    return result ? *result : "error " + std::to_string(result.error());
}

int error_of(const MemoryCatalog& catalog, const std::string& path) {
    auto result = catalog.canonical_path(path);
    return result ? 0 : result.error();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memory_paths)

BOOST_AUTO_TEST_CASE(canonical_paths_normalise_like_realpath) {
    MemoryCatalog catalog;
    catalog.add_store("/srv/disks/vol0", 1 << 20, {});
    BOOST_TEST(canonical(catalog, "/srv/disks/vol0") == "/srv/disks/vol0");
    BOOST_TEST(canonical(catalog, "//srv///disks//vol0") == "/srv/disks/vol0");
    BOOST_TEST(canonical(catalog, "/srv/./disks/../disks/vol0") == "/srv/disks/vol0");
    BOOST_TEST(canonical(catalog, "/../../srv/disks/vol0") == "/srv/disks/vol0");  // ".." of "/" is "/"
    BOOST_TEST(canonical(catalog, "srv/disks/vol0") == "/srv/disks/vol0");       // relative to "/"
    BOOST_TEST(canonical(catalog, "/srv/disks/") == "/srv/disks");               // directories are implicit
    BOOST_TEST(canonical(catalog, "/srv") == "/srv");
    BOOST_TEST(canonical(catalog, "/") == "/");
    BOOST_TEST(canonical(catalog, "/srv/..") == "/");
}

BOOST_AUTO_TEST_CASE(missing_names_and_misused_stores_are_errors) {
    MemoryCatalog catalog;
    catalog.add_store("/srv/vol0", 1 << 20, {});
    BOOST_TEST(error_of(catalog, "") == -ENOENT);
    BOOST_TEST(error_of(catalog, "/srv/vol1") == -ENOENT);
    BOOST_TEST(error_of(catalog, "/nothing/../srv/vol0") == -ENOENT);  // every component must exist
    BOOST_TEST(error_of(catalog, "/srv/vol0/") == -ENOTDIR);
    BOOST_TEST(error_of(catalog, "/srv/vol0/x") == -ENOTDIR);
    BOOST_TEST(error_of(catalog, "/srv/vol0/..") == -ENOTDIR);
    BOOST_TEST(error_of(catalog, "/" + std::string(256, 'a')) == -ENAMETOOLONG);
    BOOST_TEST(error_of(catalog, "/" + std::string(255, 'a')) == -ENOENT);
    std::string long_path;
    while (long_path.size() < kPathMax) long_path += "/srv";
    BOOST_TEST(error_of(catalog, long_path) == -ENAMETOOLONG);
}

BOOST_AUTO_TEST_CASE(symlinks_are_followed_absolute_and_relative) {
    MemoryCatalog catalog;
    catalog.add_store("/srv/vol0", 1 << 20, {});
    catalog.add_store("/data/pool/disk1", 1 << 20, {});
    catalog.add_symlink("/srv/alias", "vol0");                        // same directory
    catalog.add_symlink("/srv/absolute", "/data/pool/disk1");
    catalog.add_symlink("/srv/up", "../data/pool/disk1");
    catalog.add_symlink("/srv/pooldir", "/data/pool");               // a link to a directory
    catalog.add_symlink("/srv/chain", "alias");                       // a link to a link
    catalog.add_symlink("/srv/dangling", "missing");
    BOOST_TEST(canonical(catalog, "/srv/alias") == "/srv/vol0");
    BOOST_TEST(canonical(catalog, "/srv/absolute") == "/data/pool/disk1");
    BOOST_TEST(canonical(catalog, "/srv/up") == "/data/pool/disk1");
    BOOST_TEST(canonical(catalog, "/srv/pooldir/disk1") == "/data/pool/disk1");
    BOOST_TEST(canonical(catalog, "/srv/pooldir/../pool/./disk1") == "/data/pool/disk1");  // ".." after the link
    BOOST_TEST(canonical(catalog, "/srv/pooldir/..") == "/data");
    BOOST_TEST(canonical(catalog, "/srv/chain") == "/srv/vol0");
    BOOST_TEST(error_of(catalog, "/srv/dangling") == -ENOENT);
    BOOST_TEST(error_of(catalog, "/srv/alias/") == -ENOTDIR);
    BOOST_TEST(catalog.find_store("/srv/chain") == catalog.find_store("/srv/vol0"));
    BOOST_TEST(catalog.find_store("/srv/pooldir") == nullptr);
}

BOOST_AUTO_TEST_CASE(symlink_loops_give_eloop_after_forty_links) {
    MemoryCatalog catalog;
    catalog.add_store("/srv/vol0", 1 << 20, {});
    catalog.add_symlink("/loop/a", "b");
    catalog.add_symlink("/loop/b", "/loop/a");
    catalog.add_symlink("/loop/self", "self");
    BOOST_TEST(error_of(catalog, "/loop/a") == -ELOOP);
    BOOST_TEST(error_of(catalog, "/loop/self") == -ELOOP);
    // A chain of exactly 40 links resolves; 41 do not.
    catalog.add_symlink("/chain/l0", "/srv/vol0");
    for (int i = 1; i <= 40; ++i) catalog.add_symlink("/chain/l" + std::to_string(i), "l" + std::to_string(i - 1));
    BOOST_TEST(canonical(catalog, "/chain/l39") == "/srv/vol0");
    BOOST_TEST(error_of(catalog, "/chain/l40") == -ELOOP);
}

BOOST_AUTO_TEST_CASE(the_backend_opens_stores_and_refuses_directories) {
    SimDisk disk;
    disk.catalog.add_store("/srv/vol0", 1 << 20, {});
    disk.catalog.add_symlink("/srv/alias", "vol0");
    disk.catalog.add_symlink("/srv/dir", "/srv");
    BOOST_TEST(disk.backend.canonical_path("/srv/alias").value() == "/srv/vol0");
    auto directory = disk.backend.open("/srv", true);
    BOOST_REQUIRE(!directory.has_value());
    BOOST_TEST(directory.error() == -EISDIR);
    BOOST_TEST(disk.backend.open("/srv/dir", false).error() == -EISDIR);
    BOOST_TEST(disk.backend.open("/srv/none", false).error() == -ENOENT);
    auto by_alias = disk.backend.open("/srv/alias", true);
    BOOST_REQUIRE(by_alias.has_value());
    BOOST_TEST((by_alias.value()->identity() == disk.open("/srv/vol0")->identity()));
}

BOOST_AUTO_TEST_SUITE_END()
