#include "sim-scenarios/runner/timeline.hpp"

#include <fmt/core.h>

namespace ibnbd::scenario {

Timeline::Timeline(const std::string& path, Nanos interval)
    : out_(std::fopen(path.c_str(), "w")), interval_(interval == 0 ? kMs : interval) {
    if (out_) {
        fmt::print(out_, "t_ms,reads,writes,flushes,errors,iops,read_mib_s,write_mib_s,p50_us,p99_us,max_us,"
                         "failovers,faults,path_changes,phase\n");
    }
}

Timeline::~Timeline() {
    if (out_) std::fclose(out_);
}

bool Timeline::advance(Nanos t) {
    if (!started_ || t < t0_) return false;
    const std::uint64_t index = (t - t0_) / interval_;
    while (index_ < index) {
        write_row();
        row_ = Row{};
        ++index_;
    }
    return true;
}

void Timeline::write_row() {
    if (!out_) return;
    const double seconds = static_cast<double>(interval_) / 1e9;
    const double mib = 1024.0 * 1024.0;
    const std::uint64_t ios = row_.reads + row_.writes + row_.flushes + row_.errors;
    fmt::print(out_, "{:.3f},{},{},{},{},{:.0f},{:.2f},{:.2f},{:.2f},{:.2f},{:.2f},{},{},{},{}\n",
               static_cast<double>(index_ * interval_) / 1e6, row_.reads, row_.writes, row_.flushes, row_.errors,
               static_cast<double>(ios) / seconds, static_cast<double>(row_.read_bytes) / mib / seconds,
               static_cast<double>(row_.write_bytes) / mib / seconds,
               static_cast<double>(row_.latency.quantile(0.5)) / 1e3, static_cast<double>(row_.latency.quantile(0.99)) / 1e3,
               static_cast<double>(row_.latency.max()) / 1e3, row_.failovers, row_.faults, row_.path_changes, phase_);
}

void Timeline::path_state(Nanos t, std::uint32_t, ibtrs::ClientPathState, ibtrs::ClientPathState, std::string_view) {
    if (advance(t)) ++row_.path_changes;
}

void Timeline::failover(Nanos t, std::uint32_t, std::uint32_t, std::uint32_t) {
    if (advance(t)) ++row_.failovers;
}

void Timeline::fault(Nanos t, std::string_view, const std::vector<std::uint32_t>&) {
    if (advance(t)) ++row_.faults;
}

void Timeline::phase(Nanos t, std::string_view name) {
    if (name == "safety") {
        t0_ = t;
        started_ = true;
    }
    advance(t);
    phase_ = std::string(name);
}

void Timeline::io_done(Nanos t, std::uint32_t, std::uint64_t, IoKind kind, std::uint32_t length, int status, Nanos latency) {
    if (!advance(t)) return;
    if (status != 0) {
        ++row_.errors;
        return;
    }
    switch (kind) {
        case IoKind::read:
            ++row_.reads;
            row_.read_bytes += length;
            row_.latency.record(latency);
            break;
        case IoKind::write:
        case IoKind::write_fua:
            ++row_.writes;
            row_.write_bytes += length;
            row_.latency.record(latency);
            break;
        case IoKind::flush: ++row_.flushes; break;
    }
}

void Timeline::finish(Nanos t) {
    if (!started_) return;
    advance(t);
    write_row();
}

}  // namespace ibnbd::scenario
