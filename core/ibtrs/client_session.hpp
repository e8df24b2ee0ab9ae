// IBTRS client session (protocol.md §1, design.md §4): a group of paths to one server sharing
// one set of permits (the server's chunks), a multipath policy, failover and reconnect.
//
// LIFECYCLE
//     create() checks the configuration; start() connects every path (each with one service
//     connection, cid 0, and config.io_connections IO connections, established in order, then the
//     INFO exchange). on_open(0) is reported when the first path is connected; on_open(-errno)
//     when every path failed its first attempt (the paths are then closed). Paths that fail later
//     reconnect by themselves (delay × 2^attempt capped, plus jitter from the fabric's random
//     stream) until max_reconnect_attempts is used up (-1: forever, 0: never).
//     close() disconnects every path; the session must then stay alive until closed() is true.
//
// IO
//     get_permit() / get_permit_wait() / put_permit(): session-wide permits, one per server chunk.
//     request(): submits one request on the permit; `usr` (the user message, e.g. an RNBD header) is
//     copied, `data` must stay valid and registered until the completion:
//       write: 0..3 local entries, sent with the user message in one write-with-immediate;
//       read:  0 or 1 entry with remote-write access (read_buffer() gives the permit's buffer from
//              the pool registered once at setup); the server writes the data and the response
//              in one write-with-immediate.
//     Errors returned at once (the handler is not called): -EINVAL (bad permit, too many entries,
//     read buffer without remote-write access), -EMSGSIZE (user message or data too large),
//     -ECONNABORTED (no connected path and queue_while_reconnecting is 0), -EBUSY (permit already
//     has a request).
//     Otherwise the handler is called exactly once with 0 or a negative errno: the server's errno
//     from the response, -ECONNABORTED when the path failed and no other path took the request, or
//     -ETIMEDOUT when it waited longer than queue_while_reconnecting for a path. A request whose
//     path fails is re-issued, with the same chunk, on another connected path once every
//     connection of the failed path has drained (failover; counted in PathStats::failovered).
//     Server errors are never retried. The handler may submit new requests and put the permit.
//
// LIMITS
//     1..128 paths; requests in flight ≤ queue_depth (server's); user message ≤ max_hdr_size - 4
//     (write) or max_hdr_size - 24 (read); data ≤ max_io_size. Nothing on the IO path allocates.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/ibtrs/mp_policy.hpp"
#include "core/ibtrs/permit_pool.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "core/ibtrs/types.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class ClientPath;

class IoHandler {
public:
    virtual ~IoHandler() = default;
    virtual void on_io_complete(std::uint64_t cookie, int status) = 0;
};

class ClientSessionHandler : public ClientEventListener {
public:
    virtual void on_open(int status) = 0;
};

struct PathSpec {
    fabric::Address source;       // empty host: any
    fabric::Address destination;  // port 0: the session's default port
};

// One request in flight, indexed by its permit. Pre-allocated for queue_depth.
struct RequestSlot {
    enum class State : std::uint8_t { free, inflight, queued };
    State state = State::free;
    Dir dir = Dir::write;
    bool local_done = false;     // our write-with-imm completed locally
    bool response_done = false;  // the server's response arrived
    std::uint8_t data_count = 0;
    std::uint16_t usr_len = 0;
    std::uint16_t cid = 0;
    std::uint16_t generation = 0;
    std::uint32_t path = 0;
    std::uint32_t data_len = 0;
    std::uint32_t hdr_len = 0;  // bytes of the header area to send (usr + RTRS message)
    int response_status = 0;
    std::array<fabric::Sge, 3> data{};
    IoHandler* handler = nullptr;
    std::uint64_t cookie = 0;
    PathSet tried;  // paths this request has already been on (failover)
    fabric::Nanos queue_deadline = 0;
};

class ClientSession {
public:
    // Errors: -EINVAL (no paths, more than 128, bad session name, 0 IO connections).
    static Expected<std::unique_ptr<ClientSession>, int> create(fabric::Fabric& fabric,
                                                                ClientConfig config,
                                                                std::vector<PathSpec> paths,
                                                                ClientSessionHandler& handler);
    ~ClientSession();
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    void start();
    void close();
    bool closed() const;

