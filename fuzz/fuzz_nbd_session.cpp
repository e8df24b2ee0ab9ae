// An NBD client connection from its first byte (handshake, options, then commands) with arbitrary
// bytes, through a socket pair, against a memory export. Properties: no crash, the server greets
// with NBDMAGIC, and once the client has sent everything and closed its side, the connection
// finishes (nothing stays in flight, nothing loops).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "ibnbd/nbd/nbd_server.hpp"

using namespace ibnbd;
using namespace ibnbd::nbd;

namespace {

// 128 KiB (small, so that a read of the whole disk costs little: a connection's read buffer is
// allocated and zeroed anew for every input), completes every operation on the next poll(), never
// inside the call that started it. Every request it gets must be inside the disk and not empty (a
// 0-byte read once reached it).
class MemoryExport final : public block::ExportTarget, public runtime::Pollable {
public:
    block::ExportInfo info() const override {
        const auto size = static_cast<std::uint32_t>(disk_.size());
        return {.size = disk_.size(), .block_size = 512, .max_io = 64 * 1024, .max_trim = size, .max_zeroes = size,
                .read_only = false, .flush = true};
    }
    Status<int> read(std::uint64_t offset, std::span<std::byte> into, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        FUZZ_CHECK(!into.empty() && offset <= disk_.size() && into.size() <= disk_.size() - offset);
        std::memcpy(into.data(), disk_.data() + offset, into.size());
        return queue(handler, cookie);
    }
    Status<int> write(std::uint64_t offset, std::span<const std::byte> from, bool, block::BlockIoHandler& handler,
                      std::uint64_t cookie) override {
        FUZZ_CHECK(!from.empty() && offset <= disk_.size() && from.size() <= disk_.size() - offset);
        std::memcpy(disk_.data() + offset, from.data(), from.size());
        return queue(handler, cookie);
    }
    Status<int> flush(block::BlockIoHandler& handler, std::uint64_t cookie) override { return queue(handler, cookie); }
    Status<int> trim(std::uint64_t offset, std::uint32_t length, block::BlockIoHandler& handler,
                     std::uint64_t cookie) override {
        FUZZ_CHECK(length != 0 && offset <= disk_.size() && length <= disk_.size() - offset);
        return queue(handler, cookie);
    }
    Status<int> write_zeroes(std::uint64_t offset, std::uint32_t length, bool, block::BlockIoHandler& handler,
                             std::uint64_t cookie) override {
        FUZZ_CHECK(length != 0 && offset <= disk_.size() && length <= disk_.size() - offset);
        std::memset(disk_.data() + offset, 0, length);
        return queue(handler, cookie);
    }
    std::size_t poll(std::size_t) override {
        auto ready = std::exchange(pending_, {});
        for (auto& [handler, cookie] : ready) handler->on_block_io_complete(cookie, 0);
        return ready.size();
    }

private:
    Status<int> queue(block::BlockIoHandler& handler, std::uint64_t cookie) {
        pending_.emplace_back(&handler, cookie);
        return {};
    }
    std::vector<std::byte>& disk_ = shared_disk();  // contents do not matter: one for every run
    static std::vector<std::byte>& shared_disk() {
        static std::vector<std::byte> disk(128 * 1024);
        return disk;
    }
    std::vector<std::pair<block::BlockIoHandler*, std::uint64_t>> pending_;
};

// Reads what the server sent; returns the bytes read (the first 8 are kept in `greeting`).
std::size_t drain(int fd, std::vector<char>& greeting) {
    char buffer[65536];
    std::size_t total = 0;
    for (;;) {
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (got <= 0) return total;
        for (ssize_t i = 0; i < got && greeting.size() < 8; ++i) greeting.push_back(buffer[i]);
        total += static_cast<std::size_t>(got);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    int fds[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    MemoryExport disk;
    std::unique_ptr<NbdServer> server = NbdServer::host("fuzz");
    server->add_export("disk", disk);
    server->add_export("", disk);
    server->adopt(fds[0]);  // the server owns it from here

    std::vector<char> greeting;
    std::size_t sent = 0;
    bool shut = false;
    for (int round = 0; round < 100000 && server->connections() != 0; ++round) {
        if (sent < size) {
            const ssize_t wrote = ::send(fds[1], data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (wrote > 0) sent += static_cast<std::size_t>(wrote);
            if (wrote < 0 && errno != EAGAIN) sent = size;  // the server closed its side
        } else if (!shut) {
            ::shutdown(fds[1], SHUT_WR);
            shut = true;
        }
        const std::size_t work = server->poll(64) + disk.poll(64) + drain(fds[1], greeting);
        FUZZ_CHECK(work != 0 || !shut || server->connections() == 0);  // after EOF: progress or done
    }
    FUZZ_CHECK(server->connections() == 0);
    drain(fds[1], greeting);  // what the server sent before it closed
    // A client that hangs up at once may get nothing; whatever it gets starts with the greeting.
    FUZZ_CHECK(greeting.empty() || std::memcmp(greeting.data(), "NBDMAGIC", greeting.size()) == 0);
    ::close(fds[1]);
    return 0;
}
