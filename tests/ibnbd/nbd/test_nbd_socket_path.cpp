// Where an NBD export's unix socket may be created: never over a file, a directory or a socket
// another process still serves; only a stale socket (nobody listens on it) is replaced.
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "ibnbd/nbd/nbd_server.hpp"

using namespace ibnbd;
using namespace ibnbd::nbd;

namespace {

struct TempDir {
    TempDir() {
        char name[] = "/tmp/ibnbd-nbd-path.XXXXXX";
        path = ::mkdtemp(name);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
    std::string path;
};

std::string content_of(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool is_socket(const std::string& path) {
    struct stat info{};
    return ::lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

bool accepts_connections(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

// A socket file left behind by a process that is gone: bound, never unlinked, closed.
void leave_stale_socket(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_regular_file_at_the_socket_path_is_refused_and_kept) {
    TempDir dir;
    const std::string path = dir / "precious";
    std::ofstream(path) << "data that must survive";
    auto server = NbdServer::listen_unix(path);
    BOOST_REQUIRE(!server.has_value());
    BOOST_TEST(server.error() == -EEXIST);
    BOOST_TEST(content_of(path) == "data that must survive");
}

BOOST_AUTO_TEST_CASE(a_directory_at_the_socket_path_is_refused) {
    TempDir dir;
    const std::string path = dir / "subdir";
    std::filesystem::create_directory(path);
    auto server = NbdServer::listen_unix(path);
    BOOST_REQUIRE(!server.has_value());
    BOOST_TEST(server.error() == -EEXIST);
    BOOST_TEST(std::filesystem::is_directory(path));
}

BOOST_AUTO_TEST_CASE(a_socket_another_server_listens_on_is_refused_and_keeps_working) {
    TempDir dir;
    const std::string path = dir / "live.sock";
    auto first = NbdServer::listen_unix(path);
    BOOST_REQUIRE(first.has_value());
    auto second = NbdServer::listen_unix(path);
    BOOST_REQUIRE(!second.has_value());
    BOOST_TEST(second.error() == -EADDRINUSE);
    BOOST_TEST(accepts_connections(path));  // still the first server's socket
}

BOOST_AUTO_TEST_CASE(a_stale_socket_is_replaced) {
    TempDir dir;
    const std::string path = dir / "stale.sock";
    leave_stale_socket(path);
    BOOST_REQUIRE(is_socket(path));
    BOOST_REQUIRE(!accepts_connections(path));
    auto server = NbdServer::listen_unix(path);
    BOOST_REQUIRE(server.has_value());
    BOOST_TEST(accepts_connections(path));
    server->reset();
    BOOST_TEST(!std::filesystem::exists(path));  // removed with its server
}
