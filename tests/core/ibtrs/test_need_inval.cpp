// READs whose client asks for its key to be invalidated (NEED_INVAL, docs/protocol.md §1.7.4), as
// every Linux kernel client does: it registers each READ buffer with a fresh key and completes the
// request only after RDMA WRITE (data) -> SEND_WITH_INV (that key) -> immediate of type
// IO_RSP_W_INV. The client here is a rogue one that does what the kernel does, with a type-2
// memory window for its key; the simulator enforces invalidation exactly, so a key the server
// failed to invalidate is caught (the window cannot be bound again) and a late access through an
// invalidated key fails. Reads with flags = 0 (ibnbd's own client) keep the one-operation response.
#include <algorithm>
#include <cstring>

#include <boost/test/unit_test.hpp>

#include "fabric/forwarding_fabric.hpp"
#include "tests/core/ibtrs/rogue.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;

namespace {

constexpr std::uint32_t kBufferSize = 16384;
constexpr std::uint32_t kWindowRegion =
    fabric::access_local_write | fabric::access_remote_write | fabric::access_window_bind;

// The kernel client's READ buffer: memory registered once, and a window bound over it with a
// fresh key per READ (the kernel fast-registers an MR per READ; both are invalidatable keys).
class ReadBuffer {
public:
    ReadBuffer(Cluster& cluster, RogueSession& rogue) : cluster_(cluster), rogue_(rogue) {
        auto region = RegisteredBuffer::create(cluster.client_node, kBufferSize, kWindowRegion);
        BOOST_REQUIRE(region.has_value());
        region_ = std::move(region.value());
        auto window = cluster.client_node.allocate_window();
        BOOST_REQUIRE(window.has_value());
        window_ = std::move(window.value());
    }
    // Binds the window over the whole buffer; false when the bind failed (the window was still
    // bound: its previous key was never invalidated).
    bool bind() {
        const std::uint64_t context = 0xB1D0 + binds_++;
        const fabric::WindowBind bind{region_.mr(), region_.data(), kBufferSize, fabric::access_remote_write};
        auto key = rogue_.io->endpoint->post_bind_window(context, *window_, bind);
        BOOST_REQUIRE(key.has_value());
        key_ = *key;
        const fabric::Completion* done = nullptr;
        cluster_.run_until([&] { return (done = find(context)) != nullptr; }, kSecond);
        BOOST_REQUIRE(done != nullptr);
        return done->status == fabric::WcStatus::success;
    }
    wire::SgDesc desc(std::uint32_t len) const { return {key_.addr, key_.rkey, len}; }
    // The region's own key: not invalidatable (verbs user memory regions are not), used with flags = 0.
    wire::SgDesc plain_desc(std::uint32_t len) const {
        const auto key = region_.mr()->remote_key();
        return {key.addr, key.rkey, len};
    }
    std::uint32_t key() const { return key_.rkey; }
    std::span<const std::byte> bytes(std::uint32_t len) const { return region_.span().subspan(0, len); }
    void clear() { std::fill(region_.data(), region_.data() + kBufferSize, std::byte{0}); }

private:
    const fabric::Completion* find(std::uint64_t context) const {
        for (const auto& c : rogue_.io->completions) {
            if (c.context == context) return &c;
        }
        return nullptr;
    }
    Cluster& cluster_;
    RogueSession& rogue_;
    RegisteredBuffer region_;
    std::unique_ptr<fabric::MemoryWindow> window_;
    fabric::RemoteKey key_{};
    std::uint32_t binds_ = 0;
};

void fill_disk(Cluster& cluster) {
    for (std::size_t i = 0; i < cluster.target.disk.size(); ++i) {
        cluster.target.disk[i] = static_cast<std::byte>((i * 7 + i / 4093) & 0xFF);
    }
}

bool same_as_disk(const Cluster& cluster, std::span<const std::byte> bytes, std::uint64_t disk_offset) {
    const auto from = cluster.target.disk.begin() + static_cast<std::ptrdiff_t>(disk_offset);
    return std::equal(bytes.begin(), bytes.end(), from);
}

// What the IO connection received from `first` on: the receive that invalidated a key (if any)
// and the response's immediate, in arrival order.
struct Received {
    std::vector<fabric::Completion> invalidations;
    const fabric::Completion* response = nullptr;
    bool invalidation_before_response = false;
};

Received received_since(const RogueSession& rogue, std::size_t first, std::uint32_t msg_id) {
    Received result;
    result.response = rogue.response_for(msg_id);
    bool response_seen = false;
    for (std::size_t i = first; i < rogue.io->completions.size(); ++i) {
        const auto& c = rogue.io->completions[i];
        if (&c == result.response) response_seen = true;
        if (!c.has_invalidated_rkey) continue;
        result.invalidations.push_back(c);
        result.invalidation_before_response = !response_seen;
    }
    return result;
}

// Sends a NEED_INVAL READ of `len` bytes at `disk_offset` through a freshly bound key and checks
// the kernel's answer: data, then the key's invalidation, then IO_RSP_W_INV with `status`.
void check_invalidating_read(Cluster& cluster, RogueSession& rogue, ReadBuffer& buffer, std::uint32_t chunk,
                             std::uint32_t len, std::uint64_t disk_offset, int status = 0) {
    BOOST_REQUIRE(buffer.bind());
    buffer.clear();
    const std::size_t first = rogue.io->completions.size();
    rogue.send_read(chunk, len, disk_offset, wire::kReadNeedInvalFlag, buffer.desc(len));
    BOOST_REQUIRE(cluster.run_until([&] { return rogue.response_for(chunk) != nullptr || rogue.closed(); }, kSecond));
    BOOST_REQUIRE(!rogue.closed());
    const Received got = received_since(rogue, first, chunk);
    BOOST_REQUIRE(got.response != nullptr);
    const wire::Imm imm = wire::imm_decode(got.response->imm);
    BOOST_TEST(static_cast<int>(imm.type) == static_cast<int>(wire::ImmType::io_rsp_w_inv));
    BOOST_TEST(wire::io_rsp_decode(imm.payload).status == status);
    BOOST_REQUIRE_EQUAL(got.invalidations.size(), 1u);
    BOOST_TEST(got.invalidation_before_response);
    BOOST_TEST(got.invalidations[0].invalidated_rkey == buffer.key());
    BOOST_TEST((got.invalidations[0].opcode == fabric::Opcode::recv));
    BOOST_TEST(got.invalidations[0].byte_len == 0u);
    if (status == 0) {
        BOOST_TEST(same_as_disk(cluster, buffer.bytes(len), disk_offset), "the read's data did not land");
    } else {
        const auto bytes = buffer.bytes(len);
        BOOST_TEST(std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; }));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(need_inval)

BOOST_AUTO_TEST_CASE(a_need_inval_read_gets_data_then_invalidation_then_w_inv_response) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    fill_disk(cluster);
    RogueSession rogue(cluster, "kernel");
    BOOST_REQUIRE(rogue.ready());
    ReadBuffer buffer(cluster, rogue);
    // A fresh key per READ, as the kernel's: each bind succeeds only if the server invalidated the
    // previous key (a bound window cannot be bound again).
    const std::uint32_t max_io = rogue.chunk_size - wire::kMaxHdrSize;
    std::uint32_t chunk = 0;
    for (const std::uint32_t len : {512u, 4096u, 8192u, max_io}) {
        BOOST_TEST_CONTEXT("read of " << len << " bytes") {
            check_invalidating_read(cluster, rogue, buffer, chunk, len, 4096u * chunk + 512);
        }
        ++chunk;
    }
    BOOST_TEST(buffer.bind(), "the last key was not invalidated");
    BOOST_TEST(cluster.server->stats().reads_invalidated == 4u);
    BOOST_TEST(cluster.server->stats().invalidations_unsupported == 0u);
    BOOST_TEST(cluster.server->stats().violations == 0u);
}

