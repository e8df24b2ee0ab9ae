// rxe_server - the server side of ibtrs_rxe_e2e, started by ServerProcess (fork + exec): an IBTRS
// server over the verbs backend, serving
//   - without --block-dir: every session from its own zero-filled memory disk, so that each
//     session's client can check every byte it reads against what it wrote;
//   - with --block-dir=DIR: IBNBD (BlockServer) over io_uring, exporting the files under DIR; the
//     file DIR/vol0 (32 MiB of zeros) is created first.
//
//   rxe_server --port=P --ready-fd=R --stop-fd=S [--queue-depth=N --chunk-size=B --heartbeat-ms=T
//              --heartbeat-missed=M --block-dir=DIR] ADDRESS...
// Listens on every ADDRESS:P, writes one byte to R, serves until S is closed, prints its
// statistics and exits with 0 (or non-zero when setup failed or a client broke the protocol).
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/ibtrs/server.hpp"
#include "fabric/verbs/verbs_fabric.hpp"
#include "ibnbd/server/block_server.hpp"
#include "ibnbd/storage/uring/uring_backend.hpp"

namespace {

using namespace ibnbd;

constexpr std::size_t kDiskSize = 16u << 20;  // per session

class SessionDisks final : public ibtrs::ServerHandler {
public:
    int on_session_connected(ibtrs::ServerSession&) override { return 0; }
    void on_session_disconnected(ibtrs::ServerSession&) override {}
    int on_request(ibtrs::ServerSession& session, ibtrs::RequestId id, ibtrs::Dir dir, std::span<std::byte> data,
                   std::span<const std::byte> usr) override {
        if (usr.size() < 8) return -EINVAL;
        std::uint64_t offset = 0;
        std::memcpy(&offset, usr.data(), 8);
        if (offset > kDiskSize || data.size() > kDiskSize - offset) return -ERANGE;
        auto& disk = disks_[session.name()];
        if (disk.empty()) disk.resize(kDiskSize);
        const auto at = disk.begin() + static_cast<std::ptrdiff_t>(offset);
        if (dir == ibtrs::Dir::write) {
            std::copy(data.begin(), data.end(), at);
        } else {
            std::copy_n(at, data.size(), data.begin());
        }
        ++requests;
        session.respond(id, 0);
        return 0;
    }
    std::uint64_t requests = 0;

private:
    std::map<std::string, std::vector<std::byte>> disks_;
};

struct Options {
    std::uint16_t port = 0;
    ibtrs::ServerConfig config;
    int ready_fd = -1;
    int stop_fd = -1;
    std::string block_dir;
    std::vector<std::string> addresses;
};

bool parse(int argc, char** argv, Options& options) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view argument = argv[i];
        const auto value = [&](std::string_view name) -> long {
            return argument.substr(0, name.size()) == name ? std::atol(argv[i] + name.size()) : -1;
        };
        if (long v = value("--port="); v >= 0) options.port = static_cast<std::uint16_t>(v);
        else if (long v = value("--queue-depth="); v >= 0) options.config.queue_depth = static_cast<std::uint16_t>(v);
        else if (long v = value("--chunk-size="); v >= 0) options.config.chunk_size = static_cast<std::uint32_t>(v);
        else if (long v = value("--heartbeat-ms="); v >= 0) options.config.heartbeat.interval = v * ibtrs::kMillisecond;
        else if (long v = value("--heartbeat-missed="); v >= 0) options.config.heartbeat.missed_max = static_cast<std::uint32_t>(v);
        else if (long v = value("--ready-fd="); v >= 0) options.ready_fd = static_cast<int>(v);
        else if (long v = value("--stop-fd="); v >= 0) options.stop_fd = static_cast<int>(v);
        else if (argument.substr(0, 12) == "--block-dir=") options.block_dir = argument.substr(12);
        else if (argument.substr(0, 2) != "--") options.addresses.emplace_back(argument);
        else return false;
    }
    return options.port != 0 && options.ready_fd >= 0 && options.stop_fd >= 0 && !options.addresses.empty();
}

// The IBNBD side: BlockServer over io_uring on the files under a directory.
struct BlockStack {
    std::unique_ptr<storage::uring::UringBackend> backend;
    std::unique_ptr<block::BlockServer> server;
};

