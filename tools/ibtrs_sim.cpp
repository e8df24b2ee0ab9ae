// ibtrs-sim: reproducible, scenario-based failover testing of IBTRS/IBNBD on the deterministic
// simulator. A run is a pure function of (scenario file, seed).
//
//   ibtrs-sim run FILE... [--seed N | --seeds COUNT | --seeds FIRST..LAST] [--swarm] [--json]
//                 [--trace FILE] [--timeline FILE] [--interval DURATION] [--check-determinism]
//                 [-v] [-q]
//   ibtrs-sim run FILE --seed N [--swarm] --shrink [--shrink-out FILE] [--shrink-runs N]
//   ibtrs-sim run --swarm --seeds 100000        (the default swarm scenario)
//   ibtrs-sim list
//
// Exit status: 0 only if every expectation held on every seed; 1 if a run failed; 2 for usage
// and scenario-file errors.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>

#include "core/log.hpp"
#include "sim-scenarios/runner/batch.hpp"
#include "sim-scenarios/runner/parse.hpp"

namespace {

using namespace ibnbd::scenario;

int list_scenarios() {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(scenario_dir(), ec)) {
        if (entry.path().extension() == ".yaml") files.push_back(entry.path());
    }
    if (ec) {
        fmt::print(stderr, "ibtrs-sim: cannot read {}: {}\n", scenario_dir(), ec.message());
        return 2;
    }
    std::sort(files.begin(), files.end());
    fmt::print("scenarios in {}:\n", scenario_dir());
    int status = 0;
    for (const auto& file : files) {
        auto parsed = parse_scenario_file(file.string());
        if (!parsed) {
            fmt::print("  {:<28} INVALID: {}\n", file.stem().string(), parsed.error().front());
            status = 2;
            continue;
        }
        const Scenario& s = parsed.value();
        std::string description = s.description.substr(0, s.description.find('\n'));
        if (description.size() > 90) description = description.substr(0, 87) + "...";
        fmt::print("  {:<28} {}{}\n", s.name, s.swarm ? "[swarm] " : "", description);
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"ibtrs-sim: scenario-based failover testing of IBTRS/IBNBD on the deterministic simulator"};
    app.require_subcommand(1);

    BatchOptions options;
    std::uint64_t seed = 0;
    std::string seeds;
    std::string interval = "10ms";
    int verbosity = 0;
    CLI::App* run = app.add_subcommand("run", "run scenario files on one or many seeds");
    run->add_option("files", options.files, "scenario files (or names in the scenario directory)");
    auto* seed_option = run->add_option("--seed", seed, "run this one seed");
    run->add_option("--seeds", seeds, "COUNT (seeds 1..COUNT) or FIRST..LAST")->excludes(seed_option);
    run->add_flag("--swarm", options.swarm, "draw each seed's scenario within the file's swarm bounds");
    run->add_flag("--json", options.json, "one JSON object per run on stdout (text goes to stderr)");
    run->add_option("--trace", options.trace_path, "write a Chrome/Perfetto trace (JSON) of the run");
    run->add_option("--timeline", options.timeline_path, "write per-interval IOPS, latency and errors (CSV)");
    run->add_option("--interval", interval, "timeline interval of virtual time (default 10ms)");
    run->add_flag("--check-determinism", options.check_determinism, "run every seed twice and compare trace digests");
    run->add_flag("-v,--verbose", verbosity, "-v: event log of every run; -vv: core warnings; -vvv: core debug log");
    run->add_flag("-q,--quiet", options.quiet, "print only failures, progress and the summary");
    ShrinkCommand shrink;
    bool shrinking = false;
    run->add_flag("--shrink", shrinking, "shrink the failing --seed to a minimal scenario file (stdout or --shrink-out)");
    run->add_option("--shrink-out", shrink.out_path, "write the shrunk scenario to this file");
    run->add_option("--shrink-runs", shrink.max_runs, "at most this many runs while shrinking (default 200)");
    CLI::App* list = app.add_subcommand("list", "list the scenarios of the scenario directory");
    (void)list;
    CLI11_PARSE(app, argc, argv);

    ibnbd::log().set_level(verbosity >= 3 ? spdlog::level::debug : verbosity == 2 ? spdlog::level::warn : spdlog::level::off);
    if (app.got_subcommand("list")) return list_scenarios();

    options.verbosity = verbosity;
    if (options.files.empty()) {
        if (!options.swarm) {
            fmt::print(stderr, "ibtrs-sim run: name at least one scenario file (or use --swarm for the default swarm)\n");
            return 2;
        }
        options.files.push_back("swarm");
    }
    if (const auto parsed = parse_duration(interval); parsed && *parsed > 0) {
        options.timeline_interval = *parsed;
    } else {
        fmt::print(stderr, "ibtrs-sim run: --interval '{}' is not a positive duration\n", interval);
        return 2;
    }
    if (shrinking) {
        if (options.files.size() != 1 || !run->count("--seed")) {
            fmt::print(stderr, "ibtrs-sim run --shrink: name one scenario file (or --swarm) and one --seed\n");
            return 2;
        }
        shrink.file = options.files.front();
        shrink.swarm = options.swarm;
        shrink.seed = seed;
        return run_shrink_command(shrink);
    }
    if (!seeds.empty()) {
        auto range = parse_seed_range(seeds);
        if (!range) {
            fmt::print(stderr, "ibtrs-sim run: --seeds {}\n", range.error());
            return 2;
        }
        options.seeds = range.value();
    } else if (run->count("--seed")) {
        options.seeds = {seed, seed};
    }
    auto summary = run_batch(options);
    if (!summary) {
        for (const auto& message : summary.error()) fmt::print(stderr, "{}\n", message);
        return 2;
    }
    return summary->failed == 0 ? 0 : 1;
}
