#define BOOST_TEST_MODULE core_ibtrs
#include <boost/test/unit_test.hpp>

#include "core/ibtrs/client_path.hpp"
#include "tests/core/ibtrs/cluster.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;

namespace {

// One request with a caller-chosen size, waited for; returns the completion status.
class OneShot : public IoHandler {
public:
    void on_io_complete(std::uint64_t, int s) override {
        done = true;
        status = s;
    }
    bool done = false;
    int status = 1;
};

int run_one(Cluster& cluster, Dir dir, std::uint64_t offset, std::span<const fabric::Sge> data,
            Permit permit) {
    OneShot shot;
    const auto usr = UserMessage{offset}.encode();
    auto submitted = cluster.session->request(dir, permit, usr, data, shot, 0);
    if (!submitted) return submitted.error();
    BOOST_REQUIRE(cluster.run_until([&] { return shot.done; }, 5 * kSecond));
    return shot.status;
}

}  // namespace

BOOST_AUTO_TEST_CASE(session_opens_and_reports_server_parameters) {
    Cluster cluster;
    cluster.start_server();
    ClientSession& session = cluster.open(1);
    BOOST_TEST(session.queue_depth() == 32u);
    BOOST_TEST(session.max_io_size() == 16384u - 4096u);
    BOOST_TEST(session.connected_paths() == 1u);
    BOOST_TEST(cluster.path(0).state() == ClientPathState::connected);
    BOOST_TEST(cluster.target.sessions_connected == 1);
    BOOST_REQUIRE_EQUAL(cluster.server->session_count(), 1u);
    BOOST_TEST(cluster.server->find_session("sess") != nullptr);
    // The only transition taken is connecting -> connected.
    BOOST_REQUIRE_EQUAL(cluster.events.transitions.size(), 1u);
    BOOST_TEST(cluster.events.transitions[0] == ClientPathState::connected);
}

BOOST_AUTO_TEST_CASE(io_of_every_size_round_trips_byte_for_byte) {
    Cluster cluster;
    cluster.start_server();
    ClientSession& session = cluster.open(1);
    const std::uint32_t max = session.max_io_size();
    auto buffer = RegisteredBuffer::create(cluster.client_node, max, fabric::access_local_write);
    BOOST_REQUIRE(buffer.has_value());
    const Permit permit = *session.get_permit();
    std::vector<std::uint32_t> sizes{0, 1, 2, 511, 512, 4095, 4096, 4097, 8192, max - 1, max};
    std::uint64_t offset = 0;
    for (const std::uint32_t size : sizes) {
        for (std::uint32_t i = 0; i < size; ++i) buffer->data()[i] = static_cast<std::byte>(i * 13 + size);
        const fabric::Sge source = buffer->sge(0, size);
        BOOST_TEST_REQUIRE(run_one(cluster, Dir::write, offset, {&source, size ? 1u : 0u}, permit) == 0);
        BOOST_TEST(std::memcmp(cluster.target.disk.data() + offset, buffer->data(), size) == 0);
        std::memset(session.read_buffer_bytes(permit).data(), 0, max);
        const fabric::Sge destination = session.read_buffer(permit, size);
        BOOST_TEST_REQUIRE(run_one(cluster, Dir::read, offset, {&destination, size ? 1u : 0u}, permit) == 0);
        BOOST_TEST(std::memcmp(session.read_buffer_bytes(permit).data(), buffer->data(), size) == 0,
                   "read back " << size << " bytes");
        offset += size + 1;
    }
    // Data split over three local buffers arrives contiguous.
    std::array<fabric::Sge, 3> pieces{buffer->sge(0, 100), buffer->sge(1000, 200), buffer->sge(5000, 300)};
    BOOST_TEST_REQUIRE(run_one(cluster, Dir::write, 0, pieces, permit) == 0);
    BOOST_TEST(std::memcmp(cluster.target.disk.data(), buffer->data(), 100) == 0);
    BOOST_TEST(std::memcmp(cluster.target.disk.data() + 100, buffer->data() + 1000, 200) == 0);
    BOOST_TEST(std::memcmp(cluster.target.disk.data() + 300, buffer->data() + 5000, 300) == 0);
    session.put_permit(permit);
}

