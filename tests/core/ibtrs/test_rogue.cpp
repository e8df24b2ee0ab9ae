// Rogue clients (docs/protocol.md §4.3): every handshake and request violation closes or rejects the
// offending path only; a legitimate session on the same server keeps doing verified IO.
#include <boost/test/unit_test.hpp>

#include "tests/core/ibtrs/rogue.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;

BOOST_AUTO_TEST_CASE(handshake_violations_are_rejected_with_their_errno) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    Bystander bystander(cluster);

    auto bad_magic = rogue_request(1, 1, 0, 1, true);
    bad_magic.magic = 0x1234;
    BOOST_TEST(rejected_with(cluster, bad_magic) == -ECONNRESET);
    auto bad_version = rogue_request(1, 1, 0, 1, true);
    bad_version.version = 0x0100;
    BOOST_TEST(rejected_with(cluster, bad_version) == -ECONNRESET);
    BOOST_TEST(rejected_with(cluster, rogue_request(1, 1, 2, 2, true)) == -ECONNRESET);     // cid >= cid_num
    BOOST_TEST(rejected_with(cluster, rogue_request(1, 1, 0, 4097, true)) == -ECONNRESET);  // cid_num > 4096
    BOOST_TEST(rejected_with(cluster, rogue_request(2, 2, 0, 1, false)) == -ENXIO);  // unknown, no first_conn

    std::array<std::byte, 10> short_data{};
    auto short_conn = rogue_connect(cluster, cluster.client_node, client_address(0), server_address(0), short_data);
    BOOST_TEST(short_conn->rejected);

    // Duplicate cid of a path that is still connecting.
    auto first = rogue_connect(cluster, rogue_request(3, 3, 0, 2, true));
    BOOST_TEST_REQUIRE(first->established);
    BOOST_TEST(rejected_with(cluster, rogue_request(3, 3, 0, 2, true)) == -ECONNRESET);
    BOOST_TEST(rejected_with(cluster, rogue_request(3, 3, 1, 3, true)) == -ECONNRESET);  // other cid_num
    // A second path with the same client and server addresses.
    BOOST_TEST(rejected_with(cluster, rogue_request(3, 4, 0, 2, true)) == -EEXIST);

    BOOST_TEST(cluster.server->stats().violations >= 3u);
    bystander.check_io();
}

BOOST_AUTO_TEST_CASE(the_129th_path_of_a_session_is_rejected) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    std::vector<std::string> addresses;
    for (int i = 0; i < 129; ++i) addresses.push_back("10.9." + std::to_string(i / 100) + "." + std::to_string(i % 100));
    fabric::sim::Node& many = cluster.world.add_node("many", addresses);
    for (const auto& address : addresses) cluster.world.add_link(address, server_address(0));
    std::vector<std::unique_ptr<RogueConnection>> paths;
    std::array<std::byte, wire::kConnReqSize> private_data{};
    for (int i = 0; i < 129; ++i) {
        auto req = rogue_request(5, static_cast<std::uint8_t>(i), 0, 2, true);
        req.sess_uuid[15] = static_cast<std::uint8_t>(i >> 8);
        BOOST_REQUIRE(wire::encode_conn_req(req, private_data).has_value());
        paths.push_back(rogue_connect(cluster, many, addresses[i], server_address(0), private_data));
    }
    for (int i = 0; i < 128; ++i) BOOST_TEST(paths[i]->established);
    BOOST_TEST(paths[128]->rejected);
    BOOST_TEST(paths[128]->reject_status == -ECONNRESET);
}

BOOST_AUTO_TEST_CASE(bad_session_names_close_the_path) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    Bystander bystander(cluster);
    RogueSession slash(cluster, "a/b", 0, 0x10);
    BOOST_TEST(!slash.ready());
    BOOST_TEST(cluster.run_until([&] { return slash.closed(); }, kSecond));
    RogueSession dot(cluster, "..", 0, 0x11);
    BOOST_TEST(!dot.ready());
    BOOST_TEST(cluster.run_until([&] { return dot.closed(); }, kSecond));
    RogueSession thief(cluster, "bystander", 0, 0x12);  // a name another session uses: -EPERM
    BOOST_TEST(!thief.ready());
    BOOST_TEST(cluster.run_until([&] { return thief.closed(); }, kSecond));
    bystander.check_io();
}

BOOST_AUTO_TEST_CASE(a_well_formed_rogue_session_works) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    RogueSession rogue(cluster, "rogue");
    BOOST_REQUIRE(rogue.ready());
    BOOST_TEST(rogue.queue_depth == 32u);
    rogue.send_valid_write(3, 100);
    BOOST_REQUIRE(cluster.run_until([&] { return rogue.got_response_for(3); }, kSecond));
    BOOST_TEST(!rogue.closed());
}

