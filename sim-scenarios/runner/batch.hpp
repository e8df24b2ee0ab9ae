// Many runs: every scenario file on every seed, with optional swarm draws, determinism checks,
// per-run and summary output, progress on long batches, and the command that replays a failure.
// This is ibtrs-sim's `run` command without the argument parsing.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "fabric/expected.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

struct SeedRange {
    std::uint64_t first = 1;
    std::uint64_t last = 1;
    std::uint64_t count() const { return last - first + 1; }
};

// "N" (seeds 1..N) or "A..B". Errors: a message.
Expected<SeedRange, std::string> parse_seed_range(const std::string& text);

struct BatchOptions {
    std::vector<std::string> files;    // as given (for the replay command) ...
    SeedRange seeds;
    bool swarm = false;                // draw each seed's scenario from the file's swarm section
    bool json = false;                 // JSON Lines on `out`, human text on `err`
    bool check_determinism = false;    // every seed twice; the trace digests must agree
    int verbosity = 0;                 // 1: event log of every run
    bool quiet = false;                // only failures, progress and the summary
    std::string trace_path;            // one run: this file; several: NAME-SCENARIO-SEED.EXT
    std::string timeline_path;
    Nanos timeline_interval = 10 * kMs;
    std::uint64_t progress_every_ms = 2000;  // wall-clock time between progress lines (0: never)
    std::FILE* out = stdout;
    std::FILE* err = stderr;
};

struct BatchSummary {
    std::uint64_t runs = 0;
    std::uint64_t failed = 0;
    std::uint64_t ios = 0;
    std::vector<std::string> replay;   // one command per failed run
};

// Runs everything; the summary says what failed. Errors: scenario files that do not parse (all
// of their messages).
Expected<BatchSummary, std::vector<std::string>> run_batch(const BatchOptions& options);

// `ibtrs-sim run FILE --seed N --shrink`: shrinks the failing run (shrink.hpp) and writes the
// result as a scenario file (scenario_writer.hpp) with a comment saying how to replay it, after
// checking that the written file parses back to the same scenario and fails the same way.
struct ShrinkCommand {
    std::string file;                  // as given
    bool swarm = false;                // draw the seed's scenario from the file's swarm section
    std::uint64_t seed = 1;
    std::uint32_t max_runs = 200;
    std::string out_path;              // empty: the scenario goes to `out`
    std::FILE* out = stdout;
    std::FILE* err = stderr;           // progress and the summary
};

// Exit status: 0 the seed passes (nothing to shrink), 1 shrunk (the file is written), 2 errors
// (the file does not parse, the output cannot be written, or the written file does not fail
// the same way).
int run_shrink_command(const ShrinkCommand& command);

// The scenario directory (IBNBD_SCENARIO_DIR, or $IBTRS_SIM_SCENARIOS when set), and the file a
// name means: an existing path, or NAME / NAME.yaml in that directory.
std::string scenario_dir();
std::string resolve_scenario(const std::string& name);

}  // namespace ibnbd::scenario