    // ---- IO ----
    std::optional<Permit> get_permit() { return permits_.try_get(); }
    std::optional<Permit> get_permit_wait(PermitWaiter& waiter) { return permits_.get_or_wait(waiter); }
    void put_permit(Permit permit) { permits_.put(permit); }
    // Stops waiting for a permit; false if `waiter` was not waiting.
    bool cancel_permit_wait(PermitWaiter& waiter) { return permits_.cancel_wait(waiter); }
    Status<int> request(Dir dir, Permit permit, std::span<const std::byte> usr,
                        std::span<const fabric::Sge> data, IoHandler& handler, std::uint64_t cookie);
    // The permit's buffer in the read pool (max_io_size bytes, remote-write registered).
    fabric::Sge read_buffer(Permit permit, std::uint32_t length) const;
    std::span<std::byte> read_buffer_bytes(Permit permit) const;

    // ---- runtime operations (kernel sysfs names) ----
    // Adds a path and starts connecting it. Errors: -EINVAL (128 paths), -EEXIST (same src/dst).
    Expected<std::uint32_t, int> add_path(const PathSpec& spec);
    // Closes the path (its IO fails over) and removes it once closed. Errors: -ENOENT, -EBUSY
    // (the last path while requests are in flight).
    Status<int> remove_path(std::uint32_t index);
    // Forces a reconnect now (resets the attempt counter). Errors: -ENOENT, -EBUSY (closing).
    Status<int> reconnect_path(std::uint32_t index);
    // Closes the path and leaves it closed (no auto-reconnect). Errors: -ENOENT.
    Status<int> disconnect_path(std::uint32_t index);
    void set_policy(MpPolicy policy) { config_.policy = policy; }

    // ---- state and stats ----
    MpPolicy policy() const { return config_.policy; }
    std::uint32_t queue_depth() const { return queue_depth_; }
    std::uint32_t max_io_size() const { return max_io_size_; }
    std::uint32_t max_user_message() const;
    std::size_t path_count() const;
    std::size_t connected_paths() const { return connected_paths_; }
    // Path by index; indices are stable, removed paths leave a hole (nullptr).
    const ClientPath* path(std::uint32_t index) const;
    const SessionStats& stats() const { return stats_; }
    const ClientConfig& config() const { return config_; }
    const Uuid& paths_uuid() const { return paths_uuid_; }
    std::uint32_t permits_in_use() const { return permits_.in_use(); }

private:
    friend class ClientPath;
    class QueueTimer;

    ClientSession(fabric::Fabric& fabric, ClientConfig config, ClientSessionHandler& handler);

    // Called by paths.
    int setup_pools(std::uint32_t queue_depth, std::uint32_t max_io_size, std::uint32_t max_hdr_size);
    void on_path_connected(ClientPath& path);
    void on_path_lost(ClientPath& path);
    void on_path_drained(ClientPath& path);
    void on_path_first_attempt_failed(ClientPath& path);
    void on_response(ClientPath& path, std::uint32_t msg_id, int status);
    void on_request_posted_done(ClientPath& path, std::uint32_t slot);

    Status<int> check_request(Dir dir, Permit permit, std::span<const std::byte> usr,
                              std::span<const fabric::Sge> data) const;
    void encode_header(RequestSlot& slot, Permit permit, std::span<const std::byte> usr);
    // Puts the request on a path chosen by the policy; false when no path took it.
    bool dispatch(Permit permit);
    void dispatch_or_fail(Permit permit, int error);
    void complete(Permit permit, int status);
    void queue(Permit permit);
    void flush_queue();
    void expire_queue();
    void arm_queue_timer();
    std::span<const PathView> path_views();

    fabric::Fabric& fabric_;
    ClientConfig config_;
    ClientSessionHandler& handler_;
    Uuid paths_uuid_{};
    std::vector<std::unique_ptr<ClientPath>> paths_;
    std::vector<PathView> path_views_;
    PathSelector selector_;
    PermitPool permits_;
    std::vector<RequestSlot> slots_;
    RegisteredBuffer headers_;    // queue_depth × max_hdr_size: user message + RTRS message
    RegisteredBuffer read_pool_;  // queue_depth × max_io_size
    std::uint32_t queue_depth_ = 0;
    std::uint32_t max_io_size_ = 0;
    std::uint32_t max_hdr_size_ = 0;
    std::uint64_t chunk_size_ = 0;
    std::vector<Permit> queued_;  // FIFO of requests waiting for a path; capacity queue_depth
    std::unique_ptr<QueueTimer> queue_timer_;
    std::size_t connected_paths_ = 0;
    bool open_reported_ = false;
    bool closing_ = false;
    SessionStats stats_;
};

}  // namespace ibnbd::ibtrs
