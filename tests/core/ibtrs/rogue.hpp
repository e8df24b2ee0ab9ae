// A client that speaks IBTRS by hand over the raw fabric, so that tests can send what a correct
// client never would (docs/protocol.md §4.3).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/ibtrs/client_path.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "core/wire/rtrs.hpp"
#include "fabric/fabric.hpp"
#include "tests/core/ibtrs/cluster.hpp"

namespace ibnbd::ibtrs::test {

class RogueConnection : public fabric::EndpointHandler {
public:
    void on_completion(const fabric::Completion& completion) override { completions.push_back(completion); }
    void on_cm_event(const fabric::CmEvent& event) override {
        if (event.type == fabric::CmEventType::established) {
            established = true;
            if (auto rsp = wire::decode_conn_rsp(event.private_data)) accepted_with = *rsp;
        } else if (event.type == fabric::CmEventType::rejected) {
            rejected = true;
            if (auto rsp = wire::decode_conn_rsp(event.private_data)) reject_status = rsp->status;
        } else {
            (event.type == fabric::CmEventType::disconnected ? disconnected : unreachable) = true;
        }
    }
    bool finished() const { return established || rejected || unreachable || disconnected; }

    std::unique_ptr<fabric::Endpoint> endpoint;
    std::vector<fabric::Completion> completions;
    bool established = false, rejected = false, unreachable = false, disconnected = false;
    std::optional<wire::ConnRsp> accepted_with;
    int reject_status = 0;
};

inline wire::ConnReq rogue_request(std::uint8_t session_seed, std::uint8_t path_seed, std::uint16_t cid,
                                   std::uint16_t cid_num, bool first_conn) {
    wire::ConnReq req;
    req.cid = cid;
    req.cid_num = cid_num;
    req.recon_cnt = 1;
    req.paths_uuid.fill(session_seed);
    req.sess_uuid.fill(path_seed);
    req.first_conn = first_conn;
    return req;
}

// Connects one connection with the given private data and waits for the outcome.
inline std::unique_ptr<RogueConnection> rogue_connect(Cluster& cluster, fabric::Fabric& from,
                                                      const std::string& source, const std::string& destination,
                                                      std::span<const std::byte> private_data) {
    auto conn = std::make_unique<RogueConnection>();
    auto endpoint = from.connect({destination, 1234}, {source, 0}, private_data, *conn, {2048, 2048});
    BOOST_REQUIRE(endpoint.has_value());
    conn->endpoint = std::move(endpoint.value());
    BOOST_REQUIRE(cluster.run_until([&] { return conn->finished(); }, 5 * kSecond));
    return conn;
}

inline std::unique_ptr<RogueConnection> rogue_connect(Cluster& cluster, const wire::ConnReq& req,
                                                      int path = 0) {
    std::array<std::byte, wire::kConnReqSize> private_data{};
    BOOST_REQUIRE(wire::encode_conn_req(req, private_data).has_value());
    return rogue_connect(cluster, cluster.client_node, client_address(path), server_address(path), private_data);
}

// Connects with `req` and returns the errno of the rejection (the test fails unless rejected).
inline int rejected_with(Cluster& cluster, const wire::ConnReq& req) {
    auto conn = rogue_connect(cluster, req);
    BOOST_TEST_REQUIRE(conn->rejected);
    return conn->reject_status;
}

// A server for rogue sessions that expect one fixed key for every chunk and responses as
// writes with immediate: always_invalidate off (the rotating keys have tests of their own).
inline ServerConfig fixed_key_server_config() {
    ServerConfig config = test_server_config();
    config.always_invalidate = false;
    return config;
}

// A complete rogue session: cid 0 + one IO connection, INFO exchanged, chunk table known.
class RogueSession {
public:
    // `io_recv_size`: the receives posted on the IO connection catch that many bytes (0: empty
    // receives, for write-with-immediate responses; 8 for RKEY_RSP sends).
    RogueSession(Cluster& cluster, std::string name, int path = 0, std::uint8_t seed = 0x77,
                 std::uint32_t io_recv_size = 0) {
        service = rogue_connect(cluster, rogue_request(seed, seed, 0, 2, true), path);
        if (!service->established) return;
        io = rogue_connect(cluster, rogue_request(seed, seed, 1, 2, true), path);
        if (!io->established) return;
        queue_depth = service->accepted_with->queue_depth;
        chunk_size = static_cast<std::uint32_t>(wire::chunk_size_of(*service->accepted_with));
        auto buffer = RegisteredBuffer::create(cluster.client_node, 65536,
                                               fabric::access_local_write | fabric::access_remote_write);
        BOOST_REQUIRE(buffer.has_value());
        buffer_ = std::move(buffer.value());
        const fabric::Sge rsp_sge = buffer_.sge(32768, 32768);
        BOOST_REQUIRE(service->endpoint->post_recv(1, {&rsp_sge, 1}).has_value());
        if (io_recv_size != 0) {
            auto receives =
                RegisteredBuffer::create(cluster.client_node, 64 * io_recv_size, fabric::access_local_write);
            BOOST_REQUIRE(receives.has_value());
            io_receives_ = std::move(receives.value());
        }
        for (std::uint32_t i = 0; i < 64; ++i) {
            BOOST_REQUIRE(service->endpoint->post_recv(2, {}).has_value());
            const fabric::Sge sge = io_receives_.sge(std::size_t{i} * io_recv_size, io_recv_size);
            BOOST_REQUIRE(io->endpoint->post_recv(2, {&sge, io_recv_size != 0 ? 1u : 0u}).has_value());
        }
        const auto written = wire::encode_info_req({std::move(name)}, buffer_.span());
        BOOST_REQUIRE(written.has_value());
        const fabric::Sge req_sge = buffer_.sge(0, static_cast<std::uint32_t>(*written));
        BOOST_REQUIRE(service->endpoint->post_send(3, {&req_sge, 1}).has_value());
        cluster.run_until([&] { return info_done() || service->disconnected; }, 5 * kSecond);
        if (!info_done()) return;
        std::vector<wire::SgDesc> descs;
        const auto& recv = *std::find_if(service->completions.begin(), service->completions.end(),
                                         [](const auto& c) { return c.context == 1 && c.status == fabric::WcStatus::success; });
        BOOST_REQUIRE(wire::decode_info_rsp(buffer_.span().subspan(32768, recv.byte_len), descs).has_value());
        BOOST_REQUIRE(wire::build_chunk_table(descs, queue_depth, chunk_size, chunks).has_value());
    }

