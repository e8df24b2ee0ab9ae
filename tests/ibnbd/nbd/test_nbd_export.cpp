// The NBD export against a memory target, with real NBD clients: libnbd's API for every command
// and error, and the nbdinfo / nbdcopy tools as a user would run them.
#define BOOST_TEST_MODULE ibnbd_nbd
#include <boost/test/unit_test.hpp>

#include <libnbd.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "ibnbd/nbd/nbd_server.hpp"

using namespace ibnbd;
using namespace ibnbd::nbd;

namespace {

// Completes every operation from its poll(), on the reactor thread, never inline.
class MemoryExport : public block::ExportTarget, public runtime::Pollable {
public:
    MemoryExport(std::size_t size, bool read_only) : disk(size), read_only_(read_only) {}
    block::ExportInfo info() const override {
        return {.size = disk.size(), .block_size = 512, .max_io = 64 * 1024, .max_trim = 1 << 20,
                .max_zeroes = 1 << 20, .read_only = read_only_, .flush = true};
    }
    Status<int> read(std::uint64_t offset, std::span<std::byte> into, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        std::memcpy(into.data(), disk.data() + offset, into.size());
        return queue(handler, cookie);
    }
    Status<int> write(std::uint64_t offset, std::span<const std::byte> from, bool fua, block::BlockIoHandler& handler,
                      std::uint64_t cookie) override {
        std::memcpy(disk.data() + offset, from.data(), from.size());
        fua_writes += fua;
        max_part = std::max<std::size_t>(max_part, from.size());
        return queue(handler, cookie);
    }
    Status<int> flush(block::BlockIoHandler& handler, std::uint64_t cookie) override {
        ++flushes;
        return queue(handler, cookie);
    }
    Status<int> trim(std::uint64_t offset, std::uint32_t length, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        std::memset(disk.data() + offset, 0, length);
        ++trims;
        return queue(handler, cookie);
    }
    Status<int> write_zeroes(std::uint64_t offset, std::uint32_t length, bool no_hole, block::BlockIoHandler& handler,
                             std::uint64_t cookie) override {
        std::memset(disk.data() + offset, 0, length);
        no_hole_zeroes += no_hole;
        return queue(handler, cookie);
    }
    std::size_t poll(std::size_t) override {
        auto ready = std::move(pending_);
        pending_.clear();
        for (auto& [handler, cookie] : ready) handler->on_block_io_complete(cookie, fail_with);
        return ready.size();
    }

    std::vector<std::byte> disk;
    std::atomic<int> flushes{0}, trims{0}, fua_writes{0}, no_hole_zeroes{0};
    std::size_t max_part = 0;
    int fail_with = 0;

private:
    Status<int> queue(block::BlockIoHandler& handler, std::uint64_t cookie) {
        pending_.emplace_back(&handler, cookie);
        return {};
    }
    bool read_only_;
    std::vector<std::pair<block::BlockIoHandler*, std::uint64_t>> pending_;
};

struct Fixture {
    Fixture() : disk(16 << 20, false), readonly(1 << 20, true) {
        socket = "/tmp/ibnbd-nbd-test-" + std::to_string(::getpid()) + ".sock";
        auto created = NbdServer::listen_unix(socket);
        BOOST_REQUIRE(created.has_value());
        server = std::move(created.value());
        server->add_export("disk", disk);
        server->add_export("ro", readonly);
        reactor.add(*server);
        reactor.add(disk);
        reactor.add(readonly);
        thread = std::thread([this] { reactor.run(); });
    }
    ~Fixture() {
        reactor.stop();
        thread.join();
    }
    std::string uri(const std::string& name) const { return "nbd+unix:///" + name + "?socket=" + socket; }
    nbd_handle* connect(const std::string& name) {
        nbd_handle* handle = nbd_create();
        BOOST_REQUIRE(handle != nullptr);
        BOOST_REQUIRE_MESSAGE(nbd_connect_uri(handle, uri(name).c_str()) == 0, nbd_get_error());
        return handle;
    }

