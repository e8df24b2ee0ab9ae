// A client that speaks IBTRS by hand over the raw fabric, so that tests can send what a correct
// client never would (protocol.md §4.3).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

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

// A complete rogue session: cid 0 + one IO connection, INFO exchanged, chunk table known.
class RogueSession {
public:
    RogueSession(Cluster& cluster, std::string name, int path = 0, std::uint8_t seed = 0x77) {
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
        for (int i = 0; i < 64; ++i) {
            BOOST_REQUIRE(service->endpoint->post_recv(2, {}).has_value());
            BOOST_REQUIRE(io->endpoint->post_recv(2, {}).has_value());
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

private:
    bool info_done() const {
        return std::any_of(service->completions.begin(), service->completions.end(),
                           [](const auto& c) { return c.context == 1 && c.status == fabric::WcStatus::success; });
    }
    RegisteredBuffer buffer_;
};

}  // namespace ibnbd::ibtrs::test
