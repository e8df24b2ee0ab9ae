#include "bench/ibnbd_bench/engine_ibnbd.hpp"

#include <cstring>
#include <limits>
#include <functional>

#include "ibnbd/client/block_client.hpp"
#include "ibnbd/daemon/fabric_factory.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::bench {

namespace {

std::string errno_text(int error) { return std::string(std::strerror(error < 0 ? -error : error)); }

class IbnbdEngine final : public Engine, private block::BlockClientHandler, private block::BlockIoHandler {
public:
    IbnbdEngine(const Options& options, const IbnbdTarget& target, CompletionList& done)
        : options_(options), target_(target), done_(done) {}
    ~IbnbdEngine() override { teardown(); }

    Expected<Geometry, std::string> open(const EngineSetup& setup) override {
        auto fabric = daemon::open_fabric(options_.fabric, options_.provider, target_.paths.front().source_host);
        if (!fabric) return unexpected(fabric.error());
        fabric_ = std::move(fabric.value());
        reactor_.add(*fabric_.pollable);
        auto client = create_client();
        if (!client) return unexpected(client.error());
        client_ = std::move(client.value());
        if (auto mapped = map(setup.writable); !mapped) return unexpected(mapped.error());
        return geometry();
    }

    int submit(std::uint32_t job, std::uint32_t slot, const IoSpec& io, std::byte* buffer) override {
        const std::uint64_t cookie = (std::uint64_t{job} << 32) | slot;
        auto started = io.write ? device_->write(io.offset, {buffer, io.length}, false, *this, cookie)
                                : device_->read(io.offset, {buffer, io.length}, *this, cookie);
        return started ? 0 : started.error();
    }

    void poll(bool may_block) override { reactor_.run_once(may_block); }

    void close() override { teardown(); }

private:
    Expected<std::unique_ptr<block::BlockClient>, std::string> create_client() {
        block::BlockClientConfig config;
        config.transport.session_name = target_.session;
        config.transport.io_connections = options_.io_connections;
        config.transport.connect_timeout = static_cast<fabric::Nanos>(options_.connect_timeout_s * 1e9);
        config.transport.max_reconnect_attempts = 0;  // a benchmark reports a lost server, it does not wait
        if (!ibtrs::parse_mp_policy(options_.mp_policy, config.transport.policy)) {
            return unexpected("bad --mp-policy '" + options_.mp_policy + "'");
        }
        std::vector<ibtrs::PathSpec> paths;
        for (const auto& path : target_.paths) {
            paths.push_back({{path.source_host, 0}, {path.destination_host, path.port}});
        }
        auto client = block::BlockClient::create(*fabric_.fabric, config, std::move(paths), *this);
        if (!client) return unexpected("cannot create session '" + target_.session + "': " + errno_text(client.error()));
        return std::move(client.value());
    }

    Status<std::string> map(bool writable) {
        auto mapped = client_->map(target_.device, writable ? wire::AccessMode::rw : wire::AccessMode::ro);
        if (!mapped) return unexpected("cannot map '" + target_.device + "': " + errno_text(mapped.error()));
        device_ = *mapped;
        const bool done = run_until([&] { return map_status_ <= 0; }, options_.connect_timeout_s);
        if (!done) {
            return unexpected("no answer from " + paths_text() + " within the connect timeout; is ibnbd-server running?");
        }
        if (map_status_ != 0) {
            device_ = nullptr;
            if (!client_->ready()) {  // the session never came up: nothing was asked of the server
                return unexpected("cannot connect to " + paths_text() + ": " + errno_text(map_status_) +
                                  " (is ibnbd-server listening there?)");
            }
            return unexpected("the server refused '" + target_.device + "': " + errno_text(map_status_) +
                              " (is it under the server's --dev-search-path? is another writer using it?)");
        }
        return {};
    }

    std::string paths_text() const {
        std::string text;
        for (const auto& path : target_.paths) {
            text += (text.empty() ? "" : ", ") + path.destination_host + ":" + std::to_string(path.port);
        }
        return text;
    }

    Geometry geometry() const {
        const auto& info = device_->info();
        Geometry g;
        g.size = info.size_bytes;
        g.block_size = info.logical_block_size;
        g.max_io = info.max_io_bytes;
        auto& transport = client_->transport();
        g.max_inflight = 2 * transport.queue_depth();  // the block client's request pool
        g.description = std::string(fabric_.fabric->name()) + ", " + std::to_string(target_.paths.size()) +
                        (target_.paths.size() == 1 ? " path" : " paths") + ", " + options_.mp_policy +
                        ", queue depth " + std::to_string(transport.queue_depth());
        return g;
    }

    bool run_until(const std::function<bool()>& done, double seconds) {
        const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
        while (!done()) {
            if (now_ns() > deadline) return false;
            reactor_.run_once(false);
        }
        return true;
    }

    void teardown() {
        if (device_ != nullptr && device_->state() != block::DeviceState::unmapped) {
            if (client_->unmap(*device_, false)) run_until([&] { return unmapped_; }, 2.0);
        }
        device_ = nullptr;
        client_.reset();  // the session goes before its fabric
        if (fabric_.pollable) reactor_.remove(*fabric_.pollable);
        fabric_.pollable.reset();
        fabric_.fabric.reset();
    }

    // block::BlockClientHandler
    void on_mapped(block::BlockDevice&, int status) override { map_status_ = status; }
    void on_unmapped(block::BlockDevice&) override { unmapped_ = true; }
    // block::BlockIoHandler
    void on_block_io_complete(std::uint64_t cookie, int status) override {
        done_.push(static_cast<std::uint32_t>(cookie >> 32), static_cast<std::uint32_t>(cookie), status);
    }

    const Options& options_;
    const IbnbdTarget& target_;
    CompletionList& done_;
    // The benchmark's client busy-polls, as a latency-bound in-process user would, except while
    // its thread has to wait for a CPU (a contended machine): then the reactor sleeps when idle
    // and is woken by the fabric (runtime/contention.hpp).
    runtime::Reactor reactor_{busy_polling()};
    static runtime::ReactorConfig busy_polling() {
        runtime::ReactorConfig config;
        config.spin_polls = std::numeric_limits<std::uint32_t>::max();
        return config;
    }
    daemon::OpenedFabric fabric_;
    std::unique_ptr<block::BlockClient> client_;
    block::BlockDevice* device_ = nullptr;
    int map_status_ = 1;  // 1: no answer yet
    bool unmapped_ = false;
};

}  // namespace

std::unique_ptr<Engine> make_ibnbd_engine(const Options& options, const IbnbdTarget& target, CompletionList& done) {
    return std::make_unique<IbnbdEngine>(options, target, done);
}

}  // namespace ibnbd::bench
