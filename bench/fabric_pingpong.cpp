// fabric_pingpong: the round trip of one message over the fabric interface (fabric/fabric.hpp)
// with nothing of IBTRS on top: the floor under ibnbd's latency on the same fabric.
// Two threads, each with its own fabric (a fabric belongs to one thread), both busy polling:
// the client sends SIZE bytes (an RDMA write with immediate, or a send), the server answers with
// the same, and the client times the round trip. Reports min/avg/p50/p99/p99.9/max RTT.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/ibnbd_bench/histogram.hpp"
#include "fabric/ofi/ofi_fabric.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace {

using namespace ibnbd;
using namespace ibnbd::fabric;

struct Settings {
    std::string provider = "tcp";
    std::string address = "127.0.0.1";
    std::string mode = "write-imm";
    std::uint32_t size = 4096;
    std::uint64_t iterations = 20000;
    std::uint64_t warmup = 1000;
    bool json = false;
    bool server_reactor = false;  // drive the server like ibnbd-server does: the Reactor, idle sleeps
    // The daemons' mode (transmit completion: no acknowledgement per operation on tcp); on shows
    // what tcp's delivery acknowledgements cost.
    bool delivery_complete = false;
    std::uint32_t gap_us = 0;       // client pause between round trips (an application's think time)
};

constexpr std::uint32_t kRecvs = 16;

// The remote key travels in the CM private data: u64 address, u32 rkey.
std::array<std::byte, 12> encode_key(RemoteKey key) {
    std::array<std::byte, 12> out{};
    std::memcpy(out.data(), &key.addr, 8);
    std::memcpy(out.data() + 8, &key.rkey, 4);
    return out;
}

RemoteKey decode_key(std::span<const std::byte> data) {
    RemoteKey key;
    if (data.size() >= 12) {
        std::memcpy(&key.addr, data.data(), 8);
        std::memcpy(&key.rkey, data.data() + 8, 4);
    }
    return key;
}

// One side of the ping-pong: answers (server) or originates (client) each message.
class Peer : public EndpointHandler {
public:
    Peer(Fabric& fabric, const Settings& settings, bool client)
        : fabric_(fabric), settings_(settings), client_(client), buffer_(settings.size), inbox_(settings.size * kRecvs) {}

    Status<Errc> register_buffers() {
        auto out = fabric_.register_memory(buffer_.data(), buffer_.size(), access_local_write);
        if (!out) return unexpected(out.error());
        auto in = fabric_.register_memory(inbox_.data(), inbox_.size(), access_local_write | access_remote_write);
        if (!in) return unexpected(in.error());
        out_mr_ = std::move(out.value());
        in_mr_ = std::move(in.value());
        return {};
    }
    RemoteKey inbox_key() const { return in_mr_->remote_key(); }
    void set_endpoint(std::unique_ptr<Endpoint> endpoint) { endpoint_ = std::move(endpoint); }
    void set_remote(RemoteKey key) { remote_ = key; }

    void on_cm_event(const CmEvent& event) override {
        if (event.type == CmEventType::established) {
            if (client_) remote_ = decode_key(event.private_data);
            for (std::uint32_t i = 0; i < kRecvs; ++i) post_recv(i);
            established = true;
        } else {
            failed = true;
        }
    }

    void on_completion(const Completion& c) override {
        if (c.status != WcStatus::success) {
            failed = c.status != WcStatus::flushed || !stopping;
            return;
        }
        if (c.opcode != Opcode::recv && c.opcode != Opcode::recv_rdma_with_imm) return;
        if (c.recv_consumed || c.opcode == Opcode::recv) post_recv(static_cast<std::uint32_t>(c.context));
        if (client_) {
            const std::uint64_t now = fabric_.now();
            if (++received > settings_.warmup) rtt.record(now - sent_at_);
            if (received < settings_.warmup + settings_.iterations) {
                // Busy-wait: the client keeps polling its fabric, as ibnbd-bench does.
                while (fabric_.now() < now + std::uint64_t{settings_.gap_us} * 1000) {
                }
                ping();
            }
        } else {
            ping();  // the server answers every message
        }
    }

