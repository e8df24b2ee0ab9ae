// Names on a real file system: canonical paths, identities, and what open() refuses.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "tests/ibnbd/storage/uring/scratch.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::uring;
using namespace ibnbd::storage::uring::test;
namespace utf = boost::unit_test;

BOOST_AUTO_TEST_SUITE(uring_paths, *utf::precondition(scratch_available))

BOOST_AUTO_TEST_CASE(canonical_path_follows_symlinks) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    dir.make_directory("sub");
    dir.make_symlink("alias", "vol");
    dir.make_symlink("sub/up", "../alias");
    dir.make_symlink("subdir", dir.path() + "/sub");
    auto backend = make_backend();
    char* real_root = ::realpath(dir.path().c_str(), nullptr);
    BOOST_REQUIRE(real_root != nullptr);
    const std::string root(real_root);
    std::free(real_root);
    BOOST_TEST(backend->canonical_path(dir.path() + "/alias").value() == root + "/vol");
    BOOST_TEST(backend->canonical_path(dir.path() + "/subdir/up").value() == root + "/vol");
    BOOST_TEST(backend->canonical_path(dir.path() + "//sub/./../vol").value() == root + "/vol");
    BOOST_TEST(backend->canonical_path(dir.path() + "/subdir").value() == root + "/sub");
}

BOOST_AUTO_TEST_CASE(canonical_path_errors_are_negative_errnos) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    dir.make_symlink("loop1", "loop2");
    dir.make_symlink("loop2", "loop1");
    dir.make_symlink("dangling", "missing");
    auto backend = make_backend();
    BOOST_TEST(backend->canonical_path(dir.path() + "/missing").error() == -ENOENT);
    BOOST_TEST(backend->canonical_path(dir.path() + "/dangling").error() == -ENOENT);
    BOOST_TEST(backend->canonical_path(dir.path() + "/loop1").error() == -ELOOP);
    BOOST_TEST(backend->canonical_path(file + "/x").error() == -ENOTDIR);
    BOOST_TEST(backend->canonical_path(dir.path() + "/" + std::string(300, 'n')).error() == -ENAMETOOLONG);
}

BOOST_AUTO_TEST_CASE(a_file_and_a_symlink_to_it_have_one_identity) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    const std::string other = dir.make_file("other", 1 << 20);
    const std::string link = dir.make_symlink("alias", "vol");
    auto backend = make_backend();
    auto by_name = open_device(*backend, file);
    auto by_link = open_device(*backend, link, false);
    auto different = open_device(*backend, other);
    BOOST_TEST((by_name->identity() == by_link->identity()));
    BOOST_TEST(!(by_name->identity() == different->identity()));
}

BOOST_AUTO_TEST_CASE(open_refuses_what_is_not_a_file_or_a_block_device) {
    ScratchDir dir;
    const std::string sub = dir.make_directory("sub");
    const std::string fifo = dir.make_fifo("fifo");
    auto backend = make_backend();
    BOOST_TEST(backend->open(sub, true).error() == -EISDIR);
    BOOST_TEST(backend->open(sub, false).error() == -EISDIR);
    const auto start = std::chrono::steady_clock::now();
    BOOST_TEST(backend->open(fifo, false).error() == -ENOTBLK);  // and without hanging on the FIFO
    BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(2)));
    BOOST_TEST(backend->open("/dev/null", false).error() == -ENOTBLK);
    BOOST_TEST(backend->open(dir.path() + "/missing", false).error() == -ENOENT);
}

boost::test_tools::assertion_result not_root(utf::test_unit_id) {
    boost::test_tools::assertion_result result(::geteuid() != 0);
    result.message() << "running as root, which ignores mode bits: -EACCES cannot be provoked";
    return result;
}

BOOST_AUTO_TEST_CASE(open_reports_permission_errors, *utf::precondition(not_root)) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    BOOST_REQUIRE(::chmod(file.c_str(), 0400) == 0);
    auto backend = make_backend();
    BOOST_TEST(backend->open(file, true).error() == -EACCES);
    BOOST_TEST(backend->open(file, false).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
