#include "sim-scenarios/runner/batch.hpp"

#include <chrono>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fmt/core.h>

#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/report.hpp"
#include "sim-scenarios/runner/runner.hpp"
#include "sim-scenarios/runner/scenario_writer.hpp"
#include "sim-scenarios/runner/shrink.hpp"
#include "sim-scenarios/runner/swarm.hpp"

namespace ibnbd::scenario {

namespace {

bool parse_u64(std::string_view text, std::uint64_t& out) {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && ptr == text.data() + text.size();
}

// The wall clock, for progress lines only: nothing in a run depends on it.
using WallClock = std::chrono::steady_clock;

struct Job {
    std::string given;   // the file as the user named it
    Scenario scenario;
    bool swarm = false;
};

std::string numbered(const std::string& path, const std::string& scenario, std::uint64_t seed, bool single) {
    if (single) return path;
    const std::filesystem::path p(path);
    return (p.parent_path() / fmt::format("{}-{}-{}{}", p.stem().string(), scenario, seed, p.extension().string())).string();
}

class Batch {
public:
    explicit Batch(const BatchOptions& options) : o_(options), text_(options.json ? options.err : options.out) {}

    Expected<BatchSummary, std::vector<std::string>> run() {
        std::vector<std::string> errors;
        for (const auto& given : o_.files) load(given, errors);
        if (!errors.empty()) return unexpected(std::move(errors));
        const std::uint64_t total = jobs_.size() * o_.seeds.count();
        started_ = last_progress_ = WallClock::now();
        for (const Job& job : jobs_) {
            for (std::uint64_t seed = o_.seeds.first; seed <= o_.seeds.last; ++seed) {
                one(job, seed, total == 1);
                progress(total);
                if (seed == o_.seeds.last) break;  // the range may end at UINT64_MAX
            }
        }
        finish();
        return summary_;
    }

private:
    void load(const std::string& given, std::vector<std::string>& errors) {
        auto parsed = parse_scenario_file(resolve_scenario(given));
        if (!parsed) {
            for (const auto& message : parsed.error()) errors.push_back(message);
            return;
        }
        Job job{given, std::move(parsed.value()), o_.swarm};
        if (!job.scenario.swarm && job.swarm) {
            errors.push_back(fmt::format("{}: --swarm needs a 'swarm' section in the file", given));
            return;
        }
        if (job.scenario.swarm && job.scenario.topology.servers.empty()) job.swarm = true;
        jobs_.push_back(std::move(job));
    }

    std::string replay(const Job& job, std::uint64_t seed) const {
        return fmt::format("ibtrs-sim run {} --seed {}{} -v --trace {}-{}.json", job.given, seed,
                           job.swarm ? " --swarm" : "", job.scenario.name, seed);
    }

    void one(const Job& job, std::uint64_t seed, bool single) {
        std::vector<std::string> draws;
        const Scenario scenario = job.swarm ? draw_swarm(job.scenario, seed, draws) : job.scenario;
        RunOptions options;
        options.seed = seed;
        if (!o_.trace_path.empty()) options.trace_path = numbered(o_.trace_path, scenario.name, seed, single);
        if (!o_.timeline_path.empty()) options.timeline_path = numbered(o_.timeline_path, scenario.name, seed, single);
        options.timeline_interval = o_.timeline_interval;
        const bool early = single || o_.verbosity >= 1;  // the seed and its draws before the run
        if (early) {
            fmt::print(text_, "{}{} seed {}\n", single ? "" : "\n", scenario.name, seed);
            for (const auto& line : draws) fmt::print(text_, "    {}\n", line);
            options.on_draws = [this](const std::vector<std::string>& more) {
                for (const auto& line : more) fmt::print(text_, "    {}\n", line);
                std::fflush(text_);
            };
        }
        if (o_.verbosity >= 1) options.event_log = text_;
        if (auto problems = validate(scenario); !problems.empty()) {
            // Only a swarm draw can get here: report it as a failure of the seed.
            RunResult result;
            result.scenario = scenario.name;
            result.seed = seed;
            result.failures = std::move(problems);
            return report(job, scenario, std::move(result), draws, single, early);
        }
        RunResult result = run_scenario(scenario, options);
        if (o_.check_determinism) {
            RunOptions again;
            again.seed = seed;
            const RunResult second = run_scenario(scenario, again);
            if (second.digest != result.digest || second.ios != result.ios) {
                result.failures.push_back(fmt::format("determinism: the same seed gave trace digests {:016x} and "
                                                      "{:016x} ({} and {} IOs)", result.digest, second.digest,
                                                      result.ios, second.ios));
                result.passed = false;
            }
        }
        for (auto& line : result.draws) draws.push_back(line);
        result.draws = draws;
        report(job, scenario, std::move(result), draws, single, early);
        if (!single) return;
        if (!options.trace_path.empty()) {
            fmt::print(text_, "perfetto trace: {} (open it in https://ui.perfetto.dev)\n", options.trace_path);
        }
        if (!options.timeline_path.empty()) fmt::print(text_, "timeline (CSV): {}\n", options.timeline_path);
    }