BOOST_AUTO_TEST_CASE(an_error_response_still_invalidates_the_key) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    RogueSession rogue(cluster, "kernel");
    BOOST_REQUIRE(rogue.ready());
    ReadBuffer buffer(cluster, rogue);
    cluster.target.fail_with = -EIO;
    check_invalidating_read(cluster, rogue, buffer, 5, 4096, 0, -EIO);
    cluster.target.fail_with = 0;
    BOOST_TEST(buffer.bind(), "the key of the failed read was not invalidated");
}

BOOST_AUTO_TEST_CASE(an_access_through_the_invalidated_key_fails_and_closes_only_that_path) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    fill_disk(cluster);
    Bystander bystander(cluster);
    RogueSession rogue(cluster, "kernel");
    BOOST_REQUIRE(rogue.ready());
    ReadBuffer buffer(cluster, rogue);
    check_invalidating_read(cluster, rogue, buffer, 1, 4096, 8192);
    buffer.clear();
    // The same key again, without asking for invalidation: the server's write must fail.
    rogue.send_read(2, 4096, 8192, 0, buffer.desc(4096));
    BOOST_TEST(cluster.run_until([&] { return rogue.closed(); }, 2 * kSecond));
    const auto bytes = buffer.bytes(4096);
    BOOST_TEST(std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; }),
               "data landed through an invalidated key");
    bystander.check_io();
}

