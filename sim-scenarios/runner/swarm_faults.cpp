#include "sim-scenarios/runner/swarm_faults.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <fmt/core.h>

#include "sim-scenarios/runner/swarm.hpp"

namespace ibnbd::scenario {

Nanos draw_log_uniform(fabric::sim::Rng& rng, const Range<Nanos>& range) {
    if (range.high <= range.low) return range.low;
    if (range.low == 0) return rng.below(range.high + 1);
    constexpr std::uint64_t kSteps = 1 << 20;
    const double fraction = static_cast<double>(rng.below(kSteps + 1)) / kSteps;
    const double ratio = static_cast<double>(range.high) / static_cast<double>(range.low);
    const auto value = static_cast<Nanos>(std::llround(static_cast<double>(range.low) * std::pow(ratio, fraction)));
    return std::clamp(value, range.low, range.high);
}

namespace {

constexpr FaultType kAllFaults[] = {
    FaultType::link_down, FaultType::clog, FaultType::swizzle_clog, FaultType::flap,
    FaultType::connection_error, FaultType::heartbeat_loss, FaultType::crash, FaultType::storage_error,
    FaultType::storage_latency, FaultType::cm_reject, FaultType::cm_delay, FaultType::rogue_client,
};

bool hits_paths(FaultType type) {
    switch (type) {
        case FaultType::link_down:
        case FaultType::clog:
        case FaultType::swizzle_clog:
        case FaultType::flap:
        case FaultType::connection_error:
        case FaultType::heartbeat_loss: return true;
        default: return false;
    }
}

class FaultDrawer {
public:
    FaultDrawer(const SwarmSpec& swarm, const Topology& topology, fabric::sim::Rng& rng)
        : swarm_(swarm), topology_(topology), rng_(rng) {
        for (std::uint32_t c = 0; c < topology.clients.size(); ++c) {
            for (std::uint32_t s = 0; s < topology.clients[c].sessions.size(); ++s) sessions_.push_back({c, s});
        }
        types_ = swarm.fault_types;
        if (types_.empty()) types_.assign(std::begin(kAllFaults), std::end(kAllFaults));
    }

    std::vector<FaultSpec> run(std::vector<std::string>& draws) {
        const std::uint32_t count = in(swarm_.faults);
        std::vector<FaultSpec> faults;
        for (std::uint32_t f = 0; f < count; ++f) {
            const bool follow = f > 0 && percent(swarm_.follow_up_percent);
            FaultSpec fault = draw(follow ? &faults.back() : nullptr);
            draws.push_back(fmt::format("swarm fault {}: {}{}", f, describe(fault), follow ? " (follow-up)" : ""));
            faults.push_back(std::move(fault));
        }
        return faults;
    }

private:
    struct SessionRef {
        std::uint32_t client = 0;
        std::uint32_t session = 0;
    };

    template <class T>
    T in(const Range<T>& range) {
        return range.low + static_cast<T>(rng_.below(static_cast<std::uint64_t>(range.high - range.low) + 1));
    }
    template <class T>
    const T& pick(const std::vector<T>& items) {
        assert(!items.empty());
        return items[rng_.below(items.size())];
    }
    bool percent(double chance) { return static_cast<double>(rng_.below(10000)) < chance * 100; }

    const SessionSpec& spec(const SessionRef& ref) const { return topology_.clients[ref.client].sessions[ref.session]; }
    std::string session_prefix(const SessionRef& ref) const {
        return topology_.clients[ref.client].name + "/" + spec(ref).label;
    }

    FaultSpec draw(const FaultSpec* previous) {
        FaultSpec fault;
        fault.type = pick(types_);
        SessionRef session = previous ? previous_session_ : pick(sessions_);
        fault.at = previous ? offset_from(previous->at) : rng_.below(swarm_.window);
        fault.duration = in(swarm_.fault_duration);
        fill(fault, session, previous);
        previous_session_ = session;
        previous_path_ = fault.target;
        return fault;
    }

