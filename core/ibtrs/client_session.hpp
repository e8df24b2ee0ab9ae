// IBTRS client session (docs/protocol.md §1; ARCHITECTURE.md): a group of paths to one server sharing
// one set of permits (the server's chunks), a multipath policy, failover and reconnect.
//
// LIFECYCLE
//     create() checks the configuration; start() connects the first path (one service
//     connection, cid 0, and config.io_connections IO connections, established in order, then the
//     INFO exchange), and the others once it is connected (each after the one before when the
//     first attempts fail): as the kernel does, so that only one path may create the server's
//     session (first_conn) and the others join it. on_open(0) is reported when the first path is connected; on_open(-errno)
//     when every path failed its first attempt (the paths are then closed). Paths that fail later
//     reconnect by themselves (delay × 2^attempt capped, plus jitter from the fabric's random
//     stream) until max_reconnect_attempts is used up (-1: forever, 0: never).
//     close() disconnects every path; the session must then stay alive until closed() is true.
//
// SHARDS (shard_control.hpp, io_shard.hpp)
//     The session is the control part: cid 0 of every path (handshake, INFO, heartbeats), path
//     states, reconnect. IO runs in shards, one per reactor: shard 0 on the session's fabric, one
//     more per ShardLayout::remote entry, each on its own fabric and thread. Every shard opens
//     config.io_connections IO connections per path on its fabric (cids 1 + s·n .. n + s·n for
//     shard s of n connections each) and owns an equal share of the chunks (permits); a request
//     stays on the shard it was submitted to. A path is connected once cid 0 and every shard's
//     connections are up and INFO is done; it fails when any of them fails, and reconnects only
//     after every shard has drained it.
//
// IO
//     get_permit() / get_permit_or_queue() / put_permit(): permits, one per server chunk; the session's
//     methods use shard 0's share, shard(s) gives shard s's.
//     request(): submits one request on the permit; `usr` (the user message, e.g. an RNBD header) is
//     copied, `data` must stay valid and registered until the completion:
//       write: 0..3 local entries, sent with the user message in one write-with-immediate;
//       read:  0 or 1 entry with remote-write access (read_buffer() gives the permit's buffer from
//              the pool registered once at setup); the server writes the data and the response
//              in one write-with-immediate.
//     Errors returned at once (the handler is not called): -EINVAL (bad permit, too many entries,
//     read buffer without remote-write access), -EMSGSIZE (user message or data too large),
//     -ECONNABORTED (no connected path: like the kernel's RTRS, the transport never waits for
//     one; waiting is the block layer's), -EBUSY (permit already has a request).
//     Otherwise the handler is called exactly once with 0 or a negative errno: the server's errno
//     from the response, or -ECONNABORTED when the path failed and no other path took the
//     request. A request whose path fails is re-issued, with the same chunk, on another connected
//     path once every connection of the failed path has drained (failover; counted in
//     PathStats::failovered).
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

#include "core/ibtrs/io_shard.hpp"
#include "core/ibtrs/mp_policy.hpp"
#include "core/ibtrs/permit_pool.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "core/ibtrs/shard_control.hpp"
#include "core/ibtrs/test_hooks.hpp"
#include "core/ibtrs/types.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class ClientPath;

class ClientSessionHandler : public ClientEventListener {
public:
    virtual void on_open(int status) = 0;
};

struct PathSpec {
    fabric::Address source;       // empty host: any
    fabric::Address destination;  // port 0: the session's default port
};

// An IO shard on another thread: its fabric (used only from that thread) and the mailbox that runs
// tasks there.
struct RemoteShard {
    fabric::Fabric* fabric = nullptr;
    Mailbox* mailbox = nullptr;
};

// Where the session's IO shards run. Shard 0 always runs on the session's fabric; `remote` adds
// one shard each. `home` runs tasks on the session's thread (needed when `remote` is not empty).
struct ShardLayout {
    Mailbox* home = nullptr;
    std::vector<RemoteShard> remote;
};

class ClientSession {
public:
    // Errors: -EINVAL (no paths, more than 128, bad session name, 0 IO connections, more
    // connections per path than the protocol allows, remote shards without a home mailbox).
    static Expected<std::unique_ptr<ClientSession>, int> create(fabric::Fabric& fabric,
                                                                ClientConfig config,
                                                                std::vector<PathSpec> paths,
                                                                ClientSessionHandler& handler,
                                                                ShardLayout layout = {});
    // Remote shards are destroyed on their own threads, through their mailboxes.
    ~ClientSession();
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    void start();
    void close();
    bool closed() const;

