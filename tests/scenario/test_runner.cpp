// Whole runs: determinism, the oracles catching a deliberately broken build, expectations and
// liveness failing when they should, trace and timeline output, swarm draws, batches.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "sim-scenarios/runner/batch.hpp"
#include "sim-scenarios/runner/fault_plan.hpp"
#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/runner.hpp"
#include "sim-scenarios/runner/swarm.hpp"

using namespace ibnbd::scenario;

namespace {

Scenario load(const std::string& name) {
    auto parsed = parse_scenario_file(resolve_scenario(name));
    BOOST_REQUIRE_MESSAGE(parsed.has_value(), name << ": " << (parsed ? "" : parsed.error().front()));
    return std::move(parsed.value());
}

Scenario from_text(const std::string& text) {
    auto parsed = parse_scenario_text(text, "inline.yaml");
    BOOST_REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().front()));
    return std::move(parsed.value());
}

RunResult run(const Scenario& scenario, std::uint64_t seed) {
    RunOptions options;
    options.seed = seed;
    return run_scenario(scenario, options);
}

bool has_failure(const RunResult& result, const std::string& prefix) {
    for (const auto& failure : result.failures) {
        if (failure.rfind(prefix, 0) == 0) return true;
    }
    return false;
}

const char* kSmall = R"(
topology:
  servers:
    - name: server
      devices: [{name: vol0, size: 4MiB, latency: 30us, jitter: 10us}]
  clients:
    - name: client
      sessions: [{server: server, paths: 2, devices: [vol0]}]
settings:
  heartbeat: {interval: 10ms, missed_max: 3}
  reconnect: {delay: 10ms, max_delay: 40ms, jitter: 5ms}
  network: {transport_timeout: 15ms, retransmit_interval: 2ms, cm_timeout: 50ms}
workload:
  - {device: vol0, queue_depth: 8, duration: 120ms, read_percent: 50, flush_percent: 1, fua_percent: 5, region: 1MiB}
faults:
  - {at: 20ms, fault: link_down, path: client/0, duration: 40ms}
)";

}  // namespace

BOOST_AUTO_TEST_CASE(a_run_is_a_pure_function_of_scenario_and_seed) {
    const Scenario scenario = from_text(kSmall);
    const RunResult first = run(scenario, 11);
    const RunResult again = run(scenario, 11);
    const RunResult other = run(scenario, 12);
    BOOST_TEST(first.passed, (first.failures.empty() ? "" : first.failures.front()));
    BOOST_TEST(first.failovers >= 1u);
    BOOST_TEST(first.ios > 1000u);
    BOOST_TEST(first.digest == again.digest);
    BOOST_TEST(first.ios == again.ios);
    BOOST_TEST(first.draws == again.draws);
    BOOST_TEST(first.latency.quantile(0.99) == again.latency.quantile(0.99));
    BOOST_TEST(first.digest != other.digest);
}

namespace {

void expect_drain_bug_caught(const std::string& name) {
    Scenario scenario = load(name);
    std::size_t caught = 0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const RunResult safe = run(scenario, seed);
        BOOST_TEST(safe.passed, "seed " << seed << ": " << (safe.failures.empty() ? "" : safe.failures.front()));
    }
    scenario.settings.unsafe_failover_without_drain = true;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const RunResult broken = run(scenario, seed);
        if (has_failure(broken, "oracle:")) ++caught;
    }
    BOOST_TEST(caught >= 1u, name << ": the oracles missed the failover without drain");
}

}  // namespace

BOOST_AUTO_TEST_CASE(failover_without_the_drain_step_is_caught) {
    // The deliberately broken build: requests of a failed path are re-issued at once instead of
    // after its connections drained. swizzle-clog passes with the drain and must fail without it
    // (an old write, delayed on a clogged link, lands after newer ones). The sharded variant runs
    // three IO shards, each re-issuing its own requests.
    expect_drain_bug_caught("swizzle-clog");
    expect_drain_bug_caught("sharded-swizzle-clog");
}

