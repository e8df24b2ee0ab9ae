// Writing scenarios back as files (exact round trip) and shrinking a failing run to a smaller
// scenario that fails the same way.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "sim-scenarios/runner/batch.hpp"
#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/scenario_writer.hpp"
#include "sim-scenarios/runner/shrink.hpp"
#include "sim-scenarios/runner/swarm.hpp"
#include "sim-scenarios/runner/usable_path_oracle.hpp"

using namespace ibnbd::scenario;

namespace {

Scenario load_file(const std::string& name) {
    auto parsed = parse_scenario_file(resolve_scenario(name));
    BOOST_REQUIRE_MESSAGE(parsed.has_value(), name << ": " << (parsed ? "" : parsed.error().front()));
    return std::move(parsed.value());
}

// Writes `scenario`, parses it back and checks that nothing changed, part by part.
void expect_round_trip(const Scenario& scenario, const std::string& what) {
    const std::string text = write_scenario(scenario, {"a comment", ""});
    auto parsed = parse_scenario_text(text, "written.yaml");
    BOOST_REQUIRE_MESSAGE(parsed.has_value(), what << ": " << (parsed ? "" : parsed.error().front()) << "\n" << text);
    Scenario original = without_source(scenario);
    original.swarm.reset();  // not written
    const Scenario back = without_source(parsed.value());
    BOOST_TEST((back.topology == original.topology), what << ": topology\n" << text);
    BOOST_TEST((back.settings == original.settings), what << ": settings\n" << text);
    BOOST_TEST((back.workloads == original.workloads), what << ": workloads\n" << text);
    BOOST_TEST((back.faults == original.faults), what << ": faults\n" << text);
    BOOST_TEST((back.expect == original.expect), what << ": expectations\n" << text);
    BOOST_TEST((back == original), what << "\n" << text);
}

bool fails_with(const RunResult& result, const std::string& kind) {
    for (const auto& failure : result.failures) {
        if (failure_kind(failure) == kind) return true;
    }
    return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(values_are_written_in_exact_forms) {
    BOOST_TEST(exact_duration(0) == "0");
    BOOST_TEST(exact_duration(1'500'000) == "1500us");
    BOOST_TEST(exact_duration(2'000'000'000) == "2s");
    BOOST_TEST(exact_duration(1'234'567) == "1234567ns");
    BOOST_TEST(exact_bandwidth(0) == "inf");
    BOOST_TEST(exact_bandwidth(1'250'000'000) == "10Gbit");
    BOOST_TEST(exact_bandwidth(1'000'001) == "1000001B/s");
    BOOST_TEST(exact_percent(12.5) == "12.5");
    BOOST_TEST(*parse_percent(exact_percent(0.00001)) == 0.00001);
    for (double p : {0.1, 42.13, 99.9999, 1.0 / 3}) BOOST_TEST(*parse_percent(exact_percent(p)) == p);
}

BOOST_AUTO_TEST_CASE(every_shipped_scenario_reads_back_the_same_after_writing) {
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(scenario_dir())) {
        if (entry.path().extension() != ".yaml") continue;
        const Scenario scenario = load_file(entry.path().string());
        if (scenario.topology.servers.empty()) continue;  // swarm only
        expect_round_trip(scenario, entry.path().filename().string());
        ++files;
    }
    BOOST_TEST(files >= 15u);
}

BOOST_AUTO_TEST_CASE(swarm_draws_read_back_the_same_after_writing) {
    const Scenario base = load_file("swarm");
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        std::vector<std::string> draws;
        expect_round_trip(draw_swarm(base, seed, draws), "swarm seed " + std::to_string(seed));
    }
}

BOOST_AUTO_TEST_CASE(failure_kinds_ignore_the_details_of_the_run) {
    BOOST_TEST(failure_kind("oracle: c0:s0/vol0: read of 4096 bytes at offset 0: sector 3 (byte 1536) is stale") == "data");
    BOOST_TEST(failure_kind(std::string(kUsablePathViolation) + " c0:s0/vol0 read failed with ETIMEDOUT at 1s") ==
               "usable path: ETIMEDOUT");
    BOOST_TEST(failure_kind("expectation: 5 IO errors, at most 0 expected") == "expectation: IO errors");
    BOOST_TEST(failure_kind("liveness: the workload did not finish within 1ms") == "liveness");
    BOOST_TEST(failure_kind("leak: session c-s: 3 permits still in use") == "leak");
}

BOOST_AUTO_TEST_CASE(shrinking_keeps_the_failure_and_drops_the_rest) {
    // The deliberately broken build (failover without the drain) on swizzle-clog: the data
    // oracle catches it on some seed; shrinking must keep a data failure with less around it.
    Scenario scenario = load_file("swizzle-clog");
    scenario.settings.unsafe_failover_without_drain = true;
    std::uint64_t seed = 0;
    for (std::uint64_t s = 1; s <= 6 && seed == 0; ++s) {
        RunOptions options;
        options.seed = s;
        if (fails_with(run_scenario(scenario, options), "data")) seed = s;
    }
    BOOST_REQUIRE_MESSAGE(seed != 0, "no seed of 1..6 caught the failover without drain");
    ShrinkOptions options;
    options.seed = seed;
    options.max_runs = 40;
    const ShrinkResult shrunk = shrink(scenario, options);
    BOOST_TEST(shrunk.failed);
    BOOST_TEST(shrunk.kind == "data");
    BOOST_TEST(shrunk.runs <= 40u);
    BOOST_TEST(fails_with(shrunk.result, "data"));
    const auto ios = [](const Scenario& s) {
        std::uint64_t total = 0;
        for (const auto& w : s.workloads) total += w.ios + w.duration;
        return total;
    };
    const auto paths = [](const Scenario& s) {
        std::size_t total = 0;
        for (const auto& client : s.topology.clients) {
            for (const auto& session : client.sessions) total += session.paths.size();
        }
        return total;
    };
    const auto depth = [](const Scenario& s) {
        std::uint64_t total = 0;
        for (const auto& w : s.workloads) total += w.queue_depth;
        return total;
    };
    BOOST_TEST((shrunk.scenario.faults.size() < scenario.faults.size() || ios(shrunk.scenario) < ios(scenario) ||
                shrunk.scenario.workloads.size() < scenario.workloads.size() ||
                paths(shrunk.scenario) < paths(scenario) || depth(shrunk.scenario) < depth(scenario)));
    // The written file reads back and, with the same seed, fails the same way.
    auto parsed = parse_scenario_text(write_scenario(shrunk.scenario), "shrunk.yaml");
    BOOST_REQUIRE(parsed.has_value());
    RunOptions replay;
    replay.seed = seed;
    BOOST_TEST(fails_with(run_scenario(parsed.value(), replay), "data"));
}

BOOST_AUTO_TEST_CASE(a_passing_seed_has_nothing_to_shrink) {
    ShrinkOptions options;
    options.seed = 1;
    options.max_runs = 5;
    const ShrinkResult result = shrink(load_file("failover-round-robin"), options);
    BOOST_TEST(!result.failed);
    BOOST_TEST(result.runs == 1u);
}

BOOST_AUTO_TEST_CASE(the_shrink_command_writes_a_file_that_replays_the_failure) {
    const auto dir = std::filesystem::temp_directory_path() / "ibtrs-sim-shrink";
    std::filesystem::create_directories(dir);
    const std::string broken = (dir / "broken.yaml").string(), out = (dir / "shrunk.yaml").string();
    {
        std::ifstream in(resolve_scenario("swizzle-clog"));
        std::ofstream(broken) << in.rdbuf() << "hidden: {unsafe_failover_without_drain: true}\n";
    }
    std::FILE* sink = std::tmpfile();
    ShrinkCommand command;
    command.file = broken;
    command.seed = 2;
    command.max_runs = 12;
    command.out_path = out;
    command.out = command.err = sink;
    BOOST_TEST(run_shrink_command(command) == 1);
    const auto parsed = parse_scenario_file(out);
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST(parsed->settings.unsafe_failover_without_drain);
    std::ifstream written(out);
    std::string first_line;
    std::getline(written, first_line);
    BOOST_TEST(first_line.find("--seed 2 --shrink") != std::string::npos);
    command.file = "failover-round-robin";  // passes: nothing to shrink
    BOOST_TEST(run_shrink_command(command) == 0);
    std::fclose(sink);
    std::filesystem::remove_all(dir);
}