    // ---- IO: shard 0's (see IoShard); the session's thread only ----
    std::optional<Permit> get_permit() { return home_shard().get_permit(); }
    std::optional<Permit> get_permit_or_queue(PermitQueueEntry& entry) {
        return home_shard().get_permit_or_queue(entry);
    }
    void put_permit(Permit permit) { home_shard().put_permit(permit); }
    // Takes `entry` out of the permit queue; false if it was not queued.
    bool cancel_queued_permit(PermitQueueEntry& entry) { return home_shard().cancel_queued_permit(entry); }
    Status<int> request(Dir dir, Permit permit, std::span<const std::byte> usr,
                        std::span<const fabric::Sge> data, IoHandler& handler, std::uint64_t cookie) {
        return home_shard().request(dir, permit, usr, data, handler, cookie);
    }
    // The permit's buffer in the read pool (max_io_size bytes, remote-write registered).
    fabric::Sge read_buffer(Permit permit, std::uint32_t length) const {
        return shards_[0].shard->read_buffer(permit, length);
    }
    std::span<std::byte> read_buffer_bytes(Permit permit) const { return shards_[0].shard->read_buffer_bytes(permit); }
    // Shard `index` (0 .. shard_count() - 1): use it only from its own thread.
    IoShard& shard(std::size_t index) { return *shards_[index].shard; }
    const IoShard& shard(std::size_t index) const { return *shards_[index].shard; }
    std::size_t shard_count() const { return shards_.size(); }

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
    void set_policy(MpPolicy policy);

    // ---- state and stats (counters summed over the shards) ----
    MpPolicy policy() const { return config_.policy; }
    std::uint32_t queue_depth() const { return params_.queue_depth; }
    std::uint32_t max_io_size() const { return params_.max_io_size; }
    std::uint32_t max_user_message() const;
    std::size_t path_count() const;
    std::size_t connected_paths() const { return connected_paths_; }
    // Path by index; indices are stable, removed paths leave a hole (nullptr).
    const ClientPath* path(std::uint32_t index) const;
    SessionStats stats() const;
    const ClientConfig& config() const { return config_; }
    // Tests only (test_hooks.hpp); read when a path fails over.
    ClientTestHooks& test_hooks() { return test_hooks_; }
    const Uuid& paths_uuid() const { return paths_uuid_; }
    std::uint32_t permits_in_use() const;

private:
    friend class ClientPath;
    class Relay;
    struct ShardSlot {
        std::unique_ptr<IoShard> shard;
        Mailbox* mailbox = nullptr;  // nullptr: the session's own thread
    };

    ClientSession(fabric::Fabric& fabric, ClientConfig config, ClientSessionHandler& handler);

    IoShard& home_shard() { return *shards_[0].shard; }
    // Runs `action(shard)` for every shard, on the shard's thread.
    template <class Action>
    void each_shard(const Action& action);
    void add_shards(const ShardLayout& layout);

    // Called by paths.
    int adopt_params(const SessionParams& params);
    void connect_lanes(const ClientPath& path, const wire::ConnReq& request);
    void lanes_up(const ClientPath& path, const std::vector<wire::RemoteChunk>& chunks);
    void drain_lanes(const ClientPath& path, bool at_once);
    void share_latency(const ClientPath& path, fabric::Nanos latency);
    void on_path_connected(ClientPath& path);
    void on_path_lost(ClientPath& path);
    void on_path_first_attempt_failed(ClientPath& path);
    void on_server_forgot_session(ClientPath& reporter);
    void start_next_path();
    std::uint16_t cid_num() const;

    // Shard reports (through Relay).
    void on_lane_established(std::uint32_t path, std::uint16_t generation);
    void on_lane_failed(std::uint32_t path, std::uint16_t generation, const std::string& reason);
    void on_lane_drained(std::uint32_t path, std::uint16_t generation);
    void on_lane_failover(std::uint32_t from, std::uint32_t to, std::uint32_t ios);
    ClientPath* live_path(std::uint32_t index);

    fabric::Fabric& fabric_;
    ClientConfig config_;
    ClientTestHooks test_hooks_;
    ClientSessionHandler& handler_;
    Uuid paths_uuid_{};
    std::vector<std::unique_ptr<ClientPath>> paths_;
    std::size_t paths_started_ = 0;  // paths_[0 .. paths_started_) have started
    std::shared_ptr<Relay> relay_;
    std::vector<ShardSlot> shards_;
    SessionParams params_;
    std::uint64_t chunk_size_ = 0;
    std::size_t connected_paths_ = 0;
    std::uint64_t server_session_lost_ = 0;
    bool open_reported_ = false;
};

}  // namespace ibnbd::ibtrs