BOOST_AUTO_TEST_CASE(expectations_that_do_not_hold_fail_the_run) {
    std::string text = kSmall;
    text += "expect:\n  min_failovers: 50\n  min_remaps: 1\n  max_io_stall: 1us\n";
    const RunResult result = run(from_text(text), 1);
    BOOST_TEST(!result.passed);
    BOOST_TEST(has_failure(result, "expectation: 1 failovers, at least 50 expected"));
    BOOST_TEST(has_failure(result, "expectation: 0 remaps, at least 1 expected"));
    BOOST_TEST(has_failure(result, "expectation: IO stalled for"));
}

BOOST_AUTO_TEST_CASE(io_that_cannot_finish_before_the_deadline_fails_liveness) {
    std::string text = kSmall;
    text += "expect:\n  liveness_deadline: 1ms\n";
    const RunResult result = run(from_text(text), 1);
    BOOST_TEST(!result.passed);
    BOOST_TEST(has_failure(result, "liveness: the workload did not finish within 1ms after the last fault"));
}

BOOST_AUTO_TEST_CASE(errors_on_a_session_with_an_untouched_path_fail_the_run) {
    // Every IO of the first 30ms fails at the storage, but storage errors are expected only
    // where the fault plan put them: as a storage fault, they pass ...
    std::string text = kSmall;
    text += "  - {at: 0ms, fault: storage_error, device: server/vol0, op: write, count: 5, duration: 30ms}\n";
    text += "expect:\n  max_io_errors: 5\n";
    const RunResult allowed = run(from_text(text), 1);
    BOOST_TEST(allowed.passed, (allowed.failures.empty() ? "" : allowed.failures.front()));
    BOOST_TEST(allowed.errors == 5u);
    // ... while a limit of zero errors is enforced.
    text.replace(text.find("max_io_errors: 5"), 16, "max_io_errors: 0");
    const RunResult strict = run(from_text(text), 1);
    BOOST_TEST(has_failure(strict, "expectation: 5 IO errors, at most 0 expected"));
}

BOOST_AUTO_TEST_CASE(trace_and_timeline_are_written) {
    const auto dir = std::filesystem::temp_directory_path() / "ibtrs-sim-test";
    std::filesystem::create_directories(dir);
    RunOptions options;
    options.seed = 3;
    options.trace_path = (dir / "trace.json").string();
    options.timeline_path = (dir / "timeline.csv").string();
    options.timeline_interval = 10'000'000;
    const RunResult result = run_scenario(from_text(kSmall), options);
    BOOST_TEST(result.passed);

    std::ifstream trace_file(options.trace_path);
    const nlohmann::json trace = nlohmann::json::parse(trace_file);  // throws (fails the test) if invalid
    std::map<std::string, int> phases;
    bool path_state = false, fault = false;
    for (const auto& event : trace["traceEvents"]) {
        ++phases[event["ph"].get<std::string>()];
        path_state = path_state || (event["ph"] == "X" && event["name"] == "reconnecting");
        fault = fault || (event["ph"] == "i" && event["name"].get<std::string>().find("fault: link down") == 0);
    }
    BOOST_TEST(path_state);
    BOOST_TEST(fault);
    BOOST_TEST(phases["b"] > 100);
    BOOST_TEST(phases["b"] >= phases["e"]);
    BOOST_TEST(phases["C"] > 10);
    BOOST_TEST(phases["M"] >= 4);

    std::ifstream csv(options.timeline_path);
    std::string header, row;
    std::getline(csv, header);
    BOOST_TEST(header.rfind("t_ms,reads,writes,flushes,errors,iops", 0) == 0u);
    int rows = 0;
    while (std::getline(csv, row)) ++rows;
    BOOST_TEST(rows >= 12);  // 120ms of workload in 10ms intervals
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(swizzle_clog_plans_clog_in_the_first_half_and_unclog_in_the_second) {
    const Scenario scenario = load("swizzle-clog");
    const FaultSpec& spec = scenario.faults.front();
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        const FaultPlan plan = make_fault_plan(scenario, seed);
        std::map<std::uint32_t, int> open;
        for (const Action& action : plan.actions) {
            if (action.kind == ActionKind::clog) {
                BOOST_TEST(action.at >= spec.at);
                BOOST_TEST(action.at <= spec.at + spec.duration / 2);
                ++open[action.path];
            } else if (action.kind == ActionKind::unclog) {
                BOOST_TEST(action.at >= spec.at + spec.duration / 2);
                BOOST_TEST(action.at <= spec.at + spec.duration);
                --open[action.path];
            }
        }
        BOOST_TEST(!open.empty());
        for (const auto& [path, count] : open) BOOST_TEST(count == 0);
        BOOST_TEST(plan.draws.size() == 1u);
        BOOST_TEST(make_fault_plan(scenario, seed).draws == plan.draws);
    }
}

