// Which reactor owns each session of a multi-reactor server, and the session names in use
// (ARCHITECTURE.md, "Threads in the daemons"). Every reactor's ibtrs::Server shares one directory:
// all connections of a session go to the reactor that owns it, so that a session's chunks, paths
// and requests stay on one thread; sessions are spread over the reactors.
//
// THREADING
//     Any thread; a mutex guards it. It is used per connect request, INFO exchange and session
//     loss, never per IO.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ibtrs/types.hpp"

namespace ibnbd::ibtrs {

class SessionDirectory {
public:
    explicit SessionDirectory(std::size_t reactors);

    // The reactor a connect request for `paths_uuid` goes to: its session's; a session not known
    // yet is placed, when the request may create it (first_conn), on the reactor with the fewest
    // sessions (the lowest index among equals). nullopt: unknown and not first_conn.
    std::optional<std::size_t> place(const Uuid& paths_uuid, bool first_conn);
    // Reactor `self` is about to create the session: returns the reactor that owns it, which is
    // `self` unless the session was placed elsewhere meanwhile (then the request goes there).
    std::size_t adopt(const Uuid& paths_uuid, std::size_t self);
    // Records the session's name. False when another session has that name.
    bool take_name(const Uuid& paths_uuid, std::string_view name);
    // The session is gone (from reactor `self`): its placement and name are free again. A newer
    // placement of the same uuid on another reactor is left alone.
    void drop(const Uuid& paths_uuid, std::size_t self);
    // Sessions placed on each reactor.
    std::vector<std::size_t> sessions_per_reactor() const;

private:
    struct Entry {
        std::size_t reactor = 0;
        std::string name;
    };
    std::size_t least_loaded() const;
    void insert(const Uuid& paths_uuid, std::size_t reactor);

    mutable std::mutex mutex_;
    std::map<Uuid, Entry> sessions_;
    std::vector<std::size_t> per_reactor_;
};

}  // namespace ibnbd::ibtrs
