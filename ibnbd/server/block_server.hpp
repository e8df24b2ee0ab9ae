// The IBNBD server (docs/protocol.md §3): passive. It serves whatever a client opens under
// dev_search_path; nothing is exported explicitly. Plug it into an ibtrs::Server as its handler.
//
// MESSAGES (all results travel as the IBTRS response errno)
//   SESS_INFO  (RTRS read)  negotiates the major version (min(client, 2)); response in the data
//   OPEN       (RTRS read)  resolves the name (device_resolver.hpp), applies the access mode
//                           (device_table.hpp), gives a per-session device id that is never reused,
//                           and answers with OPEN_RSP filled from the real store; opening a name the
//                           session already has open returns the same id (remap)
//   CLOSE      (RTRS write) releases the device once its in-flight IO is done; unknown ids: 0
//   IO         (RTRS read for READ, write for the rest) goes to storage; -ENOTCONN for an id the
//                           session has not open, -ENODEV for a force-closed id, -EINVAL for a bad
//                           op, a data length other than bi_size, or a direction that does not fit
//                           the op, -EROFS for a write-type op on a read-only mapping, and the
//                           storage's errno (never -EAGAIN: IO that finds the storage queue full
//                           waits for room; -ENODEV from storage goes out as -EIO)
// Every device of a session is released when the session's last path goes. A device whose old
// session still has IO in flight is not opened again (OPEN waits) until that IO has completed,
// so that a write of the old session cannot land after the new session's writes.
//
// REACTORS
//     A server on several reactors has one BlockServer per reactor (each with its own storage
//     backend, for its own io_uring), serving the sessions of that reactor's ibtrs::Server. They
//     share a DeviceLedger (BlockServerConfig::ledger), so the access-mode rules and the wait for an
//     old session's IO hold over all reactors; wake_on_drain() makes a drain that ends on one
//     reactor retry the waiting OPENs of every reactor, on their threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/ibtrs/server.hpp"
#include "core/wire/rnbd.hpp"
#include "ibnbd/server/device_resolver.hpp"
#include "ibnbd/server/device_table.hpp"
#include "ibnbd/storage/device.hpp"

namespace ibnbd::block {

struct BlockServerConfig {
    std::string dev_search_path = "/";
    DeviceLedger* ledger = nullptr;  // shared by the reactors of a server; null: a ledger of its own
};

struct BlockServerStats {
    std::uint64_t sessions_opened = 0;
    std::uint64_t opens = 0;
    std::uint64_t opens_refused = 0;
    std::uint64_t closes = 0;
    std::uint64_t ios = 0;
    std::uint64_t ios_deferred = 0;  // IO deferred for want of room in the storage queue
    std::uint64_t io_errors = 0;
    std::uint64_t bad_requests = 0;
};

// What an operator sees of one mapping: a session's open of a device (`list`).
struct MappingInfo {
    std::string session;
    std::uint32_t device_id = 0;
    std::string name;
    std::string path;
    wire::AccessMode mode = wire::AccessMode::ro;
    std::uint32_t inflight = 0;
};

class BlockServer : public ibtrs::ServerHandler, private storage::CompletionHandler {
public:
    BlockServer(storage::Backend& backend, BlockServerConfig config);
    ~BlockServer() override;

    int on_session_connected(ibtrs::ServerSession& session) override;
    void on_session_disconnected(ibtrs::ServerSession& session) override;
    int on_request(ibtrs::ServerSession& session, ibtrs::RequestId id, ibtrs::Dir dir,
                   std::span<std::byte> data, std::span<const std::byte> usr) override;

    // Server-side close of one session's device: later IO with that id fails with -ENODEV and
    // the id is not reused. Errors: -ENOENT (no such session or device).
    Status<int> force_close(std::string_view session, std::uint32_t device_id);

    std::vector<MappingInfo> devices() const;
    // Submits a flush to every open device (shutdown); returns how many completions will follow
    // on `handler`.
    std::size_t flush_devices(storage::CompletionHandler& handler);
    // Retries the OPENs that wait for an old session's IO (a drain ended on another reactor).
    void retry_deferred_opens();
    // Requests in flight to storage, over every session.
    std::uint32_t inflight() const;
    const BlockServerStats& stats() const { return stats_; }
    std::size_t open_devices() const { return table_.size(); }

private:
    struct SessionDevice;
    struct BlockSession;
    struct IoContext {
        BlockSession* session = nullptr;
        SessionDevice* device = nullptr;
        ibtrs::RequestId id{};
        storage::Request request;
        IoContext* next_deferred = nullptr;
    };
    struct DeferredOpen {
        BlockSession* session;
        ibtrs::RequestId id;
        wire::RnbdOpen message;
        std::span<std::byte> response;
    };

    void on_storage_complete(std::uint64_t cookie, int status) override;
    // Storage with no room (-EAGAIN: its slots are shared by every session) defers IO here,
    // in arrival order, until a completion frees one; it is never failed for that.
    void defer_io(IoContext& context);
    void submit_deferred();
    void finish_io(IoContext& context, int status);

    int handle_sess_info(BlockSession& session, ibtrs::Dir dir, std::span<std::byte> data,
                         std::span<const std::byte> usr);
    int handle_open(BlockSession& session, ibtrs::RequestId id, ibtrs::Dir dir, std::span<std::byte> data,
                    std::span<const std::byte> usr);
    int open_device(BlockSession& session, const wire::RnbdOpen& message, std::span<std::byte> response);
    int handle_close(BlockSession& session, ibtrs::RequestId id, std::span<const std::byte> usr);
    int handle_io(BlockSession& session, ibtrs::RequestId id, ibtrs::Dir dir, std::span<std::byte> data,
                  std::span<const std::byte> usr);

    void detach(BlockSession& session, SessionDevice& device);
    void finish_detach(BlockSession& session, SessionDevice& device);
    void forget_session_if_done(BlockSession& session);

    DeviceResolver resolver_;
    DeviceLedger own_ledger_;
    DeviceLedger& ledger_;
    DeviceTable table_;
    std::vector<std::unique_ptr<BlockSession>> sessions_;
    std::vector<DeferredOpen> deferred_opens_;
    IoContext* deferred_head_ = nullptr;  // FIFO through IoContext::next_deferred
    IoContext* deferred_tail_ = nullptr;
    BlockServerStats stats_;
};

// One reactor's BlockServer and the mailbox to its thread.
struct BlockReactor {
    ibtrs::Mailbox* mailbox = nullptr;
    BlockServer* blocks = nullptr;
};

// Sets the ledger's on_drained hook: each reactor's retry_deferred_opens() runs on its thread.
void wake_on_drain(DeviceLedger& ledger, std::vector<BlockReactor> reactors);

}  // namespace ibnbd::block