    bool ready() const { return !chunks.empty(); }

    // Writes `bytes` at `offset` of chunk `chunk` and then sends `imm` (both on the IO connection).
    void send(std::uint32_t chunk, std::uint32_t offset, std::span<const std::byte> bytes, std::uint32_t imm) {
        if (!bytes.empty()) std::memcpy(buffer_.data(), bytes.data(), bytes.size());
        const fabric::Sge sge = buffer_.sge(0, static_cast<std::uint32_t>(bytes.size()));
        const auto& target = chunks[chunk % chunks.size()];
        if (!bytes.empty()) {
            BOOST_REQUIRE(io->endpoint->post_write(10, {&sge, 1}, {target.addr + offset, target.rkey}).has_value());
        }
        BOOST_REQUIRE(io->endpoint->post_write(11, {}, {}, &imm).has_value());
    }
    // A well-formed WRITE of `data_len` zero bytes into chunk `chunk` with an 8-byte user message.
    void send_valid_write(std::uint32_t chunk, std::uint32_t data_len) {
        std::vector<std::byte> message(data_len + 8 + wire::kRdmaWriteSize);
        (void)wire::encode_rdma_write({8}, std::span(message).subspan(data_len + 8));
        const auto payload = wire::io_req_payload(chunk, wire::mem_bits(queue_depth), data_len + 8);
        send(chunk, 0, message, wire::imm_encode(wire::ImmType::io_req, *payload));
    }
    std::uint32_t io_req(std::uint32_t chunk, std::uint32_t offset) const {
        return wire::imm_encode(wire::ImmType::io_req, (chunk << wire::mem_bits(queue_depth)) | offset);
    }
    bool got_response_for(std::uint32_t msg_id) const {
        return std::any_of(io->completions.begin(), io->completions.end(), [&](const auto& c) {
            const auto imm = wire::imm_decode(c.imm);
            return c.opcode == fabric::Opcode::recv_rdma_with_imm && imm.type == wire::ImmType::io_rsp &&
                   wire::io_rsp_decode(imm.payload).msg_id == msg_id;
        });
    }
    bool closed() const { return service->disconnected || io->disconnected; }