BOOST_AUTO_TEST_CASE(swarm_draws_are_valid_deterministic_and_varied) {
    const Scenario base = load("swarm");
    std::set<std::string> topologies;
    for (std::uint64_t seed = 1; seed <= 60; ++seed) {
        std::vector<std::string> draws, again;
        const Scenario drawn = draw_swarm(base, seed, draws);
        (void)draw_swarm(base, seed, again);
        BOOST_TEST(draws == again);
        BOOST_TEST(validate(drawn).empty(), "seed " << seed << ": " << (validate(drawn).empty() ? "" : validate(drawn).front()));
        BOOST_TEST(!drawn.workloads.empty());
        topologies.insert(draws[2] + draws[3]);  // servers and the first client
    }
    BOOST_TEST(topologies.size() > 30u);
}

BOOST_AUTO_TEST_CASE(a_rogue_client_is_refused_and_harms_nobody) {
    Scenario scenario = load("rogue-client");
    scenario.faults.front().duration = 100'000'000;
    for (auto& workload : scenario.workloads) workload.duration = 100'000'000;
    const RunResult result = run(scenario, 1);
    BOOST_TEST(result.passed, (result.failures.empty() ? "" : result.failures.front()));
    BOOST_TEST(result.rogue.attacks >= 90u);
    BOOST_TEST(result.rogue.rejected > 0u);
    BOOST_TEST(result.rogue.sessions > 0u);
    BOOST_TEST(result.rogue.closed_by_server > 0u);
    BOOST_TEST(result.rogue.opens_granted == 0u);
    BOOST_TEST(result.errors == 0u);
}

BOOST_AUTO_TEST_CASE(a_batch_checks_determinism_and_reports_replay_commands) {
    std::FILE* sink = std::tmpfile();
    BatchOptions options;
    options.files = {"all-paths-down-wait"};
    options.seeds = {1, 2};
    options.check_determinism = true;
    options.quiet = true;
    options.out = options.err = sink;
    const auto summary = run_batch(options);
    BOOST_REQUIRE(summary.has_value());
    BOOST_TEST(summary->runs == 2u);
    BOOST_TEST(summary->failed == 0u);

    // A failing seed prints how to replay it.
    const auto dir = std::filesystem::temp_directory_path() / "ibtrs-sim-batch";
    std::filesystem::create_directories(dir);
    const auto file = (dir / "impossible.yaml").string();
    std::ofstream(file) << kSmall << "expect:\n  min_failovers: 99\n";
    options.files = {file};
    options.seeds = {5, 5};
    options.check_determinism = false;
    const auto failed = run_batch(options);
    BOOST_REQUIRE(failed.has_value());
    BOOST_TEST(failed->failed == 1u);
    BOOST_REQUIRE(failed->replay.size() == 1u);
    BOOST_TEST(failed->replay.front() == "ibtrs-sim run " + file + " --seed 5 -v --trace impossible-5.json");

    options.files = {(dir / "missing.yaml").string()};
    BOOST_TEST(!run_batch(options).has_value());
    std::filesystem::remove_all(dir);
    std::fclose(sink);
}