BOOST_AUTO_TEST_CASE(a_read_with_flags_zero_is_one_write_with_immediate) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    fill_disk(cluster);
    RogueSession rogue(cluster, "ibnbd");
    BOOST_REQUIRE(rogue.ready());
    ReadBuffer buffer(cluster, rogue);
    const std::size_t first = rogue.io->completions.size();
    rogue.send_read(3, 8192, 12288, 0, buffer.plain_desc(8192));
    BOOST_REQUIRE(cluster.run_until([&] { return rogue.response_for(3) != nullptr; }, kSecond));
    cluster.run_for(10 * kMillisecond);
    std::size_t received = 0;
    for (std::size_t i = first; i < rogue.io->completions.size(); ++i) {
        const auto& c = rogue.io->completions[i];
        received += c.opcode == fabric::Opcode::recv || c.opcode == fabric::Opcode::recv_rdma_with_imm;
    }
    BOOST_TEST(received == 1u, "a flags = 0 read must be answered by one write-with-immediate");
    const wire::Imm imm = wire::imm_decode(rogue.response_for(3)->imm);
    BOOST_TEST(static_cast<int>(imm.type) == static_cast<int>(wire::ImmType::io_rsp));
    BOOST_TEST(same_as_disk(cluster, buffer.bytes(8192), 12288));
    BOOST_TEST(cluster.server->stats().reads_invalidated == 0u);
}

// With key responses (the kernel server's always_invalidate=Y format) the immediate rides on a
// send carrying the chunk's RKEY_RSP, after the invalidation (rtrs-srv.c rdma_write_sg).
BOOST_AUTO_TEST_CASE(with_always_invalidate_the_rkey_send_follows_the_invalidation) {
    Cluster cluster;
    ServerConfig config = test_server_config();
    config.always_invalidate = true;
    cluster.start_server(config);
    fill_disk(cluster);
    RogueSession rogue(cluster, "kernel", 0, 0x77, wire::kRkeyRspSize);
    BOOST_REQUIRE(rogue.ready());
    ReadBuffer buffer(cluster, rogue);
    check_invalidating_read(cluster, rogue, buffer, 7, 4096, 4096);
    const fabric::Completion& response = *rogue.response_for(7);
    BOOST_TEST((response.opcode == fabric::Opcode::recv));
    BOOST_TEST(response.byte_len == wire::kRkeyRspSize);
    BOOST_TEST(buffer.bind());
}