    void report(const Job& job, const Scenario& scenario, RunResult result, const std::vector<std::string>& draws,
                bool single, bool draws_printed) {
        ++summary_.runs;
        summary_.ios += result.ios;
        const bool failed = !result.failures.empty();
        if (failed) {
            ++summary_.failed;
            summary_.replay.push_back(replay(job, result.seed));
        }
        if (o_.json) {
            result.draws = draws;
            fmt::print(o_.out, "{}\n", to_json(result).dump());
        }
        if (single) {
            print_report(text_, scenario, result);
            if (failed) fmt::print(text_, "replay: {}\n", replay(job, result.seed));
            return;
        }
        if (o_.quiet && !failed) return;
        fmt::print(text_, "{:<28} {}\n", scenario.name, summary_line(result));
        if (!draws_printed) {
            for (const auto& line : draws) fmt::print(text_, "    {}\n", line);
        }
        if (!failed) return;
        for (const auto& failure : result.failures) fmt::print(text_, "    FAILED: {}\n", failure);
        fmt::print(text_, "    replay: {}\n", replay(job, result.seed));
        std::fflush(text_);
    }

    void progress(std::uint64_t total) {
        if (o_.progress_every_ms == 0 || total < 2) return;
        const auto now = WallClock::now();
        if (now - last_progress_ < std::chrono::milliseconds(o_.progress_every_ms)) return;
        last_progress_ = now;
        const double seconds = std::chrono::duration<double>(now - started_).count();
        fmt::print(o_.err, "[progress] {}/{} runs, {} failed, {:.1f} runs/s, {:.2f}M simulated IOs/s, {:.0f}s elapsed\n",
                   summary_.runs, total, summary_.failed, static_cast<double>(summary_.runs) / seconds,
                   static_cast<double>(summary_.ios) / seconds / 1e6, seconds);
        std::fflush(o_.err);
    }

    void finish() {
        const double seconds = std::chrono::duration<double>(WallClock::now() - started_).count();
        if (summary_.runs > 1) {
            fmt::print(text_, "\nibtrs-sim: {} runs ({} scenario{} x {} seeds), {} failed, {} IOs, {:.1f}s\n",
                       summary_.runs, jobs_.size(), jobs_.size() == 1 ? "" : "s", o_.seeds.count(), summary_.failed,
                       summary_.ios, seconds);
            for (const auto& command : summary_.replay) fmt::print(text_, "  replay: {}\n", command);
        }
    }

