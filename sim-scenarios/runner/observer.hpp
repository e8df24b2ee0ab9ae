// What a run reports as it happens, for the trace, the timeline, verbose logs and counters.
// Paths, devices and servers are numbered in the order of the cluster's tables (cluster.hpp).
// Observers are called synchronously from the simulation and must not call back into it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/ibtrs/types.hpp"
#include "ibnbd/client/block_device.hpp"
#include "sim-scenarios/runner/units.hpp"

namespace ibnbd::scenario {

enum class IoKind : std::uint8_t { read, write, write_fua, flush };
std::string_view to_string(IoKind kind);

// Names of what the observers will hear about (set once before the run starts).
struct Layout {
    struct Path {
        std::string name;         // client/label/index
        std::string client;       // client node name
        std::string session;      // wire session name
        std::string transport;    // the IBTRS path name (src@dst)
        std::uint32_t server = 0;
    };
    struct Device {
        std::string name;         // client:server/device
        std::string client;
        std::uint32_t server = 0;
    };
    std::vector<std::string> servers;
    std::vector<std::string> clients;
    std::vector<Path> paths;
    std::vector<Device> devices;  // one per mapped device
};

class RunObserver {
public:
    static constexpr std::uint32_t kNoPath = UINT32_MAX;

    virtual ~RunObserver() = default;
    virtual void start(const Layout& layout) { (void)layout; }
    virtual void path_state(Nanos t, std::uint32_t path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                            std::string_view reason) {
        (void)t, (void)path, (void)from, (void)to, (void)reason;
    }
    virtual void failover(Nanos t, std::uint32_t from, std::uint32_t to, std::uint32_t ios) {
        (void)t, (void)from, (void)to, (void)ios;
    }
    virtual void reconnect_attempt(Nanos t, std::uint32_t path, std::uint32_t attempt, bool ok) {
        (void)t, (void)path, (void)attempt, (void)ok;
    }
    virtual void device_state(Nanos t, std::uint32_t device, block::DeviceState from, block::DeviceState to) {
        (void)t, (void)device, (void)from, (void)to;
    }
    virtual void server_state(Nanos t, std::uint32_t server, bool up) { (void)t, (void)server, (void)up; }
    // A fault applied; `paths` lists the paths it touches (may be empty).
    virtual void fault(Nanos t, std::string_view description, const std::vector<std::uint32_t>& paths) {
        (void)t, (void)description, (void)paths;
    }
    virtual void phase(Nanos t, std::string_view name) { (void)t, (void)name; }
    virtual void io_start(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint64_t offset,
                          std::uint32_t length) {
        (void)t, (void)device, (void)id, (void)kind, (void)offset, (void)length;
    }
    virtual void io_done(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint32_t length,
                         int status, Nanos latency) {
        (void)t, (void)device, (void)id, (void)kind, (void)length, (void)status, (void)latency;
    }
    virtual void violation(Nanos t, std::string_view what) { (void)t, (void)what; }
    virtual void finish(Nanos t) { (void)t; }
};

// Forwards to every observer added (in order).
class ObserverList final : public RunObserver {
public:
    void add(RunObserver& observer) { observers_.push_back(&observer); }
    bool empty() const { return observers_.empty(); }

    void start(const Layout& layout) override { each([&](RunObserver& o) { o.start(layout); }); }
    void path_state(Nanos t, std::uint32_t path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                    std::string_view reason) override {
        each([&](RunObserver& o) { o.path_state(t, path, from, to, reason); });
    }
    void failover(Nanos t, std::uint32_t from, std::uint32_t to, std::uint32_t ios) override {
        each([&](RunObserver& o) { o.failover(t, from, to, ios); });
    }
    void reconnect_attempt(Nanos t, std::uint32_t path, std::uint32_t attempt, bool ok) override {
        each([&](RunObserver& o) { o.reconnect_attempt(t, path, attempt, ok); });
    }
    void device_state(Nanos t, std::uint32_t device, block::DeviceState from, block::DeviceState to) override {
        each([&](RunObserver& o) { o.device_state(t, device, from, to); });
    }
    void server_state(Nanos t, std::uint32_t server, bool up) override {
        each([&](RunObserver& o) { o.server_state(t, server, up); });
    }
    void fault(Nanos t, std::string_view description, const std::vector<std::uint32_t>& paths) override {
        each([&](RunObserver& o) { o.fault(t, description, paths); });
    }
    void phase(Nanos t, std::string_view name) override { each([&](RunObserver& o) { o.phase(t, name); }); }
    void io_start(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint64_t offset,
                  std::uint32_t length) override {
        each([&](RunObserver& o) { o.io_start(t, device, id, kind, offset, length); });
    }
    void io_done(Nanos t, std::uint32_t device, std::uint64_t id, IoKind kind, std::uint32_t length, int status,
                 Nanos latency) override {
        each([&](RunObserver& o) { o.io_done(t, device, id, kind, length, status, latency); });
    }
    void violation(Nanos t, std::string_view what) override { each([&](RunObserver& o) { o.violation(t, what); }); }
    void finish(Nanos t) override { each([&](RunObserver& o) { o.finish(t); }); }

private:
    template <class F>
    void each(F&& f) {
        for (RunObserver* observer : observers_) f(*observer);
    }
    std::vector<RunObserver*> observers_;
};

}  // namespace ibnbd::scenario
