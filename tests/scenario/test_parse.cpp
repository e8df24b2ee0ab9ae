#define BOOST_TEST_MODULE scenario_runner
// Scenario files: units, strict parsing (file, line and key in every error), validation, and
// every shipped scenario file.
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "core/log.hpp"
#include "sim-scenarios/runner/batch.hpp"
#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/path_selector.hpp"

using namespace ibnbd::scenario;

namespace {

// The rogue client and the faults make the core log warnings; the assertions say what matters.
struct QuietLogs {
    QuietLogs() { ibnbd::log().set_level(spdlog::level::off); }
};
BOOST_TEST_GLOBAL_FIXTURE(QuietLogs);

const char* kMinimal = R"(
topology:
  servers:
    - name: server
      devices:
        - {name: vol0, size: 4MiB}
  clients:
    - name: client
      sessions:
        - server: server
          paths: 2
          devices: [vol0]
workload:
  - {device: vol0, ios: 100}
)";

// The single error of parsing `text`, which must fail.
std::string only_error(const std::string& text) {
    const auto parsed = parse_scenario_text(text, "t.yaml");
    BOOST_REQUIRE(!parsed.has_value());
    BOOST_REQUIRE_EQUAL(parsed.error().size(), 1u);
    return parsed.error().front();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(units_parse_strictly) {
    BOOST_TEST(*parse_duration("250us") == 250'000u);
    BOOST_TEST(*parse_duration("1.5ms") == 1'500'000u);
    BOOST_TEST(*parse_duration("2s") == 2'000'000'000u);
    BOOST_TEST(*parse_duration("0") == 0u);
    BOOST_TEST(!parse_duration("10").has_value());  // a unit is required
    BOOST_TEST(!parse_duration("10 parsecs").has_value());
    BOOST_TEST(!parse_duration("-1ms").has_value());
    BOOST_TEST(*parse_size("4KiB") == 4096u);
    BOOST_TEST(*parse_size("64MiB") == 64u << 20);
    BOOST_TEST(*parse_size("512") == 512u);
    BOOST_TEST(!parse_size("1.3KiB").has_value());  // not a whole number of bytes
    BOOST_TEST(*parse_bandwidth("10Gbit") == 1'250'000'000u);
    BOOST_TEST(*parse_bandwidth("1GB/s") == 1'000'000'000u);
    BOOST_TEST(*parse_bandwidth("inf") == 0u);
    BOOST_TEST(!parse_bandwidth("fast").has_value());
    BOOST_TEST(*parse_percent("12.5%") == 12.5);
    BOOST_TEST(!parse_percent("101").has_value());
    BOOST_TEST(format_duration(284'105'000) == "284ms");
    BOOST_TEST(format_duration(2'480'000) == "2.48ms");
    BOOST_TEST(format_size(64u << 20) == "64MiB");
}

BOOST_AUTO_TEST_CASE(a_minimal_scenario_gets_its_defaults) {
    const auto parsed = parse_scenario_text(kMinimal, "dir/minimal.yaml");
    BOOST_REQUIRE(parsed.has_value());
    const Scenario& s = parsed.value();
    BOOST_TEST(s.name == "minimal");
    BOOST_TEST(s.topology.clients[0].sessions[0].label == "server");
    BOOST_TEST(s.topology.clients[0].sessions[0].paths.size() == 2u);
    BOOST_TEST(s.workloads[0].ios == 100u);
    BOOST_TEST(s.expect.max_io_errors.value() == 0u);
    BOOST_TEST(s.settings.queue_depth == 128u);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_errors_with_file_line_and_key) {
    std::string text = kMinimal;
    text += "settings:\n  queue_depth: 32\n  polcy: round-robin\n";
    const std::string error = only_error(text);
    BOOST_TEST(contains(error, "t.yaml:17: settings.polcy: unknown key"), error);
}

BOOST_AUTO_TEST_CASE(bad_values_are_errors_with_file_line_and_key) {
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "settings:\n  policy: fastest\n"),
                        "t.yaml:16: settings.policy: 'fastest' is not a policy"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "settings:\n  heartbeat: {interval: 10}\n"),
                        "t.yaml:16: settings.heartbeat.interval: '10' is not a duration"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "settings:\n  queue_depth: 70000\n"),
                        "settings.queue_depth: '70000' is not an integer in [1, 65535]"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "expect:\n  max_io_errors: lots\n"),
                        "t.yaml:16: expect.max_io_errors: 'lots' is not a count or 'any'"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "faults:\n  - {at: 1ms, fault: meteor}\n"),
                        "t.yaml:16: faults[0].fault: 'meteor' is not a fault type"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "faults:\n  - {at: 1ms, fault: clog, path: '*', duration: 1ms}\n"),
                        "faults[0].delay: a clog fault needs 'delay'"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "faults:\n  - {at: 1ms, fault: crash, server: server, color: red, duration: 1ms}\n"),
                        "faults[0].color: unknown key"));
}