namespace {

// A fabric that cannot invalidate (as ofi): everything else is the simulator's.
// A server made on a wrapping fabric declared after the Cluster must be destroyed before that
// fabric (its timers and endpoints go through it); the Cluster would destroy it too late.
struct ServerBeforeFabric {
    Cluster& cluster;
    ~ServerBeforeFabric() { cluster.server.reset(); }
};

class NoInvalidation final : public fabric::ForwardingFabric {
public:
    using ForwardingFabric::ForwardingFabric;
    bool supports_invalidation() const override { return false; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(without_invalidation_on_the_fabric_a_plain_response_is_counted) {
    Cluster cluster;
    NoInvalidation fabric(cluster.server_node);
    const ServerBeforeFabric server_first{cluster};
    auto created = Server::create(fabric, fixed_key_server_config(), cluster.target);
    BOOST_REQUIRE(created.has_value());
    cluster.server = std::move(created.value());
    BOOST_REQUIRE(cluster.server->listen({server_address(0), 1234}).has_value());
    fill_disk(cluster);
    RogueSession rogue(cluster, "kernel");
    BOOST_REQUIRE(rogue.ready());
    ReadBuffer buffer(cluster, rogue);
    BOOST_REQUIRE(buffer.bind());
    rogue.send_read(4, 4096, 0, wire::kReadNeedInvalFlag, buffer.desc(4096));
    BOOST_REQUIRE(cluster.run_until([&] { return rogue.response_for(4) != nullptr; }, kSecond));
    const wire::Imm imm = wire::imm_decode(rogue.response_for(4)->imm);
    BOOST_TEST(static_cast<int>(imm.type) == static_cast<int>(wire::ImmType::io_rsp));
    BOOST_TEST(same_as_disk(cluster, buffer.bytes(4096), 0));
    BOOST_TEST(cluster.server->stats().invalidations_unsupported == 1u);
    BOOST_TEST(cluster.server->stats().reads_invalidated == 0u);
    BOOST_TEST(!rogue.closed());
}

namespace {

// A server whose responses all say IO_RSP_W_INV: its endpoints rewrite the immediate.
class WInvEndpoint final : public fabric::Endpoint {
public:
    explicit WInvEndpoint(std::unique_ptr<fabric::Endpoint> inner) : inner_(std::move(inner)) {}
    Status<fabric::Errc> post_recv(std::uint64_t context, std::span<const fabric::Sge> sges) override {
        return inner_->post_recv(context, sges);
    }
    Status<fabric::Errc> post_send(std::uint64_t context, std::span<const fabric::Sge> sges,
                                   const std::uint32_t* imm) override {
        const std::uint32_t value = imm ? with_inval(*imm) : 0;
        return inner_->post_send(context, sges, imm ? &value : nullptr);
    }
    Status<fabric::Errc> post_write(std::uint64_t context, std::span<const fabric::Sge> sges,
                                    fabric::RemoteKey remote, const std::uint32_t* imm) override {
        const std::uint32_t value = imm ? with_inval(*imm) : 0;
        return inner_->post_write(context, sges, remote, imm ? &value : nullptr);
    }
    Status<fabric::Errc> post_read(std::uint64_t context, std::span<const fabric::Sge> sges,
                                   fabric::RemoteKey remote) override {
        return inner_->post_read(context, sges, remote);
    }
    void disconnect() override { inner_->disconnect(); }
    bool connected() const override { return inner_->connected(); }
    const fabric::Address& peer_address() const override { return inner_->peer_address(); }
    const fabric::Address& local_address() const override { return inner_->local_address(); }

private:
    static std::uint32_t with_inval(std::uint32_t imm) {
        const wire::Imm decoded = wire::imm_decode(imm);
        if (decoded.type != wire::ImmType::io_rsp) return imm;
        return wire::imm_encode(wire::ImmType::io_rsp_w_inv, decoded.payload);
    }
    std::unique_ptr<fabric::Endpoint> inner_;
};

class WInvFabric final : public fabric::ForwardingFabric {
public:
    using ForwardingFabric::ForwardingFabric;
    Expected<std::unique_ptr<fabric::Endpoint>, fabric::Errc> accept(fabric::DetachedConnectRequest& request,
                                                                     std::span<const std::byte> private_data,
                                                                     fabric::EndpointHandler& handler,
                                                                     fabric::QueueSizes queues) override {
        auto endpoint = inner_.accept(request, private_data, handler, queues);
        if (!endpoint) return endpoint;
        return std::unique_ptr<fabric::Endpoint>(std::make_unique<WInvEndpoint>(std::move(endpoint.value())));
    }
};

}  // namespace

// ibnbd's client sends flags = 0, so no server should invalidate its keys; one that says it did
// (IO_RSP_W_INV) still answered the request, which completes as with IO_RSP.
BOOST_AUTO_TEST_CASE(the_client_completes_requests_answered_with_w_inv) {
    Cluster cluster;
    WInvFabric fabric(cluster.server_node);
    const ServerBeforeFabric server_first{cluster};
    auto created = Server::create(fabric, fixed_key_server_config(), cluster.target);
    BOOST_REQUIRE(created.has_value());
    cluster.server = std::move(created.value());
    BOOST_REQUIRE(cluster.server->listen({server_address(0), 1234}).has_value());
    cluster.open(1);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(500, 8), cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    BOOST_TEST(cluster.path(0).state() == ClientPathState::connected);
}

BOOST_AUTO_TEST_SUITE_END()