int make_block_stack(const std::string& directory, BlockStack& stack) {
    const std::string volume = directory + "/vol0";
    ::mkdir(directory.c_str(), 0755);
    const int fd = ::open(volume.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0 || ::ftruncate(fd, 32 << 20) != 0) return 20;
    ::close(fd);
    auto backend = storage::uring::UringBackend::create();
    if (!backend) {
        std::fprintf(stderr, "rxe_server: io_uring: %s\n", std::strerror(-backend.error()));
        return 21;
    }
    stack.backend = std::move(*backend);
    stack.server = std::make_unique<block::BlockServer>(*stack.backend, block::BlockServerConfig{directory});
    return 0;
}

void print_stats(const ibtrs::Server& server, const SessionDisks& disks, const BlockStack& block) {
    const auto& stats = server.stats();
    std::printf("rxe_server: %llu connect requests, %llu rejected, %llu paths closed, %llu stale paths closed, "
                "%llu violations\n",
                static_cast<unsigned long long>(stats.connect_requests),
                static_cast<unsigned long long>(stats.rejected), static_cast<unsigned long long>(stats.paths_closed),
                static_cast<unsigned long long>(stats.stale_paths_closed),
                static_cast<unsigned long long>(stats.violations));
    if (block.server) {
        const auto& b = block.server->stats();
        std::printf("rxe_server: ibnbd: %llu opens, %llu ios, %llu io errors, %llu bad requests\n",
                    static_cast<unsigned long long>(b.opens), static_cast<unsigned long long>(b.ios),
                    static_cast<unsigned long long>(b.io_errors), static_cast<unsigned long long>(b.bad_requests));
    } else {
        std::printf("rxe_server: %llu requests on memory disks\n", static_cast<unsigned long long>(disks.requests));
    }
    std::fflush(stdout);
}

// Polls the fabric (and io_uring) until the stop pipe closes; sleeps on their descriptors when idle.
void serve_until_stopped(fabric::verbs::VerbsFabric& fabric, storage::uring::UringBackend* backend, int stop_fd) {
    for (;;) {
        std::size_t work = fabric.poll(64);
        if (backend) work += backend->poll(64);
        if (work != 0) continue;
        pollfd descriptors[3] = {{fabric.wait_fd(), POLLIN, 0}, {stop_fd, POLLIN, 0},
                                 {backend ? backend->event_fd() : -1, POLLIN, 0}};
        ::poll(descriptors, 3, 5);  // heartbeats need a few milliseconds
        if (descriptors[1].revents != 0) return;
    }
}

int serve(const Options& options) {
    fabric::verbs::VerbsConfig fabric_config;
    fabric_config.address = options.addresses.front();
    auto fabric = fabric::verbs::VerbsFabric::create(fabric_config);
    if (!fabric) return 10;
    SessionDisks disks;
    BlockStack block;
    if (!options.block_dir.empty()) {
        if (const int failed = make_block_stack(options.block_dir, block); failed != 0) return failed;
    }
    ibtrs::ServerHandler& handler = block.server ? static_cast<ibtrs::ServerHandler&>(*block.server) : disks;
    auto server = ibtrs::Server::create(**fabric, options.config, handler);
    if (!server) return 11;
    for (const std::string& address : options.addresses) {
        if (!(*server)->listen({address, options.port})) return 12;
    }
    const char ready = 'r';
    if (write(options.ready_fd, &ready, 1) != 1) return 13;
    serve_until_stopped(**fabric, block.backend.get(), options.stop_fd);
    // Storage IO still running answers sessions that must exist: let it finish first.
    while (block.backend && block.backend->inflight() != 0) block.backend->poll(64);
    print_stats(**server, disks, block);
    const bool clean = (*server)->stats().violations == 0;
    server->reset();
    block.server.reset();
    return clean ? 0 : 14;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (!parse(argc, argv, options)) {
        std::fprintf(stderr, "usage: %s --port=P --ready-fd=R --stop-fd=S [--queue-depth=N --chunk-size=B "
                             "--heartbeat-ms=T --heartbeat-missed=M --block-dir=DIR] ADDRESS...\n", argv[0]);
        return 2;
    }
    return serve(options);
}
