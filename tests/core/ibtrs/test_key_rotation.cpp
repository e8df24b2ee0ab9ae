// Per-request chunk keys (always_invalidate, the server's default; core/ibtrs/chunk_keys.hpp): a
// rogue session that speaks RTRS by hand sees each chunk's key change with every response, and a
// write through a key it held before - stale after a response, revoked while its request runs, or
// of a path that was closed - fails with a remote access error and cuts the rogue off, while a
// legitimate session on the same server keeps doing verified IO.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>

#include "tests/core/ibtrs/rogue.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;

namespace {

constexpr std::uint64_t kProbe = 40;  // the context of a rogue write whose outcome a test checks

// The chunk keys that responses on the rogue's IO connection carried, in arrival order. Every
// receive completion consumed the next of the receives RogueSession posted, in post order.
std::vector<wire::RkeyRsp> key_responses(const RogueSession& rogue) {
    std::vector<wire::RkeyRsp> keys;
    std::uint32_t receive = 0;
    for (const fabric::Completion& c : rogue.io->completions) {
        const bool received = c.opcode == fabric::Opcode::recv || c.opcode == fabric::Opcode::recv_rdma_with_imm;
        if (!received || c.status != fabric::WcStatus::success) continue;
        if (c.opcode == fabric::Opcode::recv && c.byte_len == wire::kRkeyRspSize) {
            if (auto key = wire::decode_rkey_rsp(rogue.io_receive(receive, wire::kRkeyRspSize))) keys.push_back(*key);
        }
        ++receive;
    }
    return keys;
}

// A valid WRITE on `chunk` with the chunk's current key; returns the key its response carried.
std::uint32_t write_and_take_next_key(Cluster& cluster, RogueSession& rogue, std::uint32_t chunk) {
    const std::size_t before = key_responses(rogue).size();
    rogue.send_valid_write(chunk, 512);
    BOOST_REQUIRE(cluster.run_until([&] { return key_responses(rogue).size() > before; }, kSecond));
    const wire::RkeyRsp next = key_responses(rogue).back();
    BOOST_TEST(next.buf_id == chunk);
    rogue.chunks[chunk].rkey = next.rkey;
    return next.rkey;
}

// Writes 256 bytes through `key` from `rogue`'s IO connection; returns the write's status.
fabric::WcStatus probe_write(Cluster& cluster, RogueSession& rogue, const wire::RemoteChunk& key) {
    auto source = RegisteredBuffer::create(cluster.client_node, 4096, fabric::access_local_write);
    BOOST_REQUIRE(source.has_value());
    const fabric::Sge sge = source->sge(0, 256);
    BOOST_REQUIRE(rogue.io->endpoint->post_write(kProbe, {&sge, 1}, {key.addr, key.rkey}).has_value());
    const auto done = [&] {
        return std::any_of(rogue.io->completions.begin(), rogue.io->completions.end(),
                           [](const auto& c) { return c.context == kProbe; });
    };
    BOOST_REQUIRE(cluster.run_until(done, kSecond));
    return std::find_if(rogue.io->completions.begin(), rogue.io->completions.end(),
                        [](const auto& c) { return c.context == kProbe; })->status;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(key_rotation)

BOOST_AUTO_TEST_CASE(every_chunk_has_its_own_key_and_the_accept_says_they_rotate) {
    Cluster cluster;
    cluster.start_server();
    RogueSession rogue(cluster, "rogue", 0, 0x71, wire::kRkeyRspSize);
    BOOST_REQUIRE(rogue.ready());
    BOOST_TEST((rogue.service->accepted_with->flags & wire::kConnRspNewRkeyFlag) != 0);
    BOOST_REQUIRE(rogue.chunks.size() == rogue.queue_depth);
    std::set<std::uint32_t> keys;
    for (const auto& chunk : rogue.chunks) keys.insert(chunk.rkey);
    BOOST_TEST(keys.size() == rogue.chunks.size());
    BOOST_TEST(cluster.server->stats().keys_rotated == rogue.queue_depth);
}

BOOST_AUTO_TEST_CASE(each_response_gives_the_next_key_and_the_old_one_is_refused) {
    Cluster cluster;
    cluster.start_server();
    Bystander bystander(cluster);
    RogueSession rogue(cluster, "rogue", 0, 0x72, wire::kRkeyRspSize);
    BOOST_REQUIRE(rogue.ready());
    const wire::RemoteChunk first = rogue.chunks[3];
    const std::uint32_t second = write_and_take_next_key(cluster, rogue, 3);
    const std::uint32_t third = write_and_take_next_key(cluster, rogue, 3);
    BOOST_TEST(second != first.rkey);
    BOOST_TEST(third != second);
    BOOST_TEST((second & ~0xFFu) == (first.rkey & ~0xFFu));  // one window per chunk, the next tag
    BOOST_TEST(cluster.server->stats().keys_revoked == 2u);
    BOOST_TEST(cluster.server->stats().violations == 0u);
    BOOST_TEST(!rogue.closed());
    // The key of the first request, stale since its response: refused, and the rogue is cut off.
    BOOST_TEST((probe_write(cluster, rogue, first) == fabric::WcStatus::remote_access_error));
    BOOST_TEST(cluster.run_until([&] { return rogue.closed(); }, kSecond));
    bystander.check_io();
}

BOOST_AUTO_TEST_CASE(a_write_into_a_chunk_while_its_request_runs_is_refused) {
    Cluster cluster;
    cluster.start_server();
    Bystander bystander(cluster);
    RogueSession rogue(cluster, "rogue", 0, 0x73, wire::kRkeyRspSize);
    BOOST_REQUIRE(rogue.ready());
    cluster.target.hold_responses = true;
    const std::uint64_t requests = cluster.target.requests;
    rogue.send_valid_write(5, 512);
    BOOST_REQUIRE(cluster.run_until([&] { return cluster.target.requests > requests; }, kSecond));
    // The request runs (storage has it, no response yet): the key it came with is revoked.
    BOOST_TEST((probe_write(cluster, rogue, rogue.chunks[5]) == fabric::WcStatus::remote_access_error));
    BOOST_TEST(cluster.run_until([&] { return rogue.closed(); }, kSecond));
    cluster.target.hold_responses = false;
    cluster.target.release_held();
    bystander.check_io();
}

// Keys are fabric-wide, so a dead path's keys must die with it: a peer with another, live
// connection to the same fabric cannot use them.
BOOST_AUTO_TEST_CASE(a_closed_paths_keys_are_refused_over_other_connections) {
    Cluster cluster;
    cluster.start_server();
    RogueSession closing(cluster, "closing", 0, 0x74, wire::kRkeyRspSize);
    RogueSession other(cluster, "other", 0, 0x75, wire::kRkeyRspSize);
    BOOST_REQUIRE(closing.ready());
    BOOST_REQUIRE(other.ready());
    const wire::RemoteChunk key = closing.chunks[0];
    closing.service->endpoint->disconnect();
    BOOST_REQUIRE(cluster.run_until([&] { return closing.io->disconnected; }, kSecond));  // the server closed the path
    BOOST_TEST((probe_write(cluster, other, key) == fabric::WcStatus::remote_access_error));
}

BOOST_AUTO_TEST_SUITE_END()
