#include "sim-scenarios/runner/perfetto_trace.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace ibnbd::scenario {

namespace {

constexpr int kScenarioPid = 1;
constexpr int kServerPid = 10;       // + server index
constexpr int kClientPid = 100000;   // + client index
constexpr int kPathTid = 1;          // + path index
constexpr int kDeviceTid = 500000;   // + device index

std::string quote(std::string_view text) { return nlohmann::json(std::string(text)).dump(); }

// Microseconds with nanosecond precision.
std::string ts(Nanos t) { return fmt::format("{}.{:03}", t / 1000, t % 1000); }

}  // namespace

PerfettoTrace::PerfettoTrace(const std::string& path) : out_(std::fopen(path.c_str(), "w")) {
    if (out_) fmt::print(out_, "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
}

PerfettoTrace::~PerfettoTrace() {
    if (!out_) return;
    fmt::print(out_, "\n]}}\n");
    std::fclose(out_);
}

void PerfettoTrace::event(const std::string& json) {
    if (!out_) return;
    fmt::print(out_, "{}{}", first_ ? "" : ",\n", json);
    first_ = false;
}

int PerfettoTrace::client_of(const std::string& name) const {
    for (std::size_t c = 0; c < layout_->clients.size(); ++c) {
        if (layout_->clients[c] == name) return static_cast<int>(c);
    }
    return 0;
}
int PerfettoTrace::client_pid(std::uint32_t client) const { return kClientPid + static_cast<int>(client); }
int PerfettoTrace::path_pid(std::uint32_t path) const { return kClientPid + client_of(layout_->paths[path].client); }
int PerfettoTrace::device_pid(std::uint32_t device) const { return kClientPid + client_of(layout_->devices[device].client); }

void PerfettoTrace::start(const Layout& layout) {
    layout_ = &layout;
    const auto name = [&](const char* what, int pid, int tid, const std::string& label) {
        event(fmt::format(R"({{"name":"{}","ph":"M","pid":{},"tid":{},"args":{{"name":{}}}}})", what, pid, tid, quote(label)));
    };
    name("process_name", kScenarioPid, 0, "scenario");
    for (std::uint32_t j = 0; j < layout.servers.size(); ++j) {
        name("process_name", kServerPid + static_cast<int>(j), 0, "server " + layout.servers[j]);
        name("thread_name", kServerPid + static_cast<int>(j), 0, "state");
    }
    for (std::uint32_t c = 0; c < layout.clients.size(); ++c) name("process_name", client_pid(c), 0, "client " + layout.clients[c]);
    for (std::uint32_t p = 0; p < layout.paths.size(); ++p) {
        name("thread_name", path_pid(p), kPathTid + static_cast<int>(p), "path " + layout.paths[p].name);
    }
    for (std::uint32_t d = 0; d < layout.devices.size(); ++d) {
        name("thread_name", device_pid(d), kDeviceTid + static_cast<int>(d), "device " + layout.devices[d].name);
    }
    path_spans_.resize(layout.paths.size());
    device_spans_.resize(layout.devices.size());
    server_spans_.resize(layout.servers.size());
    device_counters_.resize(layout.devices.size());
}

void PerfettoTrace::close_span(Span& span, Nanos t, int pid, int tid) {
    if (!span.open) return;
    event(fmt::format(R"({{"name":{},"ph":"X","pid":{},"tid":{},"ts":{},"dur":{}}})", quote(span.name), pid, tid,
                      ts(span.since), ts(t - span.since)));
    span.open = false;
}

void PerfettoTrace::open_span(Span& span, Nanos t, std::string name) {
    span.name = std::move(name);
    span.since = t;
    span.open = true;
}

void PerfettoTrace::path_state(Nanos t, std::uint32_t path, ibtrs::ClientPathState, ibtrs::ClientPathState to,
                               std::string_view reason) {
    if (path >= path_spans_.size()) return;
    const int pid = path_pid(path), tid = kPathTid + static_cast<int>(path);
    close_span(path_spans_[path], t, pid, tid);
    open_span(path_spans_[path], t, std::string(ibtrs::to_string(to)));
    if (!reason.empty()) {
        event(fmt::format(R"({{"name":{},"ph":"i","s":"t","pid":{},"tid":{},"ts":{}}})",
                          quote(fmt::format("{}: {}", ibtrs::to_string(to), reason)), pid, tid, ts(t)));
    }
}

void PerfettoTrace::failover(Nanos t, std::uint32_t from, std::uint32_t to, std::uint32_t ios) {
    if (from >= path_spans_.size()) return;
    const std::string target = to < layout_->paths.size() ? layout_->paths[to].name : "(none)";
    event(fmt::format(R"({{"name":{},"ph":"i","s":"p","pid":{},"tid":{},"ts":{},"args":{{"ios":{}}}}})",
                      quote(fmt::format("failover {} IOs -> {}", ios, target)), path_pid(from),
                      kPathTid + static_cast<int>(from), ts(t), ios));
}

void PerfettoTrace::device_state(Nanos t, std::uint32_t device, block::DeviceState, block::DeviceState to) {
    if (device >= device_spans_.size()) return;
    const int pid = device_pid(device), tid = kDeviceTid + static_cast<int>(device);
    close_span(device_spans_[device], t, pid, tid);
    open_span(device_spans_[device], t, std::string(block::to_string(to)));
}

void PerfettoTrace::server_state(Nanos t, std::uint32_t server, bool up) {
    if (server >= server_spans_.size()) return;
    close_span(server_spans_[server], t, kServerPid + static_cast<int>(server), 0);
    open_span(server_spans_[server], t, up ? "up" : "down (crashed)");
}

void PerfettoTrace::fault(Nanos t, std::string_view description, const std::vector<std::uint32_t>& paths) {
    event(fmt::format(R"({{"name":{},"ph":"i","s":"g","pid":{},"tid":0,"ts":{}}})", quote("fault: " + std::string(description)),
                      kScenarioPid, ts(t)));
    for (std::uint32_t path : paths) {
        if (path >= path_spans_.size()) continue;
        event(fmt::format(R"({{"name":{},"ph":"i","s":"t","pid":{},"tid":{},"ts":{}}})", quote(std::string(description)),
                          path_pid(path), kPathTid + static_cast<int>(path), ts(t)));
    }
}

void PerfettoTrace::phase(Nanos t, std::string_view name) {
    event(fmt::format(R"({{"name":{},"ph":"i","s":"g","pid":{},"tid":0,"ts":{}}})", quote(std::string(name) + " phase"),
                      kScenarioPid, ts(t)));
}

void PerfettoTrace::violation(Nanos t, std::string_view what) {
    event(fmt::format(R"({{"name":{},"ph":"i","s":"g","pid":{},"tid":0,"ts":{}}})",
                      quote("ORACLE VIOLATION: " + std::string(what)), kScenarioPid, ts(t)));
}

void PerfettoTrace::counters(Nanos t, std::uint32_t device) {
    DeviceCounters& c = device_counters_[device];
    const std::uint64_t bucket = t / 1'000'000;
    if (bucket != c.bucket) {
        event(fmt::format(R"({{"name":{},"ph":"C","pid":{},"ts":{},"args":{{"IOPS":{}}}}})",
                          quote("IOPS " + layout_->devices[device].name), device_pid(device), ts(c.bucket * 1'000'000),
                          c.completions * 1000));
        if (bucket > c.bucket + 1) {  // an idle gap
            event(fmt::format(R"({{"name":{},"ph":"C","pid":{},"ts":{},"args":{{"IOPS":0}}}})",
                              quote("IOPS " + layout_->devices[device].name), device_pid(device),
                              ts((c.bucket + 1) * 1'000'000)));
        }
        c.bucket = bucket;
        c.completions = 0;
        event(fmt::format(R"({{"name":{},"ph":"C","pid":{},"ts":{},"args":{{"inflight":{}}}}})",
                          quote("in flight " + layout_->devices[device].name), device_pid(device), ts(t), c.inflight));
    }
}

void PerfettoTrace::io_start(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint64_t offset,
                             std::uint32_t length) {
    if (device >= device_counters_.size()) return;
    ++device_counters_[device].inflight;
    counters(t, device);
    DeviceCounters& c = device_counters_[device];
    if (c.span_bucket != t / 1'000'000) {
        c.span_bucket = t / 1'000'000;
        c.spans_in_bucket = 0;
    }
    if (io_spans_ >= kMaxIoSpans || c.spans_in_bucket >= kIoSpansPerMs) return;
    ++io_spans_;
    ++c.spans_in_bucket;
    auto& open = c.open;
    const auto slot = static_cast<std::uint32_t>(id);
    if (open.size() <= slot) open.resize(slot + 1, 0);
    open[slot] = id + 1;
    event(fmt::format(R"({{"name":"{}","cat":"io","ph":"b","id":"{}.{}","pid":{},"tid":{},"ts":{},"args":{{"offset":{},"length":{}}}}})",
                      to_string(kind), device, id, device_pid(device), kDeviceTid + static_cast<int>(device), ts(t),
                      offset, length));
}

void PerfettoTrace::io_done(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint32_t, int status,
                            Nanos) {
    if (device >= device_counters_.size()) return;
    DeviceCounters& c = device_counters_[device];
    --c.inflight;
    ++c.completions;
    counters(t, device);
    // Only IOs whose start was written get an end.
    const auto slot = static_cast<std::uint32_t>(id);
    if (slot >= c.open.size() || c.open[slot] != id + 1) return;
    c.open[slot] = 0;
    event(fmt::format(R"({{"name":"{}","cat":"io","ph":"e","id":"{}.{}","pid":{},"tid":{},"ts":{},"args":{{"status":{}}}}})",
                      to_string(kind), device, id, device_pid(device), kDeviceTid + static_cast<int>(device), ts(t), status));
}

void PerfettoTrace::finish(Nanos t) {
    if (!layout_) return;
    for (std::uint32_t p = 0; p < path_spans_.size(); ++p) close_span(path_spans_[p], t, path_pid(p), kPathTid + static_cast<int>(p));
    for (std::uint32_t d = 0; d < device_spans_.size(); ++d) close_span(device_spans_[d], t, device_pid(d), kDeviceTid + static_cast<int>(d));
    for (std::uint32_t j = 0; j < server_spans_.size(); ++j) close_span(server_spans_[j], t, kServerPid + static_cast<int>(j), 0);
}

}  // namespace ibnbd::scenario