    MemoryExport disk, readonly;
    runtime::Reactor reactor;
    std::unique_ptr<NbdServer> server;
    std::string socket;
    std::thread thread;
};

int run(const std::string& command) { return std::system(command.c_str()); }

bool have(const char* tool) { return run(std::string("command -v ") + tool + " >/dev/null 2>&1") == 0; }

}  // namespace

BOOST_FIXTURE_TEST_CASE(handshake_reports_size_block_sizes_and_flags, Fixture) {
    nbd_handle* handle = connect("disk");
    BOOST_TEST(nbd_get_size(handle) == 16 << 20);
    BOOST_TEST(nbd_get_block_size(handle, LIBNBD_SIZE_MINIMUM) == 512);
    BOOST_TEST(nbd_get_block_size(handle, LIBNBD_SIZE_MAXIMUM) == NbdConnection::kMaxRequest);
    BOOST_TEST(nbd_can_flush(handle) == 1);
    BOOST_TEST(nbd_can_fua(handle) == 1);
    BOOST_TEST(nbd_can_trim(handle) == 1);
    BOOST_TEST(nbd_can_zero(handle) == 1);
    BOOST_TEST(nbd_can_multi_conn(handle) == 1);
    BOOST_TEST(nbd_is_read_only(handle) == 0);
    nbd_close(handle);
    nbd_handle* unknown = nbd_create();
    BOOST_TEST(nbd_connect_uri(unknown, uri("nope").c_str()) == -1);
    nbd_close(unknown);
}

BOOST_FIXTURE_TEST_CASE(connections_handed_to_another_reactors_host_are_served_there, Fixture) {
    // Every second accepted connection goes to a host on its own reactor thread, with its own
    // target: what the daemon does with the reactors of a session.
    MemoryExport other(16 << 20, false);
    runtime::Reactor other_reactor;
    std::unique_ptr<NbdServer> host = NbdServer::host("other");
    host->add_export("disk", other);
    other_reactor.add(*host);
    other_reactor.add(other);
    std::thread other_thread([&] { other_reactor.run(); });
    std::atomic<int> accepted{0};
    // The fixture's reactor is running: change the server from its own thread.
    BOOST_REQUIRE(reactor.post([&] {
        server->spread([&](int fd) {
            if (accepted++ % 2 == 0) return false;
            other_reactor.post_message([&host, fd] { host->adopt(fd); });
            return true;
        });
    }).has_value());
    std::vector<char> data(4096, 'x'), back(4096);
    nbd_handle* here = connect("disk");
    nbd_handle* there = connect("disk");
    BOOST_TEST(nbd_get_size(there) == 16 << 20);
    BOOST_REQUIRE(nbd_pwrite(there, data.data(), data.size(), 0, 0) == 0);
    BOOST_TEST(std::memcmp(other.disk.data(), data.data(), data.size()) == 0);  // the host's target
    BOOST_TEST((disk.disk[0] == std::byte{0}));  // not the server's
    BOOST_REQUIRE(nbd_pread(here, back.data(), back.size(), 0, 0) == 0);
    BOOST_TEST(back[0] == 0);
    nbd_close(here);
    nbd_close(there);
    other_reactor.stop();
    other_thread.join();
    BOOST_TEST(accepted.load() == 2);
}