    std::unique_ptr<RogueConnection> service, io;
    std::uint32_t queue_depth = 0;
    std::uint32_t chunk_size = 0;
    std::vector<wire::RemoteChunk> chunks;

    // A READ of `data_len` bytes of the MemoryTarget's disk at `disk_offset` into `desc` (the
    // client's buffer), the request's header at `data_len` in chunk `chunk` as the kernel puts it.
    void send_read(std::uint32_t chunk, std::uint32_t data_len, std::uint64_t disk_offset, std::uint16_t flags,
                   const wire::SgDesc& desc) {
        std::vector<std::byte> message(8 + wire::rdma_read_size(1));
        std::memcpy(message.data(), &disk_offset, 8);
        BOOST_REQUIRE(wire::encode_rdma_read(8, flags, {&desc, 1}, std::span(message).subspan(8)).has_value());
        send(chunk, data_len, message, io_req(chunk, data_len + 8));
    }
    // The IO connection's first immediate-carrying completion for `msg_id`, if any.
    const fabric::Completion* response_for(std::uint32_t msg_id) const {
        for (const auto& c : io->completions) {
            const auto imm = wire::imm_decode(c.imm);
            const bool response = imm.type == wire::ImmType::io_rsp || imm.type == wire::ImmType::io_rsp_w_inv;
            const bool carries_imm = c.has_imm || c.opcode == fabric::Opcode::recv_rdma_with_imm;
            if (c.status == fabric::WcStatus::success && carries_imm && response &&
                wire::io_rsp_decode(imm.payload).msg_id == msg_id) {
                return &c;
            }
        }
        return nullptr;
    }
    std::span<const std::byte> io_receive(std::uint32_t index, std::uint32_t size) const {
        return io_receives_.span().subspan(std::size_t{index} * size, size);
    }

private:
    bool info_done() const {
        return std::any_of(service->completions.begin(), service->completions.end(),
                           [](const auto& c) { return c.context == 1 && c.status == fabric::WcStatus::success; });
    }
    RegisteredBuffer buffer_;
    RegisteredBuffer io_receives_;
};

// A legitimate session on path 1 that must not notice what a rogue does on path 0.
struct Bystander {
    explicit Bystander(Cluster& cluster) : cluster(cluster) {
        auto created = ClientSession::create(cluster.client_node, test_client_config("bystander"),
                                             {{{client_address(1), 0}, {server_address(1), 1234}}}, events);
        BOOST_REQUIRE(created.has_value());
        session = std::move(created.value());
        session->start();
        BOOST_REQUIRE(cluster.run_until([&] { return events.opened; }, 5 * kSecond));
    }
    void check_io() {
        IoDriver driver(cluster.client_node, *session, cluster.io_options(200, 8), cluster.target.disk);
        driver.pump();
        BOOST_REQUIRE(cluster.run_until([&] { return driver.done(); }, 10 * kSecond));
        BOOST_TEST(driver.errors == 0u);
        BOOST_TEST(driver.verify_failures == 0u);
        BOOST_TEST(session->path(0)->state() == ClientPathState::connected);
    }
    Cluster& cluster;
    SessionEvents events;
    std::unique_ptr<ClientSession> session;
};

}  // namespace ibnbd::ibtrs::test
