// The event log of a run (ibtrs-sim -v): every path state change, failover, reconnect attempt,
// device and server state change, fault and phase, one line each with its virtual time.
#pragma once

#include <cstdio>

#include "sim-scenarios/runner/observer.hpp"

namespace ibnbd::scenario {

class EventLog final : public RunObserver {
public:
    explicit EventLog(std::FILE* out) : out_(out) {}

    void start(const Layout& layout) override { layout_ = &layout; }
    void path_state(Nanos t, std::uint32_t path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                    std::string_view reason) override;
    void failover(Nanos t, std::uint32_t from, std::uint32_t to, std::uint32_t ios) override;
    void reconnect_attempt(Nanos t, std::uint32_t path, std::uint32_t attempt, bool ok) override;
    void device_state(Nanos t, std::uint32_t device, block::DeviceState from, block::DeviceState to) override;
    void server_state(Nanos t, std::uint32_t server, bool up) override;
    void fault(Nanos t, std::string_view description, const std::vector<std::uint32_t>& paths) override;
    void phase(Nanos t, std::string_view name) override;
    void violation(Nanos t, std::string_view what) override;

private:
    void line(Nanos t, std::string_view text);
    std::string path(std::uint32_t index) const;

    std::FILE* out_;
    const Layout* layout_ = nullptr;
    Nanos t0_ = 0;
    bool started_ = false;
};

}  // namespace ibnbd::scenario