BOOST_AUTO_TEST_CASE(oversized_and_malformed_requests_are_refused_at_once) {
    Cluster cluster;
    cluster.start_server();
    ClientSession& session = cluster.open(1);
    auto buffer = RegisteredBuffer::create(cluster.client_node, 65536, fabric::access_local_write);
    BOOST_REQUIRE(buffer.has_value());
    const Permit permit = *session.get_permit();
    OneShot shot;
    const fabric::Sge too_big = buffer->sge(0, session.max_io_size() + 1);
    BOOST_TEST(session.request(Dir::write, permit, {}, {&too_big, 1}, shot, 0).error() == -EMSGSIZE);
    std::vector<std::byte> huge_usr(5000);
    BOOST_TEST(session.request(Dir::write, permit, huge_usr, {}, shot, 0).error() == -EMSGSIZE);
    const fabric::Sge local_only = buffer->sge(0, 10);  // a read target needs remote-write access
    BOOST_TEST(session.request(Dir::read, permit, {}, {&local_only, 1}, shot, 0).error() == -EINVAL);
    BOOST_TEST(session.request(Dir::write, permit + 1, {}, {}, shot, 0).error() == -EINVAL);  // not ours
    std::array<fabric::Sge, 4> four{local_only, local_only, local_only, local_only};
    BOOST_TEST(session.request(Dir::write, permit, {}, four, shot, 0).error() == -EINVAL);
    cluster.run_for(10 * kMillisecond);
    BOOST_TEST(!shot.done);
    session.put_permit(permit);
}

namespace {

struct IoCosts {
    std::uint64_t reads = 0, writes = 0, network = 0, key = 0;
};

// Verified IO over two paths with no heartbeat traffic; what it cost on the wire and in keys.
IoCosts measure_io_costs(bool always_invalidate) {
    Cluster cluster(7, fabric::sim::WorldConfig{});
    ClientConfig config = test_client_config();
    config.heartbeat.interval = 3600 * kSecond;  // no heartbeat traffic in the window
    ServerConfig server_config = test_server_config();
    server_config.heartbeat.interval = 3600 * kSecond;
    server_config.always_invalidate = always_invalidate;
    cluster.start_server(server_config);
    cluster.open(2, config);
    IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(2000, 16), cluster.target.disk);
    const auto key_ops = [&](const fabric::sim::WorldStats& stats) {
        return stats.posted_of(fabric::sim::OpKind::bind_window) + stats.posted_of(fabric::sim::OpKind::local_invalidate);
    };
    const auto before = cluster.world.stats();
    BOOST_REQUIRE(cluster.drive(driver));
    const auto after = cluster.world.stats();
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    BOOST_TEST(driver.reads > 0u);
    BOOST_TEST(driver.writes > 0u);
    BOOST_TEST(driver.completed == driver.reads + driver.writes);
    return {driver.reads, driver.writes, after.network_operations() - before.network_operations(),
            key_ops(after) - key_ops(before)};
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_io_costs_exactly_two_network_operations) {
    const IoCosts costs = measure_io_costs(false);
    BOOST_TEST(costs.network == 2 * (costs.reads + costs.writes));
    BOOST_TEST(costs.key == 0u);
}

// With always_invalidate a read's immediate rides on the send carrying the chunk's next key,
// after the data (the kernel's format), and every IO revokes and binds its chunk's key once.
BOOST_AUTO_TEST_CASE(with_always_invalidate_an_io_costs_two_key_operations_and_a_read_one_more_message) {
    const IoCosts costs = measure_io_costs(true);
    BOOST_TEST(costs.network == 2 * costs.writes + 3 * costs.reads);
    BOOST_TEST(costs.key == 2 * (costs.reads + costs.writes));
}

