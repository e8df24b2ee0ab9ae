#include "bench/ibnbd_bench/report.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace ibnbd::bench {

namespace {

using Json = nlohmann::ordered_json;

double per_second(std::uint64_t value, double seconds) {
    return seconds > 0 ? static_cast<double>(value) / seconds : 0.0;
}

std::string si(double value) {
    if (value >= 1e6) return fmt::format("{:.2f}M", value / 1e6);
    if (value >= 1e3) return fmt::format("{:.1f}k", value / 1e3);
    return fmt::format("{:.0f}", value);
}

std::string mib(double bytes_per_s) { return fmt::format("{:.1f} MiB/s", bytes_per_s / 1048576.0); }

std::string micros(std::uint64_t ns) { return fmt::format("{:.1f}", static_cast<double>(ns) / 1e3); }

std::string sizes_text(const std::vector<std::uint32_t>& sizes) {
    std::string text;
    for (std::uint32_t bs : sizes) text += (text.empty() ? "" : ",") + format_size(bs);
    return text;
}

std::string direction_text(const char* name, const DirectionStats& stats, double seconds) {
    if (stats.ios == 0) return {};
    const Histogram& h = stats.latency_ns;
    return fmt::format("  {:<5}: {} IOPS, {} ({} IOs, {})\n"
                       "         lat (us): min {} avg {} p50 {} p99 {} p99.9 {} max {}\n",
                       name, si(per_second(stats.ios, seconds)), mib(per_second(stats.bytes, seconds)), stats.ios,
                       fmt::format("{:.1f} MiB", static_cast<double>(stats.bytes) / 1048576.0), micros(h.min()), micros(static_cast<std::uint64_t>(h.mean())),
                       micros(h.percentile(0.50)), micros(h.percentile(0.99)), micros(h.percentile(0.999)),
                       micros(h.max()));
}

Json direction_json(const DirectionStats& stats, double seconds) {
    const Histogram& h = stats.latency_ns;
    return {{"ios", stats.ios},
            {"bytes", stats.bytes},
            {"iops", per_second(stats.ios, seconds)},
            {"bw_bytes_per_s", per_second(stats.bytes, seconds)},
            {"lat_ns", {{"min", h.min()}, {"avg", h.mean()}, {"p50", h.percentile(0.50)}, {"p90", h.percentile(0.90)},
                        {"p99", h.percentile(0.99)}, {"p99.9", h.percentile(0.999)}, {"max", h.max()}}}};
}

}  // namespace

std::string format_size(std::uint64_t bytes) {
    static const char* kUnits[] = {"", "k", "m", "g", "t"};
    unsigned unit = 0;
    while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        ++unit;
    }
    return std::to_string(bytes) + kUnits[unit];
}

std::string human_report(const Options& o, const Geometry& geometry, const RunResult& r) {
    std::string text = fmt::format("ibnbd-bench: {} ({})\n  {} bs={} iodepth={} numjobs={}{} runtime={:.2f}s region={}@{}\n",
                                   o.target_text, geometry.description, to_string(o.rw), sizes_text(o.block_sizes),
                                   o.iodepth, o.numjobs,
                                   (o.rw == RwMode::rw || o.rw == RwMode::randrw) ? fmt::format(" rwmixread={}", o.rwmixread) : "",
                                   r.measured_s, format_size(r.region.length), r.region.start);
    text += direction_text("read", r.read, r.measured_s);
    text += direction_text("write", r.write, r.measured_s);
    if (r.io_errors != 0) text += fmt::format("  IO errors: {} (first: {})\n", r.io_errors, r.first_error);
    if (o.verify) {
        text += fmt::format("  verify: {} reads checked, {} mismatches{}{}\n", r.verified_ios, r.verify_mismatches,
                            r.first_mismatch.empty() ? "" : " (first: ", r.first_mismatch.empty() ? "" : r.first_mismatch + ")");
    }
    return text;
}

std::string json_report(const Options& o, const Geometry& geometry, const RunResult& r) {
    Json bs = Json::array();
    for (std::uint32_t size : o.block_sizes) bs.push_back(size);
    Json j{{"target", o.target_text},
           {"engine", geometry.description},
           {"rw", to_string(o.rw)},
           {"rwmixread", o.rwmixread},
           {"bs", bs},
           {"iodepth", o.iodepth},
           {"numjobs", o.numjobs},
           {"runtime_s", r.measured_s},
           {"ramp_s", o.ramp_s},
           {"seed", o.seed},
           {"region", {{"offset", r.region.start}, {"size", r.region.length}}},
           {"read", direction_json(r.read, r.measured_s)},
           {"write", direction_json(r.write, r.measured_s)},
           {"interrupted", r.interrupted},
           {"io_errors", r.io_errors},
           {"first_error", r.first_error},
           {"verify", {{"enabled", o.verify}, {"prefill_bytes", r.prefill_bytes}, {"checked_ios", r.verified_ios},
                       {"mismatches", r.verify_mismatches}, {"first_mismatch", r.first_mismatch}}}};
    return j.dump(2) + "\n";
}

std::string progress_line(double at_s, const char* phase, const IntervalStats& read, const IntervalStats& write,
                          double interval_s) {
    auto part = [&](const char* name, const IntervalStats& s) {
        const double mean_us = s.ios ? static_cast<double>(s.latency_sum_ns) / static_cast<double>(s.ios) / 1e3 : 0.0;
        return fmt::format("{} {} IOPS {} avg {:.1f} us", name, si(per_second(s.ios, interval_s)),
                           mib(per_second(s.bytes, interval_s)), mean_us);
    };
    std::string line = fmt::format("ibnbd-bench: {:6.1f}s {:<5}", at_s, phase);
    if (read.ios != 0 || write.ios == 0) line += " " + part("read", read);
    if (write.ios != 0) line += (read.ios != 0 ? " | " : " ") + part("write", write);
    return line + "\n";
}

}  // namespace ibnbd::bench