    Nanos offset_from(Nanos at) {
        const std::int64_t offset = in(swarm_.follow_up_offset);
        if (offset < 0 && static_cast<Nanos>(-offset) > at) return 0;
        return offset < 0 ? at - static_cast<Nanos>(-offset) : at + static_cast<Nanos>(offset);
    }

    // One path of the session (another than the previous fault's when it can), or all of them.
    std::string path_of(const SessionRef& session, bool follow) {
        const auto paths = static_cast<std::uint32_t>(spec(session).paths.size());
        if (percent(swarm_.session_wide_percent)) return session_prefix(session) + "/*";
        std::uint32_t index = static_cast<std::uint32_t>(rng_.below(paths));
        std::string target = fmt::format("{}/{}", session_prefix(session), index);
        if (follow && target == previous_path_ && paths > 1) {
            index = (index + 1 + static_cast<std::uint32_t>(rng_.below(paths - 1))) % paths;
            target = fmt::format("{}/{}", session_prefix(session), index);
        }
        return target;
    }

    // A device of the session, or (a session without devices) any device; `session` follows it.
    std::string device_of(SessionRef& session) {
        const SessionSpec& own = spec(session);
        if (!own.devices.empty()) return own.server + "/" + pick(own.devices);
        std::vector<SessionRef> mapping;
        for (const SessionRef& ref : sessions_) {
            if (!spec(ref).devices.empty()) mapping.push_back(ref);
        }
        session = pick(mapping);
        return spec(session).server + "/" + pick(spec(session).devices);
    }

    void fill(FaultSpec& fault, SessionRef& session, const FaultSpec* previous) {
        const bool follow = previous != nullptr && hits_paths(previous->type);
        switch (fault.type) {
            case FaultType::link_down:
            case FaultType::heartbeat_loss:
            case FaultType::clog:
            case FaultType::flap:
                fault.target = path_of(session, follow);
                fault.direction = pick(swarm_.directions);
                if (fault.type == FaultType::clog) fault.delay = draw_log_uniform(rng_, swarm_.clog_delay);
                if (fault.type == FaultType::flap) fault.period = std::max<Nanos>(2, fault.duration / (2 + rng_.below(6)));
                break;
            case FaultType::swizzle_clog:
                // Follow-ups swizzle the session's paths; others every path of the cluster.
                fault.target = previous ? session_prefix(session) + "/*" : "*";
                fault.delay = draw_log_uniform(rng_, swarm_.clog_delay);
                break;
            case FaultType::connection_error:
                fault.target = path_of(session, follow);
                fault.duration = 0;
                break;
            case FaultType::crash:
                fault.target = spec(session).server;
                if (swarm_.crash_duration) fault.duration = draw_log_uniform(rng_, *swarm_.crash_duration);
                break;
            case FaultType::rogue_client:
                fault.target = spec(session).server;
                fault.rogue = static_cast<RogueMode>(rng_.below(4));
                fault.period = kMs + rng_.below(4 * kMs);
                break;
            case FaultType::cm_reject:
                fault.target = spec(session).server;
                fault.count = static_cast<std::uint32_t>(1 + rng_.below(5));
                fault.duration = 0;
                break;
            case FaultType::storage_error:
                fault.target = device_of(session);
                fault.count = rng_.below(2) ? 0 : static_cast<std::uint32_t>(1 + rng_.below(20));
                break;
            case FaultType::storage_latency:
                fault.target = device_of(session);
                fault.delay = draw_log_uniform(rng_, swarm_.storage_fault_latency);
                fault.jitter = fault.delay / 2;
                break;
            case FaultType::cm_delay: fault.delay = kMs + rng_.below(50 * kMs); break;
        }
    }

    const SwarmSpec& swarm_;
    const Topology& topology_;
    fabric::sim::Rng& rng_;
    std::vector<SessionRef> sessions_;
    std::vector<FaultType> types_;
    SessionRef previous_session_;
    std::string previous_path_;
};

}  // namespace

std::vector<FaultSpec> draw_swarm_faults(const SwarmSpec& swarm, const Topology& topology, fabric::sim::Rng& rng,
                                         std::vector<std::string>& draws) {
    return FaultDrawer(swarm, topology, rng).run(draws);
}

}  // namespace ibnbd::scenario