namespace {

// Sends one malformed request on a fresh rogue session and checks that exactly that session's
// path is closed while the bystander goes on.
void expect_violation_closes_path(const std::function<void(Cluster&, RogueSession&)>& send,
                                  std::uint16_t queue_depth = 32) {
    Cluster cluster;
    ServerConfig config = fixed_key_server_config();
    config.queue_depth = queue_depth;
    cluster.start_server(config);
    Bystander bystander(cluster);
    RogueSession rogue(cluster, "rogue");
    BOOST_REQUIRE(rogue.ready());
    const auto violations = cluster.server->stats().violations;
    send(cluster, rogue);
    BOOST_TEST(cluster.run_until([&] { return rogue.closed(); }, 2 * kSecond));
    BOOST_TEST(cluster.server->stats().violations == violations + 1);
    cluster.target.hold_responses = false;
    cluster.target.release_held();
    bystander.check_io();
}

std::vector<std::byte> read_message(std::uint16_t usr_len, std::uint16_t sg_cnt, std::uint32_t desc_len) {
    std::vector<wire::SgDesc> descs(sg_cnt, wire::SgDesc{0x1000, 1, desc_len});
    std::vector<std::byte> bytes(wire::rdma_read_size(sg_cnt));
    BOOST_REQUIRE(wire::encode_rdma_read(usr_len, 0, descs, bytes).has_value());
    return bytes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(request_violations_close_only_the_offending_path) {
    BOOST_TEST_CONTEXT("msg_id >= queue depth") {
        // With 24 chunks the 5-bit chunk index can name chunks 24..31 that do not exist.
        expect_violation_closes_path([](Cluster&, RogueSession& r) { r.send(0, 0, {}, r.io_req(30, 16)); }, 24);
    }
    BOOST_TEST_CONTEXT("offset >= chunk size") {
        expect_violation_closes_path([](Cluster&, RogueSession& r) {
            const unsigned bits = wire::mem_bits(r.queue_depth);
            r.send(0, 0, {}, wire::imm_encode(wire::ImmType::io_req, (1u << bits) - 1));
        });
    }
    BOOST_TEST_CONTEXT("unknown RTRS message type") {
        expect_violation_closes_path([](Cluster&, RogueSession& r) {
            std::array<std::byte, 4> bytes{std::byte{9}, std::byte{0}, std::byte{0}, std::byte{0}};
            r.send(1, 64, bytes, r.io_req(1, 64));
        });
    }
    BOOST_TEST_CONTEXT("READ with two descriptors") {
        expect_violation_closes_path([](Cluster&, RogueSession& r) { r.send(2, 4096, read_message(0, 2, 16), r.io_req(2, 4096)); });
    }
    BOOST_TEST_CONTEXT("usr_len > off") {
        expect_violation_closes_path([](Cluster&, RogueSession& r) {
            std::vector<std::byte> bytes(4);
            (void)wire::encode_rdma_write({200}, bytes);
            r.send(3, 100, bytes, r.io_req(3, 100));
        });
    }
    BOOST_TEST_CONTEXT("READ message crossing the chunk end") {
        expect_violation_closes_path([](Cluster&, RogueSession& r) {
            const std::uint32_t offset = r.chunk_size - 12;  // header fits, descriptor does not
            auto bytes = read_message(0, 1, 16);
            bytes.resize(12);
            r.send(4, offset, bytes, r.io_req(4, offset));
        });
    }
    BOOST_TEST_CONTEXT("WRITE trailer crossing the chunk end") {
        expect_violation_closes_path([](Cluster&, RogueSession& r) { r.send(5, 0, {}, r.io_req(5, r.chunk_size - 1)); });
    }
    BOOST_TEST_CONTEXT("READ descriptor longer than the reserved data") {
        expect_violation_closes_path([](Cluster&, RogueSession& r) { r.send(6, 512, read_message(0, 1, 4096), r.io_req(6, 512)); });
    }
    BOOST_TEST_CONTEXT("chunk reused before its response") {
        expect_violation_closes_path([](Cluster& cluster, RogueSession& r) {
            cluster.target.hold_responses = true;
            r.send_valid_write(7, 10);
            r.send_valid_write(7, 10);
        });
    }
}

BOOST_AUTO_TEST_CASE(unknown_immediate_types_are_ignored) {
    Cluster cluster;
    cluster.start_server(fixed_key_server_config());
    RogueSession rogue(cluster, "rogue");
    BOOST_REQUIRE(rogue.ready());
    rogue.send(0, 0, {}, wire::imm_encode(static_cast<wire::ImmType>(5), 123));
    rogue.send(0, 0, {}, wire::imm_encode(wire::ImmType::io_rsp, 7));  // a response sent to a server
    cluster.run_for(100 * kMillisecond);
    BOOST_TEST(!rogue.closed());
    rogue.send_valid_write(9, 64);
    BOOST_REQUIRE(cluster.run_until([&] { return rogue.got_response_for(9); }, kSecond));
}
