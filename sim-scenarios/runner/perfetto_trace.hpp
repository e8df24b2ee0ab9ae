// A Chrome trace-event JSON file (opens in ui.perfetto.dev and chrome://tracing) of one run.
//
// TRACKS
//   process "scenario"        phases, faults (instant events), oracle violations
//   process per server        its up/down state (spans), faults on it
//   process per client node   a thread per path (state spans: connecting, connected,
//                             reconnecting..., failovers and faults as instants), a thread per
//                             device (its state spans, and IOPS and in-flight counters), and IO
//                             spans as async slices (read / write / write+fua / flush, with
//                             offset, length and status)
// LIMITS
//   IO spans are sampled so that the file stays small enough for the UI over a whole run: per
//   device at most kIoSpansPerMs IOs starting in each millisecond of virtual time, and at most
//   kMaxIoSpans in all; counters and every other event are always written. Timestamps are
//   virtual time in microseconds with nanosecond precision.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sim-scenarios/runner/observer.hpp"

namespace ibnbd::scenario {

class PerfettoTrace final : public RunObserver {
public:
    static constexpr std::uint64_t kMaxIoSpans = 100000;
    static constexpr std::uint64_t kIoSpansPerMs = 16;

    explicit PerfettoTrace(const std::string& path);
    ~PerfettoTrace() override;
    PerfettoTrace(const PerfettoTrace&) = delete;
    PerfettoTrace& operator=(const PerfettoTrace&) = delete;

    bool ok() const { return out_ != nullptr; }

    void start(const Layout& layout) override;
    void path_state(Nanos t, std::uint32_t path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                    std::string_view reason) override;
    void failover(Nanos t, std::uint32_t from, std::uint32_t to, std::uint32_t ios) override;
    void device_state(Nanos t, std::uint32_t device, block::DeviceState from, block::DeviceState to) override;
    void server_state(Nanos t, std::uint32_t server, bool up) override;
    void fault(Nanos t, std::string_view description, const std::vector<std::uint32_t>& paths) override;
    void phase(Nanos t, std::string_view name) override;
    void io_start(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint64_t offset,
                  std::uint32_t length) override;
    void io_done(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint32_t length, int status,
                 Nanos latency) override;
    void violation(Nanos t, std::string_view what) override;
    void finish(Nanos t) override;

private:
    struct Span {
        std::string name;
        Nanos since = 0;
        bool open = false;
    };
    struct DeviceCounters {
        std::uint64_t bucket = 0;      // current 1 ms bucket
        std::uint64_t completions = 0;
        std::uint32_t inflight = 0;
        std::uint64_t span_bucket = UINT64_MAX;  // the millisecond of the spans counted below
        std::uint64_t spans_in_bucket = 0;
        std::vector<std::uint64_t> open;  // by IO slot: id + 1 of the span written, or 0
    };

    void event(const std::string& json);
    void close_span(Span& span, Nanos t, int pid, int tid);
    void open_span(Span& span, Nanos t, std::string name);
    void counters(Nanos t, std::uint32_t device);
    int client_pid(std::uint32_t client) const;
    int path_pid(std::uint32_t path) const;
    int device_pid(std::uint32_t device) const;
    int client_of(const std::string& name) const;

    std::FILE* out_ = nullptr;
    bool first_ = true;
    const Layout* layout_ = nullptr;
    std::vector<Span> path_spans_, device_spans_, server_spans_;
    std::vector<DeviceCounters> device_counters_;
    std::uint64_t io_spans_ = 0;
};

}  // namespace ibnbd::scenario
