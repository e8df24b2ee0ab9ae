// The result of a run as a human summary and as JSON (--json), plus the once-a-second progress
// line on stderr.
#pragma once

#include <string>

#include "bench/ibnbd_bench/engine.hpp"
#include "bench/ibnbd_bench/runner.hpp"

namespace ibnbd::bench {

std::string human_report(const Options& options, const Geometry& geometry, const RunResult& result);
std::string json_report(const Options& options, const Geometry& geometry, const RunResult& result);
// "  3.0s  read 45.1k IOPS 176.2 MiB/s lat 0.70 ms | write ..." for one interval.
std::string progress_line(double at_s, const char* phase, const IntervalStats& read, const IntervalStats& write,
                          double interval_s);
std::string format_size(std::uint64_t bytes);  // 4096 → "4k", 131072 → "128k"

}  // namespace ibnbd::bench
