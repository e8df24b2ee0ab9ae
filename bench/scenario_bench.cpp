// Whole-stack simulation speed: simulated IOs per wall-clock second of ibtrs-sim runs (IBNBD
// client and server over IBTRS, memory storage with its durability model, the data oracle on
// every IO), for a 4 KiB QD32 two-path workload with and without a failover. The IBTRS core
// alone (no block layer, no storage, no oracle) is measured by ibtrs_io_bench.
#include <benchmark/benchmark.h>

#include "core/log.hpp"
#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/runner.hpp"

namespace {

using namespace ibnbd::scenario;

Scenario make(std::uint64_t ios, bool failover, unsigned read_percent) {
    std::string text = fmt::format(R"(
topology:
  servers:
    - name: server
      devices: [{{name: vol0, size: 64MiB, latency: 10us}}]
  clients:
    - name: client
      sessions: [{{server: server, paths: 2, link: {{latency: 2us}}, devices: [vol0]}}]
settings:
  queue_depth: 64
  policy: round-robin
  heartbeat: {{interval: 10ms, missed_max: 3}}
  network: {{transport_timeout: 15ms, retransmit_interval: 2ms}}
workload:
  - {{device: vol0, block_sizes: 4KiB, queue_depth: 32, ios: {}, read_percent: {}, region: 16MiB}}
)", ios, read_percent);
    if (failover) text += "faults:\n  - {at: 1ms, fault: link_down, path: client/0, duration: 20ms}\n";
    auto parsed = parse_scenario_text(text, "bench.yaml");
    if (!parsed) std::abort();
    return std::move(parsed.value());
}

void run(benchmark::State& state, bool failover) {
    ibnbd::log().set_level(spdlog::level::off);
    const auto ios = static_cast<std::uint64_t>(state.range(0));
    const Scenario scenario = make(ios, failover, static_cast<unsigned>(state.range(1)));
    std::uint64_t simulated = 0;
    std::uint64_t seed = 1;
    for (auto _ : state) {
        RunOptions options;
        options.seed = seed++;
        const RunResult result = run_scenario(scenario, options);
        if (!result.passed) {
            state.SkipWithError(result.failures.front().c_str());
            return;
        }
        simulated += result.ios;
    }
    state.counters["simulated_ios_per_s"] =
        benchmark::Counter(static_cast<double>(simulated), benchmark::Counter::kIsRate);
    state.counters["ios_per_run"] = static_cast<double>(simulated) / static_cast<double>(state.iterations());
}

void BM_ScenarioSteady(benchmark::State& state) { run(state, false); }
void BM_ScenarioFailover(benchmark::State& state) { run(state, true); }

}  // namespace

// Arguments: IOs per run, read percentage.
BENCHMARK(BM_ScenarioSteady)->Args({100000, 0})->Args({100000, 100})->Args({100000, 50})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScenarioFailover)->Args({100000, 50})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