BOOST_AUTO_TEST_CASE(queue_depth_exhaustion_no_wait_fails_and_wait_resumes) {
    Cluster cluster;
    cluster.start_server();
    ClientSession& session = cluster.open(1);
    std::vector<Permit> permits;
    while (auto permit = session.get_permit()) permits.push_back(*permit);
    BOOST_TEST(permits.size() == 32u);
    BOOST_TEST(!session.get_permit().has_value());

    struct Waiter : PermitQueueEntry {
        void on_permit(Permit p) override { got = p; }
        std::optional<Permit> got;
    } waiter;
    BOOST_TEST(!session.get_permit_or_queue(waiter).has_value());
    BOOST_TEST(!waiter.got.has_value());
    session.put_permit(permits[5]);
    BOOST_REQUIRE(waiter.got.has_value());
    BOOST_TEST(*waiter.got == permits[5]);
    BOOST_TEST(session.permits_in_use() == 32u);
    // The handed-over permit carries IO.
    const auto usr = UserMessage{0}.encode();
    OneShot shot;
    BOOST_REQUIRE(session.request(Dir::write, *waiter.got, usr, {}, shot, 0).has_value());
    BOOST_REQUIRE(cluster.run_until([&] { return shot.done; }, kSecond));
    BOOST_TEST(shot.status == 0);
    for (const Permit permit : permits) session.put_permit(permit);
    BOOST_TEST(session.permits_in_use() == 0u);
}

BOOST_AUTO_TEST_CASE(server_errors_reach_the_caller_and_are_not_retried) {
    Cluster cluster;
    cluster.start_server();
    ClientSession& session = cluster.open(2);
    cluster.target.fail_with = -ENOSPC;
    const Permit permit = *session.get_permit();
    const std::uint64_t before = cluster.target.requests;
    BOOST_TEST(run_one(cluster, Dir::write, 0, {}, permit) == -ENOSPC);
    BOOST_TEST(cluster.target.requests == before + 1);
    // An errno that does not fit in 9 bits arrives as EIO instead of a wrong value.
    cluster.target.fail_with = -600;
    BOOST_TEST(run_one(cluster, Dir::read, 0, {}, permit) == -EIO);
    session.put_permit(permit);
    BOOST_TEST(cluster.path(0).state() == ClientPathState::connected);
    BOOST_TEST(cluster.path(1).state() == ClientPathState::connected);
}

BOOST_AUTO_TEST_CASE(random_mixed_workload_verifies_on_both_imm_modes) {
    for (const auto mode : {fabric::sim::ImmMode::verbs, fabric::sim::ImmMode::tcp}) {
        fabric::sim::WorldConfig world_config;
        world_config.imm_mode = mode;
        Cluster cluster(11, world_config);
        cluster.start_server();
        cluster.open(2);
        IoDriver driver(cluster.client_node, *cluster.session, cluster.io_options(3000, 24), cluster.target.disk);
        BOOST_REQUIRE(cluster.drive(driver));
        BOOST_TEST(driver.completed == 3000u);
        BOOST_TEST(driver.errors == 0u);
        BOOST_TEST(driver.verify_failures == 0u);
        BOOST_TEST(cluster.session->permits_in_use() == 0u);
    }
}

BOOST_AUTO_TEST_CASE(responses_that_carry_chunk_keys_are_understood) {
    // A server that answers with a send-with-immediate carrying each chunk's key (RKEY_RSP, and
    // NEW_RKEY_F in its accept), as the kernel's with always_invalidate=Y: verified reads and
    // writes of every size, every response's key applied and counted.
    Cluster cluster;
    ServerConfig server_config = test_server_config();
    server_config.always_invalidate = true;
    cluster.start_server(server_config);
    cluster.open(2);
    IoDriver::Options options = cluster.io_options(2000, 16);
    options.block_size = 8192;  // sizes drawn from 0 to 8 KiB
    IoDriver driver(cluster.client_node, *cluster.session, options, cluster.target.disk);
    BOOST_REQUIRE(cluster.drive(driver));
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    const std::uint64_t updates = cluster.path(0).stats().rkey_updates + cluster.path(1).stats().rkey_updates;
    BOOST_TEST(updates == 2000u);
}
