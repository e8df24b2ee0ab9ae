#define BOOST_TEST_MODULE ibnbd_daemon
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "ibnbd/daemon/client_router.hpp"
#include "ibnbd/runtime/reactor_threads.hpp"

using namespace ibnbd;
using daemon::Json;

namespace {

// A handler that records which thread ran each command and knows the sessions mapped on it.
class FakeHandler : public daemon::CommandHandler {
public:
    void handle(const Json& request, daemon::Responder respond) override {
        {
            std::lock_guard lock(mutex);
            threads.insert(std::this_thread::get_id());
        }
        const std::string cmd = request.value("cmd", "");
        if (cmd == "map") sessions.push_back(request.value("session", ""));
        if (cmd == "list") {
            Json devices = Json::array();
            for (const auto& name : sessions) devices.push_back({{"session", name}});
            return respond({{"ok", true}, {"devices", devices}});
        }
        respond({{"ok", true}, {"cmd", cmd}, {"session", request.value("session", "")}});
    }
    std::mutex mutex;
    std::set<std::thread::id> threads;
    std::vector<std::string> sessions;  // its reactor's thread only
};

struct Fixture {
    explicit Fixture(std::size_t count) : threads(count), handlers(count) {
        std::vector<daemon::ClientRoute> routes;
        for (std::size_t i = 0; i < count; ++i) routes.push_back({threads.reactor(i), handlers[i]});
        router = std::make_unique<daemon::ClientRouter>(threads.reactor(0), routes);
        threads.start();
    }
    // Sends one command from the home thread and runs the home reactor until it is answered.
    Json call(const Json& request) {
        std::optional<Json> answer;
        std::thread::id answered_on;
        router->handle(request, [&](Json response) {
            answered_on = std::this_thread::get_id();
            answer = std::move(response);
        });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!answer && std::chrono::steady_clock::now() < deadline) threads.reactor(0).run_once(false);
        BOOST_REQUIRE(answer.has_value());
        BOOST_CHECK(answered_on == std::this_thread::get_id());  // answers come back to the home thread
        return *answer;
    }
    runtime::ReactorThreads threads;
    std::vector<FakeHandler> handlers;
    std::unique_ptr<daemon::ClientRouter> router;
};

}  // namespace

BOOST_AUTO_TEST_CASE(new_sessions_spread_over_the_reactors_and_stay_on_theirs) {
    Fixture f(3);
    for (const char* name : {"a", "b", "c", "d"}) {
        BOOST_CHECK(f.call({{"cmd", "map"}, {"session", name}, {"device", "vol0"}})["ok"]);
    }
    BOOST_CHECK_EQUAL(*f.router->reactor_of("a"), 0u);
    BOOST_CHECK_EQUAL(*f.router->reactor_of("b"), 1u);
    BOOST_CHECK_EQUAL(*f.router->reactor_of("c"), 2u);
    BOOST_CHECK_EQUAL(*f.router->reactor_of("d"), 0u);  // the least loaded again
    // A second device of session b goes where b lives.
    BOOST_CHECK(f.call({{"cmd", "map"}, {"session", "b"}, {"device", "vol0"}})["ok"]);
    BOOST_CHECK_EQUAL(*f.router->reactor_of("b"), 1u);
    BOOST_CHECK_EQUAL(f.call({{"cmd", "stats"}, {"session", "c"}})["session"], "c");
    f.threads.stop();
    BOOST_CHECK_EQUAL(f.handlers[1].sessions.size(), 2u);
    BOOST_CHECK_EQUAL(f.handlers[2].sessions.size(), 1u);
}

BOOST_AUTO_TEST_CASE(each_route_runs_on_its_own_reactor_thread) {
    Fixture f(3);
    for (const char* name : {"a", "b", "c"}) (void)f.call({{"cmd", "map"}, {"session", name}, {"device", "vol0"}});
    f.threads.stop();
    std::set<std::thread::id> all;
    for (auto& handler : f.handlers) {
        BOOST_REQUIRE_EQUAL(handler.threads.size(), 1u);
        all.insert(*handler.threads.begin());
    }
    BOOST_CHECK_EQUAL(all.size(), 3u);
    BOOST_CHECK(*f.handlers[0].threads.begin() == std::this_thread::get_id());  // reactor 0 is the caller's
}

BOOST_AUTO_TEST_CASE(list_merges_every_reactor_and_names_it) {
    Fixture f(2);
    for (const char* name : {"a", "b", "c"}) (void)f.call({{"cmd", "map"}, {"session", name}, {"device", "vol0"}});
    const Json listed = f.call({{"cmd", "list"}});
    BOOST_REQUIRE(listed["ok"]);
    BOOST_REQUIRE_EQUAL(listed["devices"].size(), 3u);
    std::map<std::string, std::size_t> reactor_of;
    for (const auto& device : listed["devices"]) {
        reactor_of[device["session"].get<std::string>()] = device["reactor"].get<std::size_t>();
    }
    BOOST_CHECK_EQUAL(reactor_of["a"], 0u);
    BOOST_CHECK_EQUAL(reactor_of["b"], 1u);
    BOOST_CHECK_EQUAL(reactor_of["c"], 0u);
}

BOOST_AUTO_TEST_CASE(a_command_for_an_unknown_session_is_refused) {
    Fixture f(2);
    const Json answer = f.call({{"cmd", "stats"}, {"session", "nope"}});
    BOOST_CHECK(!answer["ok"]);
    BOOST_CHECK_EQUAL(answer["errno"], ENOENT);
}

BOOST_AUTO_TEST_CASE(a_stopped_reactor_refuses_with_a_clear_error) {
    Fixture f(2);
    f.threads.reactor(1).stop();  // its queue now refuses tasks (-ESHUTDOWN)
    const Json answer = f.call({{"cmd", "map"}, {"session", "a"}, {"device", "vol0"}});
    const Json second = f.call({{"cmd", "map"}, {"session", "b"}, {"device", "vol0"}});  // placed on reactor 1
    BOOST_CHECK(answer["ok"]);
    BOOST_CHECK(!second["ok"]);
    BOOST_CHECK_EQUAL(second["errno"], ESHUTDOWN);
    BOOST_CHECK(second["error"].get<std::string>().find("reactor 1") != std::string::npos);
}
