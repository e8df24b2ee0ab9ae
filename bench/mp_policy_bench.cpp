// Cost of one multipath choice (core/ibtrs/mp_policy.hpp) per policy and path count, with every
// path connected and uneven in-flight counts and latencies (the worst case for min-inflight and
// min-latency, which scan every path). Allocations per choice must be 0.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/ibtrs/mp_policy.hpp"
#include "tests/support/alloc_hook.hpp"

namespace {

using namespace ibnbd::ibtrs;

void choose(benchmark::State& state, MpPolicy policy) {
    const auto count = static_cast<std::size_t>(state.range(0));
    std::vector<PathView> paths(count);
    for (std::size_t i = 0; i < count; ++i) {
        paths[i] = {true, static_cast<std::uint32_t>((i * 7) % 13), 1000 + (i * 37) % 101};
    }
    PathSelector selector;
    const PathSet excluded;
    const std::uint64_t before = ibnbd::test::allocation_count();
    std::uint64_t calls = 0;
    for (auto _ : state) {
        auto chosen = selector.choose(policy, paths, excluded);
        benchmark::DoNotOptimize(chosen);
        if (chosen) paths[*chosen].inflight ^= 1;  // keep the inputs moving
        ++calls;
    }
    state.counters["allocs_per_op"] =
        static_cast<double>(ibnbd::test::allocation_count() - before) / static_cast<double>(calls ? calls : 1);
}

void BM_mp_round_robin(benchmark::State& state) { choose(state, MpPolicy::round_robin); }
void BM_mp_min_inflight(benchmark::State& state) { choose(state, MpPolicy::min_inflight); }
void BM_mp_min_latency(benchmark::State& state) { choose(state, MpPolicy::min_latency); }

}  // namespace

BENCHMARK(BM_mp_round_robin)->Arg(2)->Arg(8)->Arg(128);
BENCHMARK(BM_mp_min_inflight)->Arg(2)->Arg(8)->Arg(128);
BENCHMARK(BM_mp_min_latency)->Arg(2)->Arg(8)->Arg(128);
BENCHMARK_MAIN();