BOOST_FIXTURE_TEST_CASE(every_command_and_its_errors, Fixture) {
    nbd_handle* handle = connect("disk");
    std::vector<char> data(1 << 20), back(1 << 20);
    std::mt19937 rng(7);
    for (auto& c : data) c = static_cast<char>(rng());
    BOOST_REQUIRE(nbd_pwrite(handle, data.data(), data.size(), 4096, LIBNBD_CMD_FLAG_FUA) == 0);
    BOOST_TEST(disk.fua_writes.load() > 0);
    BOOST_TEST(disk.max_part <= 64u * 1024u);  // split to what the target takes at once
    BOOST_REQUIRE(nbd_pread(handle, back.data(), back.size(), 4096, 0) == 0);
    BOOST_TEST(std::memcmp(data.data(), back.data(), data.size()) == 0);
    BOOST_REQUIRE(nbd_flush(handle, 0) == 0);
    BOOST_TEST(disk.flushes.load() == 1);
    BOOST_REQUIRE(nbd_trim(handle, 8192, 4096, 0) == 0);
    BOOST_REQUIRE(nbd_zero(handle, 65536, 4096 * 4, LIBNBD_CMD_FLAG_NO_HOLE) == 0);
    BOOST_TEST(disk.no_hole_zeroes.load() > 0);
    BOOST_REQUIRE(nbd_pread(handle, back.data(), 131072, 8192, 0) == 0);
    BOOST_TEST(std::all_of(back.begin(), back.begin() + 4096, [](char c) { return c == 0; }));
    BOOST_TEST(std::all_of(back.begin() + 57344, back.begin() + 57344 + 16384, [](char c) { return c == 0; }));
    // Out of range and unaligned requests fail with EINVAL; the connection stays usable.
    BOOST_TEST(nbd_pread(handle, back.data(), 4096, (16 << 20) - 2048, 0) == -1);
    BOOST_TEST(nbd_get_errno() == EINVAL);
    nbd_set_strict_mode(handle, 0);  // let libnbd send an unaligned request
    BOOST_TEST(nbd_pread(handle, back.data(), 100, 3, 0) == -1);
    BOOST_TEST(nbd_get_errno() == EINVAL);
    // Target errors reach the client as NBD errors.
    disk.fail_with = -ENOSPC;
    BOOST_TEST(nbd_pwrite(handle, data.data(), 4096, 0, 0) == -1);
    BOOST_TEST(nbd_get_errno() == ENOSPC);
    disk.fail_with = 0;
    BOOST_TEST(nbd_pread(handle, back.data(), 4096, 0, 0) == 0);
    BOOST_TEST(nbd_shutdown(handle, 0) == 0);
    nbd_close(handle);
}

BOOST_FIXTURE_TEST_CASE(read_only_export_refuses_writes, Fixture) {
    nbd_handle* handle = connect("ro");
    BOOST_TEST(nbd_is_read_only(handle) == 1);
    std::vector<char> data(4096);
    nbd_set_strict_mode(handle, 0);
    BOOST_TEST(nbd_pwrite(handle, data.data(), data.size(), 0, 0) == -1);
    BOOST_TEST(nbd_get_errno() == EPERM);
    BOOST_TEST(nbd_pread(handle, data.data(), data.size(), 0, 0) == 0);
    nbd_close(handle);
}

BOOST_FIXTURE_TEST_CASE(nbdinfo_and_nbdcopy_work_unmodified, Fixture) {
    if (!have("nbdinfo") || !have("nbdcopy")) {
        BOOST_TEST_MESSAGE("SKIPPED: nbdinfo/nbdcopy (Debian package libnbd-bin) are not installed");
        return;
    }
    const std::string dir = "/tmp/ibnbd-nbd-" + std::to_string(::getpid());
    BOOST_REQUIRE(run("mkdir -p " + dir) == 0);
    BOOST_TEST(run("nbdinfo --list '" + uri("") + "' | grep -q 'export=\"disk\"'") == 0);
    BOOST_TEST(run("nbdinfo --json '" + uri("disk") + "' | grep -q '\"export-size\": 16777216'") == 0);
    BOOST_REQUIRE(run("head -c 16777216 /dev/urandom > " + dir + "/in.bin") == 0);
    BOOST_REQUIRE(run("nbdcopy " + dir + "/in.bin '" + uri("disk") + "'") == 0);
    BOOST_REQUIRE(run("nbdcopy '" + uri("disk") + "' " + dir + "/out.bin") == 0);
    BOOST_TEST(run("cmp -s " + dir + "/in.bin " + dir + "/out.bin") == 0);
    std::ifstream in(dir + "/in.bin", std::ios::binary);
    std::vector<char> expected(16 << 20);
    in.read(expected.data(), static_cast<std::streamsize>(expected.size()));
    BOOST_TEST(std::memcmp(expected.data(), disk.disk.data(), expected.size()) == 0);
    run("rm -rf " + dir);
}
