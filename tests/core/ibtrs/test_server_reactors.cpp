// A server on several reactors: one ibtrs::Server per reactor (each on its own fabric view of the
// server node), sharing a SessionDirectory. Reactor 0 listens; every connection of a session
// goes to the reactor that owns it, sessions are spread over the reactors, refusals of the owner
// come back to the client with their errno, and names are unique over the whole group.
#include <boost/test/unit_test.hpp>

#include <cerrno>

#include "core/ibtrs/client_path.hpp"
#include "tests/core/ibtrs/cluster.hpp"
#include "tests/core/ibtrs/rogue.hpp"
#include "sim-scenarios/lib/shard_fabric.hpp"

using namespace ibnbd;
using namespace ibnbd::ibtrs;
using namespace ibnbd::ibtrs::test;
using scenario::ShardFabric;
using scenario::SimMailbox;
using scenario::ViewRegistry;

namespace {

struct ReactorServers {
    ReactorServers(Cluster& cluster, std::size_t reactors) : cluster(cluster), directory(reactors) {
        std::vector<ServerPeer> peers;
        for (std::size_t i = 0; i < reactors; ++i) {
            views.push_back(std::make_unique<ShardFabric>(cluster.server_node, registry));
            mailboxes.push_back(std::make_unique<SimMailbox>(*views.back()));
            auto created = Server::create(*views.back(), test_server_config(), cluster.target);
            BOOST_REQUIRE(created.has_value());
            servers.push_back(std::move(created.value()));
            peers.push_back({servers.back().get(), mailboxes.back().get()});
        }
        join_group(directory, peers);
        for (int p = 0; p < Cluster::kPaths; ++p) {
            BOOST_REQUIRE(servers[0]->listen({server_address(p), 1234}).has_value());
        }
    }
    ~ReactorServers() {
        for (auto& mailbox : mailboxes) mailbox->run_all();
    }

    struct Client {
        SessionEvents events;
        std::unique_ptr<ClientSession> session;
    };

    std::unique_ptr<Client> open(const std::string& name, int paths = 2) {
        auto client = std::make_unique<Client>();
        auto created = ClientSession::create(cluster.client_node, test_client_config(name), cluster.path_specs(paths),
                                             client->events);
        BOOST_REQUIRE(created.has_value());
        client->session = std::move(created.value());
        client->session->start();
        cluster.run_until([&] { return client->session->connected_paths() == std::size_t(paths); }, 5 * kSecond);
        return client;
    }

    std::size_t sessions_on(std::size_t reactor) const { return servers[reactor]->session_count(); }
    std::size_t foreign_entries() const {
        std::size_t total = 0;
        for (const auto& view : views) total += view->foreign_entries;
        return total;
    }

