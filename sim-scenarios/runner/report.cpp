#include "sim-scenarios/runner/report.hpp"

#include <fmt/core.h>

namespace ibnbd::scenario {

namespace {

std::string latency_line(const Histogram& h) {
    return fmt::format("p50 {}  p90 {}  p99 {}  p99.9 {}  max {}", format_duration(h.quantile(0.5)),
                       format_duration(h.quantile(0.9)), format_duration(h.quantile(0.99)),
                       format_duration(h.quantile(0.999)), format_duration(h.max()));
}

// `text` wrapped at `width` columns, each line indented by two spaces.
std::string wrapped(const std::string& text, std::size_t width) {
    std::string out, line;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        if (end == std::string::npos) end = text.size();
        const std::string word = text.substr(start, end - start);
        if (!line.empty() && line.size() + 1 + word.size() > width) {
            out += "  " + line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
        start = end + 1;
    }
    if (!line.empty()) out += "  " + line + "\n";
    return out;
}

std::string count(std::uint64_t n) {
    if (n >= 10'000'000) return fmt::format("{:.1f}M", static_cast<double>(n) / 1e6);
    if (n >= 100'000) return fmt::format("{:.0f}k", static_cast<double>(n) / 1e3);
    return std::to_string(n);
}

}  // namespace

void print_report(std::FILE* out, const Scenario& scenario, const RunResult& r) {
    fmt::print(out, "\nscenario {} (seed {}): {}\n", r.scenario, r.seed, r.passed ? "PASS" : "FAIL");
    if (!scenario.description.empty()) fmt::print(out, "{}", wrapped(scenario.description, 94));
    fmt::print(out, "\npaths\n");
    for (const auto& p : r.paths) {
        fmt::print(out, "  {:<22} {:<13} reads {:>8}  writes {:>8}  failovered {:>5}  reconnects {} ok / {} failed\n",
                   p.name, p.state, p.stats.read_count, p.stats.write_count, p.stats.failovered, p.stats.reconnects_ok,
                   p.stats.reconnects_failed);
    }
    fmt::print(out, "\ndevices\n");
    for (const auto& d : r.devices) {
        if (!d.has_workload) {
            fmt::print(out, "  {:<22} idle, remaps {}\n", d.name, d.remaps);
            continue;
        }
        const WorkloadStats& s = d.stats;
        fmt::print(out, "  {:<22} {} IOs: {} reads, {} writes ({} FUA), {} flushes, {} errors; remaps {}\n", d.name,
                   s.completed, s.reads, s.writes, s.fua_writes, s.flushes, s.errors, d.remaps);
        fmt::print(out, "  {:<22} latency {}  longest stall {}\n", "", latency_line(s.latency), format_duration(s.max_stall));
    }
    fmt::print(out, "\nIO: {} completed ({} reads, {} writes, {} flushes), {} errors; {} read, {} written\n", r.ios,
               r.reads, r.writes, r.flushes, r.errors, format_bytes(r.read_bytes),
               format_bytes(r.write_bytes));
    fmt::print(out, "latency (virtual time): {}\n", latency_line(r.latency));
    fmt::print(out, "longest IO stall: {}\n", format_duration(r.max_stall));
    fmt::print(out, "failovers: {} ({} requests moved), path reconnects: {}, remaps: {}, server crashes: {}\n", r.failovers,
               r.failovered_ios, r.reconnects, r.remaps, r.server_crashes);
    if (r.rogue.attacks) {
        fmt::print(out, "rogue client: {} attacks, {} connects rejected, {} sessions, {} closed by the server, {} responses\n",
                   r.rogue.attacks, r.rogue.rejected, r.rogue.sessions, r.rogue.closed_by_server, r.rogue.responses);
        if (r.rogue.stale_writes != 0) {
            fmt::print(out, "rogue client: {} writes through a revoked or stale chunk key: {} refused, {} landed\n",
                       r.rogue.stale_writes, r.rogue.stale_writes_refused, r.rogue.stale_writes_landed);
        }
    }
    const bool verified = std::none_of(r.failures.begin(), r.failures.end(),
                                       [](const std::string& f) { return f.rfind("oracle", 0) == 0; });
    fmt::print(out, "data verified: {} (every read checked against the linearizable model; {} read back at the end)\n",
               verified ? "yes" : "NO", format_bytes(r.readback_sectors * 512));
    fmt::print(out, "virtual time: {} (faults until {}, all IO done at {}); {} simulator events; trace digest {:016x}\n",
               format_duration(r.virtual_time), format_duration(r.faults_end), format_duration(r.io_done),
               count(r.world.events_delivered), r.digest);
    for (const auto& failure : r.failures) fmt::print(out, "FAILED: {}\n", failure);
}

std::string summary_line(const RunResult& r) {
    return fmt::format("seed {:<6} {}  {:>7} IOs  {:>4} errors  {:>3} failovers  {:>3} reconnects  p99 {:<8} stall {:<8} "
                       "virtual {:<8} digest {:016x}",
                       r.seed, r.passed ? "PASS" : "FAIL", r.ios, r.errors, r.failovers, r.reconnects,
                       format_duration(r.latency.quantile(0.99)), format_duration(r.max_stall),
                       format_duration(r.virtual_time), r.digest);
}

nlohmann::json to_json(const RunResult& r) {
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& p : r.paths) {
        paths.push_back({{"name", p.name}, {"state", p.state}, {"reads", p.stats.read_count},
                         {"writes", p.stats.write_count}, {"failovered", p.stats.failovered},
                         {"reconnects_ok", p.stats.reconnects_ok}, {"reconnects_failed", p.stats.reconnects_failed}});
    }
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& d : r.devices) {
        const WorkloadStats& s = d.stats;
        devices.push_back({{"name", d.name}, {"ios", s.completed}, {"reads", s.reads}, {"writes", s.writes},
                           {"flushes", s.flushes}, {"errors", s.errors}, {"remaps", d.remaps},
                           {"max_stall_ns", s.max_stall}, {"p99_ns", s.latency.quantile(0.99)}});
    }
    return {{"scenario", r.scenario}, {"seed", r.seed}, {"passed", r.passed}, {"failures", r.failures},
            {"draws", r.draws}, {"digest", fmt::format("{:016x}", r.digest)}, {"ios", r.ios}, {"reads", r.reads},
            {"writes", r.writes}, {"flushes", r.flushes}, {"errors", r.errors}, {"failovers", r.failovers},
            {"failovered_ios", r.failovered_ios}, {"reconnects", r.reconnects}, {"remaps", r.remaps},
            {"server_crashes", r.server_crashes}, {"max_stall_ns", r.max_stall},
            {"latency_ns", {{"p50", r.latency.quantile(0.5)}, {"p99", r.latency.quantile(0.99)},
                            {"p999", r.latency.quantile(0.999)}, {"max", r.latency.max()}}},
            {"virtual_time_ns", r.virtual_time}, {"faults_end_ns", r.faults_end}, {"io_done_ns", r.io_done},
            {"events", r.world.events_delivered}, {"paths", paths}, {"devices", devices}};
}

}  // namespace ibnbd::scenario