    const BatchOptions& o_;
    std::FILE* text_;
    std::vector<Job> jobs_;
    BatchSummary summary_;
    WallClock::time_point started_, last_progress_;
};

}  // namespace

Expected<SeedRange, std::string> parse_seed_range(const std::string& text) {
    const auto dots = text.find("..");
    SeedRange range;
    if (dots == std::string::npos) {
        if (!parse_u64(text, range.last) || range.last == 0) {
            return unexpected(fmt::format("'{}' is not a seed count (N) or range (FIRST..LAST)", text));
        }
        range.first = 1;
        return range;
    }
    if (!parse_u64(std::string_view(text).substr(0, dots), range.first) ||
        !parse_u64(std::string_view(text).substr(dots + 2), range.last) || range.first > range.last) {
        return unexpected(fmt::format("'{}' is not a seed range FIRST..LAST with FIRST <= LAST", text));
    }
    return range;
}

Expected<BatchSummary, std::vector<std::string>> run_batch(const BatchOptions& options) { return Batch(options).run(); }

namespace {

// The written file must parse back to `scenario` and, with the seed, fail with `kind`.
std::string check_written(const std::string& text, const Scenario& scenario, std::uint64_t seed, const std::string& kind) {
    auto parsed = parse_scenario_text(text, "shrunk.yaml");
    if (!parsed) return "the written file does not parse: " + parsed.error().front();
    if (!(without_source(parsed.value()) == without_source(scenario))) return "the written file reads back differently";
    RunOptions options;
    options.seed = seed;
    const RunResult again = run_scenario(parsed.value(), options);
    for (const auto& failure : again.failures) {
        if (failure_kind(failure) == kind) return "";
    }
    return "the written file does not fail the same way when replayed";
}

}  // namespace

int run_shrink_command(const ShrinkCommand& command) {
    auto parsed = parse_scenario_file(resolve_scenario(command.file));
    if (!parsed) {
        for (const auto& message : parsed.error()) fmt::print(command.err, "{}\n", message);
        return 2;
    }
    const Scenario& base = parsed.value();
    const bool swarm = command.swarm || (base.swarm && base.topology.servers.empty());
    if (swarm && !base.swarm) {
        fmt::print(command.err, "{}: --swarm needs a 'swarm' section in the file\n", command.file);
        return 2;
    }
    std::vector<std::string> draws;
    const Scenario original = swarm ? draw_swarm(base, command.seed, draws) : base;
    ShrinkOptions options;
    options.seed = command.seed;
    options.max_runs = command.max_runs;
    options.progress = [&](const std::string& line) {
        fmt::print(command.err, "{}\n", line);
        std::fflush(command.err);
    };
    const ShrinkResult shrunk = shrink(original, options);
    if (!shrunk.failed) {
        fmt::print(command.err, "shrink: seed {} of {} passes: nothing to shrink\n", command.seed, command.file);
        return 0;
    }
    const std::string given = fmt::format("ibtrs-sim run {}{} --seed {} --shrink", command.file, swarm ? " --swarm" : "", command.seed);
    std::vector<std::string> comments{
        fmt::format("Shrunk by `{}` ({} runs{}).", given, shrunk.runs, shrunk.budget_exhausted ? ", budget spent" : ""),
        fmt::format("From {}", scenario_size(original)),
        fmt::format("  to {}.", scenario_size(shrunk.scenario)),
        fmt::format("Fails with ({}): {}", shrunk.kind, shrunk.result.failures.front()),
        fmt::format("Replay: ibtrs-sim run {} --seed {}", command.out_path.empty() ? "FILE" : command.out_path, command.seed),
    };
    Scenario written = shrunk.scenario;
    written.name = fmt::format("{}-{}-shrunk", original.name, command.seed);
    written.description = fmt::format("{} seed {}, shrunk: fails with {}", original.name, command.seed, shrunk.kind);
    const std::string text = write_scenario(written, comments);
    if (const std::string problem = check_written(text, written, command.seed, shrunk.kind); !problem.empty()) {
        fmt::print(command.err, "shrink: {}\n", problem);
        return 2;
    }
    std::FILE* out = command.out_path.empty() ? command.out : std::fopen(command.out_path.c_str(), "w");
    if (out == nullptr) {
        fmt::print(command.err, "shrink: cannot write {}\n", command.out_path);
        return 2;
    }
    fmt::print(out, "{}", text);
    if (out != command.out) std::fclose(out);
    fmt::print(command.err, "shrink: {} runs; {}; replayed from the written file: fails the same way{}\n", shrunk.runs,
               scenario_size(shrunk.scenario), command.out_path.empty() ? "" : " (" + command.out_path + ")");
    return 1;
}

std::string scenario_dir() {
    if (const char* env = std::getenv("IBTRS_SIM_SCENARIOS"); env && *env) return env;
    return IBNBD_SCENARIO_DIR;
}

std::string resolve_scenario(const std::string& name) {
    std::error_code ec;
    if (std::filesystem::exists(name, ec)) return name;
    for (const std::string& candidate : {scenario_dir() + "/" + name, scenario_dir() + "/" + name + ".yaml"}) {
        if (std::filesystem::exists(candidate, ec)) return candidate;
    }
    return name;
}

}  // namespace ibnbd::scenario