    void ping() {
        sent_at_ = fabric_.now();
        const Sge sge{out_mr_.get(), buffer_.data(), settings_.size};
        const std::uint32_t imm = static_cast<std::uint32_t>(received);
        const bool ok = settings_.mode == "send" ? bool(endpoint_->post_send(0, {&sge, 1}))
                                                 : bool(endpoint_->post_write(0, {&sge, 1}, remote_, &imm));
        if (!ok) failed = true;
    }

    void close() {
        stopping = true;
        endpoint_.reset();
        out_mr_.reset();
        in_mr_.reset();
    }

    bool established = false;
    std::atomic<bool> failed = false;
    bool stopping = false;
    std::uint64_t received = 0;
    bench::Histogram rtt;

private:
    void post_recv(std::uint32_t index) {
        const Sge sge{in_mr_.get(), inbox_.data() + std::size_t{index} * settings_.size, settings_.size};
        if (!endpoint_->post_recv(index, {&sge, 1})) failed = true;
    }

    Fabric& fabric_;
    const Settings& settings_;
    bool client_;
    std::vector<std::byte> buffer_;
    std::vector<std::byte> inbox_;
    std::unique_ptr<MemoryRegion> out_mr_, in_mr_;
    std::unique_ptr<Endpoint> endpoint_;
    RemoteKey remote_;
    std::uint64_t sent_at_ = 0;
};

class Acceptor : public ListenerHandler {
public:
    explicit Acceptor(Peer& peer) : peer_(peer) {}
    void on_connect_request(ConnectRequest& request) override {
        peer_.set_remote(decode_key(request.private_data()));
        const auto key = encode_key(peer_.inbox_key());
        auto endpoint = request.accept(key, peer_, QueueSizes{256, 256});
        if (endpoint) peer_.set_endpoint(std::move(endpoint.value()));
        else peer_.failed = true;
    }

private:
    Peer& peer_;
};

std::unique_ptr<ofi::OfiFabric> open(const Settings& settings) {
    auto fabric = ofi::OfiFabric::create({settings.provider, {}, settings.delivery_complete});
    if (!fabric) {
        fmt::print(stderr, "fabric_pingpong: cannot open libfabric provider '{}' ({})\n", settings.provider,
                   to_string(fabric.error()));
        return nullptr;
    }
    return std::move(fabric.value());
}

// The fabric as the daemons' reactor sees it (their FabricPollable, without its daemon headers):
// it sleeps on the fabric's wait fd after fi_trywait, as they do.
class FabricPoll : public runtime::Pollable {
public:
    explicit FabricPoll(ofi::OfiFabric& fabric) : fabric_(fabric) {}
    std::size_t poll(std::size_t budget) override { return fabric_.poll(budget); }
    int wait_fd() const override { return fabric_.wait_fd(); }
    bool prepare_sleep() override { return fabric_.prepare_sleep(); }

private:
    ofi::OfiFabric& fabric_;
};

// Busy polling, or the daemons' Reactor (which sleeps on the fabric's wait fd after spin_polls
// idle rounds).
void serve_loop(const Settings& settings, ofi::OfiFabric& fabric, std::atomic<bool>& stop) {
    if (!settings.server_reactor) {
        while (!stop.load(std::memory_order_relaxed)) fabric.poll(64);
        return;
    }
    runtime::Reactor reactor;
    FabricPoll pollable(fabric);
    reactor.add(pollable);
    while (!stop.load(std::memory_order_relaxed)) reactor.run_once(true);
    reactor.remove(pollable);
}

void serve(const Settings& settings, std::atomic<int>& port, std::atomic<bool>& stop) {
    auto fabric = open(settings);
    if (!fabric) return port.store(-1);
    Peer peer(*fabric, settings, false);
    Acceptor acceptor(peer);
    auto listener = peer.register_buffers() ? fabric->listen({settings.address, 0}, acceptor)
                                            : Expected<std::unique_ptr<Listener>, Errc>(unexpected(Errc::registration_failed));
    if (!listener) return port.store(-1);
    port.store((*listener)->address().port);
    serve_loop(settings, *fabric, stop);
    peer.close();
    listener->reset();
}

