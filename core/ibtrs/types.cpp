#include "core/ibtrs/types.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace ibnbd::ibtrs {

std::string_view to_string(MpPolicy policy) {
    switch (policy) {
        case MpPolicy::round_robin: return "round-robin";
        case MpPolicy::min_inflight: return "min-inflight";
        case MpPolicy::min_latency: return "min-latency";
    }
    return "unknown";
}

bool parse_mp_policy(std::string_view text, MpPolicy& out) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "round-robin" || lower == "rr" || lower == "0") {
        out = MpPolicy::round_robin;
    } else if (lower == "min-inflight" || lower == "mi" || lower == "1") {
        out = MpPolicy::min_inflight;
    } else if (lower == "min-latency" || lower == "ml" || lower == "2") {
        out = MpPolicy::min_latency;
    } else {
        return false;
    }
    return true;
}

std::string_view to_string(ClientPathState state) {
    switch (state) {
        case ClientPathState::connecting: return "connecting";
        case ClientPathState::connecting_err: return "connecting-error";
        case ClientPathState::reconnecting: return "reconnecting";
        case ClientPathState::connected: return "connected";
        case ClientPathState::closing: return "closing";
        case ClientPathState::closed: return "closed";
        case ClientPathState::dead: return "dead";
    }
    return "unknown";
}

bool transition_allowed(ClientPathState from, ClientPathState to) {
    using S = ClientPathState;
    switch (to) {
        case S::connecting: return from == S::reconnecting;
        case S::reconnecting:
            return from == S::connected || from == S::connecting_err || from == S::closed;
        case S::connected: return from == S::connecting;
        case S::connecting_err: return from == S::connecting;
        case S::closing:
            return from == S::connecting || from == S::connecting_err || from == S::reconnecting ||
                   from == S::connected;
        case S::closed: return from == S::closing;
        case S::dead: return from == S::closed;
    }
    return false;
}

std::string_view to_string(ServerPathState state) {
    switch (state) {
        case ServerPathState::connecting: return "connecting";
        case ServerPathState::connected: return "connected";
        case ServerPathState::closing: return "closing";
        case ServerPathState::closed: return "closed";
    }
    return "unknown";
}

bool transition_allowed(ServerPathState from, ServerPathState to) {
    using S = ServerPathState;
    switch (to) {
        case S::connected: return from == S::connecting;
        case S::closing: return from == S::connecting || from == S::connected;
        case S::closed: return from == S::closing;
        case S::connecting: return false;
    }
    return false;
}

}  // namespace ibnbd::ibtrs