    Cluster& cluster;
    SessionDirectory directory;
    ViewRegistry registry;
    std::vector<std::unique_ptr<ShardFabric>> views;
    std::vector<std::unique_ptr<SimMailbox>> mailboxes;
    std::vector<std::unique_ptr<Server>> servers;
};

bool run_clean(Cluster& cluster, ClientSession& session, std::uint64_t ios, std::uint32_t first_block) {
    IoDriver::Options options = cluster.io_options(ios, 8);
    options.blocks = 64;
    options.first_block = first_block;
    options.seed = first_block + 1;
    IoDriver driver(cluster.client_node, session, options, cluster.target.disk);
    if (!cluster.drive(driver)) return false;
    BOOST_TEST(driver.errors == 0u);
    BOOST_TEST(driver.verify_failures == 0u);
    return driver.completed == ios;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_reactors)

BOOST_AUTO_TEST_CASE(sessions_are_spread_and_each_lives_on_its_reactor) {
    Cluster cluster;
    ReactorServers group(cluster, 2);
    auto first = group.open("first");
    auto second = group.open("second");
    auto third = group.open("third");
    BOOST_TEST(first->events.open_status == 0);
    BOOST_TEST(second->events.open_status == 0);
    BOOST_TEST(third->events.open_status == 0);
    BOOST_TEST(group.sessions_on(0) == 2u);  // first and third: the least loaded, lowest first
    BOOST_TEST(group.sessions_on(1) == 1u);
    BOOST_TEST(group.servers[1]->find_session("second") != nullptr);
    BOOST_TEST(group.servers[0]->find_session("second") == nullptr);
    // Two paths of cid 0 + two IO connections each, all accepted on the owner's fabric.
    BOOST_TEST(group.views[0]->accepts == 2u * 2u * 3u);
    BOOST_TEST(group.views[1]->accepts == 1u * 2u * 3u);
    BOOST_TEST(group.servers[0]->stats().handed_over == 6u);
    BOOST_TEST((group.directory.sessions_per_reactor() == std::vector<std::size_t>{2, 1}));

    BOOST_TEST(run_clean(cluster, *first->session, 1000, 0));
    BOOST_TEST(run_clean(cluster, *second->session, 1000, 64));
    BOOST_TEST(run_clean(cluster, *third->session, 1000, 128));
    BOOST_TEST(group.foreign_entries() == 0u);  // no reactor touched another's memory
}

BOOST_AUTO_TEST_CASE(a_reconnecting_path_returns_to_its_sessions_reactor) {
    Cluster cluster;
    ReactorServers group(cluster, 2);
    auto first = group.open("first");
    auto second = group.open("second");
    BOOST_REQUIRE(group.sessions_on(1) == 1u);
    const std::size_t accepted_before = group.views[1]->accepts;
    cluster.world.set_link_state(client_address(0), server_address(0), false, fabric::sim::Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] { return second->session->path(0)->state() != ClientPathState::connected; },
                                    5 * kSecond));
    cluster.world.set_link_state(client_address(0), server_address(0), true, fabric::sim::Direction::both);
    BOOST_REQUIRE(cluster.run_until([&] {
        return second->session->connected_paths() == 2u && first->session->connected_paths() == 2u;
    }, 10 * kSecond));
    BOOST_TEST(group.views[1]->accepts == accepted_before + 3u);  // path 0 again: cid 0 + 2
    BOOST_TEST(group.sessions_on(0) == 1u);
    BOOST_TEST(group.sessions_on(1) == 1u);
    BOOST_TEST(run_clean(cluster, *second->session, 500, 0));
    BOOST_TEST(group.foreign_entries() == 0u);
}

BOOST_AUTO_TEST_CASE(the_owners_refusals_reach_the_client_with_their_errno) {
    Cluster cluster;
    ReactorServers group(cluster, 2);
    auto occupant = group.open("occupant");  // reactor 0 gets one session, the next goes to 1
    auto first = rogue_connect(cluster, rogue_request(3, 3, 0, 2, true));
    BOOST_TEST_REQUIRE(first->established);
    BOOST_TEST(group.sessions_on(1) == 1u);
    // Checked by reactor 1 (it owns the session), rejected through reactor 0's listener.
    BOOST_TEST(rejected_with(cluster, rogue_request(3, 3, 0, 2, true)) == -ECONNRESET);  // duplicate cid
    BOOST_TEST(rejected_with(cluster, rogue_request(3, 4, 0, 2, true)) == -EEXIST);      // same addresses
    BOOST_TEST(rejected_with(cluster, rogue_request(9, 9, 0, 2, false)) == -ENXIO);      // unknown session
    BOOST_TEST(group.servers[0]->stats().rejected == 3u);
    BOOST_TEST(run_clean(cluster, *occupant->session, 300, 0));
}

BOOST_AUTO_TEST_CASE(a_name_is_unique_over_all_reactors) {
    Cluster cluster;
    ReactorServers group(cluster, 2);
    auto first = group.open("same");
    auto second = group.open("same", 1);  // placed on reactor 1, where the name is not local
    BOOST_TEST(first->events.open_status == 0);
    BOOST_TEST(second->session->connected_paths() == 0u);
    BOOST_TEST(group.servers[1]->stats().violations >= 1u);
    BOOST_TEST(group.servers[1]->find_session("same") == nullptr);
    BOOST_TEST(run_clean(cluster, *first->session, 300, 0));
}

BOOST_AUTO_TEST_CASE(a_lost_session_frees_its_place_and_name) {
    Cluster cluster;
    ReactorServers group(cluster, 2);
    auto first = group.open("first");
    auto second = group.open("second");
    second.reset();  // the client goes away: its paths close, the session is dropped
    BOOST_REQUIRE(cluster.run_until([&] { return group.sessions_on(1) == 0u; }, 5 * kSecond));
    BOOST_TEST((group.directory.sessions_per_reactor() == std::vector<std::size_t>{1, 0}));
    auto again = group.open("second");
    BOOST_TEST(again->events.open_status == 0);
    BOOST_TEST(group.sessions_on(1) == 1u);
    BOOST_TEST(run_clean(cluster, *again->session, 300, 64));
}

BOOST_AUTO_TEST_SUITE_END()