int report(const Settings& settings, const bench::Histogram& rtt) {
    auto us = [](double ns) { return ns / 1e3; };
    if (settings.json) {
        fmt::print("{{\"mode\": \"{}\", \"size\": {}, \"provider\": \"{}\", \"server_reactor\": {}, \"delivery_complete\": {}, \"iterations\": {}, \"rtt_ns\": "
                   "{{\"min\": {}, \"avg\": {:.0f}, \"p50\": {}, \"p99\": {}, \"p99.9\": {}, \"max\": {}}}}}\n",
                   settings.mode, settings.size, settings.provider, settings.server_reactor, settings.delivery_complete, rtt.count(), rtt.min(), rtt.mean(),
                   rtt.percentile(0.5), rtt.percentile(0.99), rtt.percentile(0.999), rtt.max());
    } else {
        fmt::print("fabric_pingpong: ofi:{} {} {} bytes, {} round trips{}\n  rtt (us): min {:.1f} avg {:.1f} p50 {:.1f} "
                   "p99 {:.1f} p99.9 {:.1f} max {:.1f}\n",
                   settings.provider, settings.mode, settings.size, rtt.count(),
                   settings.server_reactor ? " (server on the Reactor)" : "", us(double(rtt.min())), us(rtt.mean()),
                   us(double(rtt.percentile(0.5))), us(double(rtt.percentile(0.99))),
                   us(double(rtt.percentile(0.999))), us(double(rtt.max())));
    }
    return 0;
}

int run_client(const Settings& settings, int port) {
    auto fabric = open(settings);
    if (!fabric) return 1;
    Peer peer(*fabric, settings, true);
    if (!peer.register_buffers()) return fmt::print(stderr, "fabric_pingpong: registration failed\n"), 1;
    const auto key = encode_key(peer.inbox_key());
    auto endpoint = fabric->connect({settings.address, static_cast<std::uint16_t>(port)}, {}, key, peer, QueueSizes{256, 256});
    if (!endpoint) return fmt::print(stderr, "fabric_pingpong: connect failed ({})\n", to_string(endpoint.error())), 1;
    peer.set_endpoint(std::move(endpoint.value()));
    const Nanos deadline = fabric->now() + 10'000'000'000ull;
    while (!peer.established && !peer.failed && fabric->now() < deadline) fabric->poll(64);
    if (!peer.established) return fmt::print(stderr, "fabric_pingpong: no connection to {}:{}\n", settings.address, port), 1;
    peer.ping();
    const std::uint64_t total = settings.warmup + settings.iterations;
    while (peer.received < total && !peer.failed) fabric->poll(64);
    peer.close();
    if (peer.failed) return fmt::print(stderr, "fabric_pingpong: a transfer failed\n"), 1;
    return report(settings, peer.rtt);
}

}  // namespace

int main(int argc, char** argv) {
    Settings settings;
    CLI::App app{"fabric_pingpong: round-trip latency over the fabric interface (libfabric)"};
    app.add_option("--provider", settings.provider, "libfabric provider (default tcp)");
    app.add_option("--address", settings.address, "address both threads use (default 127.0.0.1)");
    app.add_option("--mode", settings.mode, "write-imm (RDMA write with immediate) or send")
        ->check(CLI::IsMember({"write-imm", "send"}));
    app.add_option("--size", settings.size, "bytes per message (default 4096)")->check(CLI::Range(1u, 1u << 20));
    app.add_option("--iterations", settings.iterations, "timed round trips (default 20000)")->check(CLI::Range(1, 100000000));
    app.add_option("--warmup", settings.warmup, "untimed round trips first (default 1000)");
    app.add_flag("--json", settings.json, "print JSON");
    app.add_flag("--delivery-complete", settings.delivery_complete,
                 "complete sends and writes only when the peer placed them (FI_DELIVERY_COMPLETE), not when "
                 "the provider sent them (the daemons' mode)");
    app.add_option("--gap-us", settings.gap_us, "client pause between round trips, microseconds (default 0)")
        ->check(CLI::Range(0, 1000000));
    app.add_flag("--server-reactor", settings.server_reactor,
                 "poll the server side through the daemons' Reactor (sleeps when idle) instead of spinning");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "fabric_pingpong: {}; see --help\n", e.what());
        return 2;
    }
    std::atomic<int> port = 0;
    std::atomic<bool> stop = false;
    std::thread server(serve, std::cref(settings), std::ref(port), std::ref(stop));
    while (port.load() == 0) std::this_thread::yield();
    const int status = port.load() < 0 ? 1 : run_client(settings, port.load());
    stop = true;
    server.join();
    return status;
}