BOOST_AUTO_TEST_CASE(a_bandwidth_that_rounds_to_zero_is_an_error_not_unlimited) {
    // 0 and inf mean no limit; anything else must be at least 1 byte/s, or a typo would turn a
    // slow link into an infinitely fast one.
    BOOST_TEST(!parse_bandwidth("1bit").has_value());
    BOOST_TEST(!parse_bandwidth("0.1B/s").has_value());
    BOOST_TEST(!parse_bandwidth("0Gbit").has_value());
    BOOST_TEST(*parse_bandwidth("8bit") == 1u);
    BOOST_TEST(*parse_bandwidth("0") == 0u);
    std::string text = kMinimal;
    text.replace(text.find("paths: 2"), 8, "paths: 2\n          link: {bandwidth: 1bit}");
    const std::string error = only_error(text);
    BOOST_TEST(contains(error, "t.yaml:12: topology.clients[0].sessions[0].link.bandwidth: '1bit' is not"), error);
    BOOST_TEST(contains(error, "at least 1 B/s"), error);
}

BOOST_AUTO_TEST_CASE(a_duplicated_key_is_an_error_naming_the_key_and_both_lines) {
    const std::string error = only_error(std::string(kMinimal) + "settings:\n  queue_depth: 32\n  queue_depth: 64\n");
    BOOST_TEST(contains(error, "t.yaml:17: settings.queue_depth: duplicated key (first at line 16)"), error);
    // Anywhere in the file, also in mappings of values such as block-size weights.
    std::string weights = kMinimal;
    weights.replace(weights.find("ios: 100}"), 9, "ios: 100, block_sizes: {4KiB: 1, 4KiB: 3}}");
    BOOST_TEST(contains(only_error(weights), "workload[0].block_sizes.4KiB: duplicated key"), only_error(weights));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "workload:\n  - {device: vol0, ios: 1}\n"),
                        "t.yaml:15: workload: duplicated key (first at line 13)"));
}

BOOST_AUTO_TEST_CASE(syntax_errors_name_the_line) {
    const std::string error = only_error("topology:\n  servers: [\n");
    BOOST_TEST(contains(error, "t.yaml:"), error);
    BOOST_TEST(contains(error, "(syntax)"), error);
}

BOOST_AUTO_TEST_CASE(references_are_checked) {
    std::string text = kMinimal;
    text.replace(text.find("server: server"), 14, "server: nosuch");
    BOOST_TEST(contains(only_error(text), "no server 'nosuch'"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "faults:\n  - {at: 1ms, fault: link_down, path: client/7, duration: 1ms}\n"),
                        "path 'client/7' matches no path"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "faults:\n  - {at: 1ms, fault: link_down, path: client/0}\n"),
                        "needs a duration"));
    BOOST_TEST(contains(only_error(std::string(kMinimal) + "faults:\n  - {at: 1ms, fault: storage_error, device: server/vol9, duration: 1ms}\n"),
                        "device 'server/vol9' is not SERVER/DEVICE"));
    std::string two = kMinimal;
    two += "  - {device: vol0, ios: 5}\n";
    BOOST_TEST(contains(only_error(two), "two workloads drive client:server/vol0"));
}

BOOST_AUTO_TEST_CASE(counted_clients_and_devices_expand) {
    const auto parsed = parse_scenario_text(R"(
topology:
  servers:
    - name: s
      devices:
        - {name: "vol{i}", count: 3}
  clients:
    - name: c
      count: 3
      sessions:
        - {server: s, paths: 2, devices: ["vol{i}"]}
)", "t.yaml");
    BOOST_REQUIRE(parsed.has_value());
    const Topology& t = parsed->topology;
    BOOST_TEST(t.servers[0].devices[2].name == "vol2");
    BOOST_TEST(t.clients[2].name == "c2");
    BOOST_TEST(t.clients[2].sessions[0].devices[0] == "vol2");
    BOOST_TEST(select_paths(t, "*").size() == 6u);
    BOOST_TEST(select_paths(t, "c1").size() == 2u);
    BOOST_TEST(select_paths(t, "c1/1").size() == 1u);
    BOOST_TEST(select_paths(t, "*/s/0").size() == 3u);
    BOOST_TEST(path_name(t, select_paths(t, "c1/1").front()) == "c1/s/1");
}

BOOST_AUTO_TEST_CASE(seed_ranges) {
    BOOST_TEST(parse_seed_range("50")->first == 1u);
    BOOST_TEST(parse_seed_range("50")->last == 50u);
    BOOST_TEST(parse_seed_range("7..9")->count() == 3u);
    BOOST_TEST(!parse_seed_range("9..7").has_value());
    BOOST_TEST(!parse_seed_range("0").has_value());
    BOOST_TEST(!parse_seed_range("x").has_value());
}

BOOST_AUTO_TEST_CASE(every_shipped_scenario_parses) {
    std::size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(scenario_dir())) {
        if (entry.path().extension() != ".yaml") continue;
        const auto parsed = parse_scenario_file(entry.path().string());
        BOOST_TEST(parsed.has_value(), entry.path() << ": " << (parsed ? "" : parsed.error().front()));
        ++count;
    }
    BOOST_TEST(count >= 14u);  // 12 issue scenarios (some in several variants), showcase, swarm
}
