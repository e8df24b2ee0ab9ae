#include "sim-scenarios/runner/event_log.hpp"

#include <fmt/core.h>

namespace ibnbd::scenario {

void EventLog::line(Nanos t, std::string_view text) {
    const double ms = started_ ? (static_cast<double>(t) - static_cast<double>(t0_)) / 1e6 : static_cast<double>(t) / 1e6;
    fmt::print(out_, "  {:>11.3f} ms  {}\n", ms, text);
}

std::string EventLog::path(std::uint32_t index) const {
    if (!layout_ || index >= layout_->paths.size()) return "(none)";
    return layout_->paths[index].name;
}

void EventLog::path_state(Nanos t, std::uint32_t index, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                          std::string_view reason) {
    line(t, fmt::format("path {}: {} -> {}{}{}", path(index), ibtrs::to_string(from), ibtrs::to_string(to),
                        reason.empty() ? "" : " : ", reason));
}

void EventLog::failover(Nanos t, std::uint32_t from, std::uint32_t to, std::uint32_t ios) {
    line(t, fmt::format("failover: {} requests from {} to {}", ios, path(from), path(to)));
}

void EventLog::reconnect_attempt(Nanos t, std::uint32_t index, std::uint32_t attempt, bool ok) {
    line(t, fmt::format("path {}: reconnect attempt {} {}", path(index), attempt, ok ? "succeeded" : "failed"));
}

void EventLog::device_state(Nanos t, std::uint32_t device, block::DeviceState from, block::DeviceState to) {
    const std::string name = layout_ && device < layout_->devices.size() ? layout_->devices[device].name : "?";
    line(t, fmt::format("device {}: {} -> {}", name, block::to_string(from), block::to_string(to)));
}

void EventLog::server_state(Nanos t, std::uint32_t server, bool up) {
    const std::string name = layout_ && server < layout_->servers.size() ? layout_->servers[server] : "?";
    line(t, fmt::format("server {} {}", name, up ? "is up" : "is down"));
}

void EventLog::fault(Nanos t, std::string_view description, const std::vector<std::uint32_t>&) {
    line(t, fmt::format("FAULT {}", description));
}

void EventLog::phase(Nanos t, std::string_view name) {
    if (name == "safety") {
        fmt::print(out_, "  (times below are relative to the workload start, {:.3f} ms of virtual time)\n",
                   static_cast<double>(t) / 1e6);
        t0_ = t;
        started_ = true;
    }
    line(t, fmt::format("--- {} phase ---", name));
}

void EventLog::violation(Nanos t, std::string_view what) { line(t, fmt::format("ORACLE VIOLATION {}", what)); }

}  // namespace ibnbd::scenario
