// IBTRS server session (docs/protocol.md §1.1, §1.6, §1.7.6): the chunks a client session writes into
// (queue_depth × chunk_size, allocated once), the request slots, and responses.
//
// REQUESTS
//     ServerHandler::on_request() gets (data, usr): for a WRITE `data` holds the client's data; for
//     a READ it is where the upper layer puts the bytes to send back (up to the client's buffer
//     length). It returns 0 and later calls respond(id, status), from any event of the same
//     reactor, or returns a negative errno for an immediate error response. `data` and `usr` stay
//     valid until respond(). respond() never fails for the caller: a response for a path that
//     went away is dropped (the client fails the request over).
//     A chunk is used by one request at a time. A request that arrives for a chunk whose previous
//     request is still being processed (possible only after a client failover) waits until that
//     one is answered, so that an old write can never land after its re-issue. A path that
//     closed is kept, draining, until every request it brought is answered: until then its
//     reconnect is refused (server.hpp), so that no new request reaches a chunk storage still
//     reads or writes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/ibtrs/server_path.hpp"
#include "core/ibtrs/types.hpp"
#include "core/wire/rtrs.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class Server;
class ServerPath;
class ServerSession;

struct RequestId {
    std::uint32_t msg_id = 0;  // the chunk index
    std::uint32_t token = 0;   // changes with every request on the chunk
};

class ServerHandler {
public:
    virtual ~ServerHandler() = default;
    // The session's first path completed the INFO exchange. A non-zero return refuses the path.
    virtual int on_session_connected(ServerSession& session) = 0;
    // The session's last path closed. Requests still being processed may be answered later.
    virtual void on_session_disconnected(ServerSession& session) = 0;
    virtual int on_request(ServerSession& session, RequestId id, Dir dir, std::span<std::byte> data,
                           std::span<const std::byte> usr) = 0;
};

struct ServerSessionStats {
    std::uint64_t requests = 0;
    std::uint64_t responses = 0;
    std::uint64_t responses_dropped = 0;  // the request's path was gone
    std::uint64_t deferred = 0;           // requests that waited for their chunk (failover)
    std::uint64_t violations = 0;         // requests that closed a path
};

class ServerSession {
public:
    ServerSession(Server& server, const Uuid& paths_uuid, std::uint32_t queue_depth,
                  std::uint32_t chunk_size);
    ~ServerSession();
    ServerSession(const ServerSession&) = delete;
    ServerSession& operator=(const ServerSession&) = delete;

    void respond(RequestId id, int status);

    const std::string& name() const { return name_; }
    const Uuid& paths_uuid() const { return paths_uuid_; }
    std::uint32_t queue_depth() const { return queue_depth_; }
    std::uint32_t chunk_size() const { return chunk_size_; }
    std::size_t path_count() const { return paths_.size(); }
    std::size_t connected_paths() const;
    std::uint32_t busy_chunks() const { return busy_chunks_; }
    const ServerSessionStats& stats() const { return stats_; }
    std::vector<const ServerPath*> paths() const;
    // Closes every path of the session (e.g. an operator's disconnect).
    void close_all_paths(std::string_view reason);
    // Opaque pointer for the upper layer (the block device session).
    void* user_data = nullptr;

private:
    friend class Server;
    friend class ServerPath;

    // One chunk's request. STATES
    //   idle                no request
    //   busy                a request is with the upper layer (storage) until respond()
    //   busy_with_deferred  and a later request for the chunk (a re-issue after failover) waits
    //                       behind it; respond() starts it. A newer re-issue replaces it, and it
    //                       is dropped when its path is retired (busy again).
    // Transitions (asserted in set_slot_state): idle → busy → busy_with_deferred → busy | idle;
    // busy → idle; busy_with_deferred → busy_with_deferred (replaced).
    struct Slot {
        enum class State : std::uint8_t { idle, busy, busy_with_deferred };
        State state = State::idle;
        std::uint32_t token = 0;
        ServerPath* path = nullptr;  // cleared when the path is destroyed
        std::uint16_t cid = 0;
        ReadTarget read{};  // desc.len 0: no data to send back
        // The deferred request (busy_with_deferred only).
        ServerPath* deferred_path = nullptr;
        std::uint16_t deferred_cid = 0;
        std::uint32_t deferred_payload = 0;
        bool busy() const { return state != State::idle; }
        bool deferred_from(const ServerPath& from) const {
            return state == State::busy_with_deferred && deferred_path == &from;
        }
    };

    std::span<std::byte> chunk(std::uint32_t index) {
        return {chunks_.get() + std::size_t{index} * chunk_size_, chunk_size_};
    }
    std::span<std::byte> all_chunks() { return {chunks_.get(), std::size_t{queue_depth_} * chunk_size_}; }

    // Called by paths.
    void on_request(ServerPath& path, std::uint16_t cid, std::uint32_t msg_id, Dir dir,
                    std::uint32_t data_len, std::uint32_t usr_len, const ReadTarget& read);
    void defer(ServerPath& path, std::uint16_t cid, std::uint32_t msg_id, std::uint32_t payload);
    bool chunk_busy(std::uint32_t msg_id) const { return slots_[msg_id].busy(); }
    bool chunk_busy_on(std::uint32_t msg_id, const ServerPath& path) const;
    // Chunks whose request came through `path` and is still with the upper layer (storage).
    std::uint32_t busy_chunks_of(const ServerPath& path) const;

    // Called by the Server. A closed path: destroyed, or kept draining while chunks are busy
    // with its requests (its deferred requests are dropped either way).
    void retire_path(std::unique_ptr<ServerPath> path);
    void forget_drained_paths();
    ServerPath* draining_path(const Uuid& sess_uuid) const;
    void drop_paths();
    void forget_path(ServerPath& path);
    void set_slot_state(std::uint32_t msg_id, Slot::State to);
    static bool slot_transition_allowed(Slot::State from, Slot::State to);
    void drop_deferred_from(const ServerPath& path);

    Server& server_;
    const Uuid paths_uuid_;
    std::string name_;
    const std::uint32_t queue_depth_;
    const std::uint32_t chunk_size_;
    struct Unmap {
        std::size_t bytes;
        void operator()(std::byte* p) const;
    };
    std::unique_ptr<std::byte, Unmap> chunks_;
    std::vector<Slot> slots_;
    std::uint32_t busy_chunks_ = 0;
    std::map<Uuid, std::unique_ptr<ServerPath>> paths_;  // by sess_uuid
    std::vector<std::unique_ptr<ServerPath>> draining_paths_;  // closed, chunks still busy
    bool announced_ = false;  // on_session_connected returned 0
    ServerSessionStats stats_;
};

}  // namespace ibnbd::ibtrs
