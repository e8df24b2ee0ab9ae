#include "ibnbd/server/block_server.hpp"

#include <algorithm>
#include <cerrno>
#include <optional>

#include "core/log.hpp"
#include "core/wire/rtrs.hpp"

namespace ibnbd::block {

using ibtrs::Dir;

struct BlockServer::SessionDevice {
    std::uint32_t id = 0;
    std::string name;
    wire::AccessMode mode = wire::AccessMode::ro;
    OpenDevice* open = nullptr;
    std::uint32_t inflight = 0;
    bool detaching = false;                         // closed, force-closed or session gone
    bool drain_counted = false;                     // in the ledger: session gone, IO in flight
    std::optional<ibtrs::RequestId> close_request;  // a CLOSE answered once drained
};

struct BlockServer::BlockSession {
    ibtrs::ServerSession* transport = nullptr;
    std::string name;
    std::uint8_t version = wire::kRnbdVersionMajor;
    std::map<std::uint32_t, std::unique_ptr<SessionDevice>> devices;
    std::set<std::uint32_t> retired_ids;  // force-closed: never reused, IO fails
    std::uint32_t next_id = 0;
    std::vector<IoContext> ios;  // by IBTRS msg_id: one request per chunk at a time
    bool disconnected = false;
};

BlockServer::BlockServer(storage::Backend& backend, BlockServerConfig config)
    : resolver_(backend, std::move(config.dev_search_path)),
      ledger_(config.ledger != nullptr ? *config.ledger : own_ledger_),
      table_(backend, ledger_) {}

BlockServer::~BlockServer() {
    for (auto& session : sessions_) {
        for (auto& [id, device] : session->devices) table_.release(*device->open, device->mode);
    }
}

int BlockServer::on_session_connected(ibtrs::ServerSession& transport) {
    auto session = std::make_unique<BlockSession>();
    session->transport = &transport;
    session->name = transport.name();
    session->ios.resize(transport.queue_depth());
    transport.user_data = session.get();
    sessions_.push_back(std::move(session));
    ++stats_.sessions_opened;
    log().debug("ibnbd server: session {} connected", transport.name());
    return 0;
}

void BlockServer::on_session_disconnected(ibtrs::ServerSession& transport) {
    auto* session = static_cast<BlockSession*>(transport.user_data);
    if (session == nullptr) return;
    transport.user_data = nullptr;
    session->disconnected = true;
    log().debug("ibnbd server: session {} disconnected, releasing {} devices", session->name,
                session->devices.size());
    std::erase_if(deferred_opens_, [&](const DeferredOpen& pending) {
        if (pending.session != session) return false;
        session->transport->respond(pending.id, -ENOTCONN);
        return true;
    });
    if (session->devices.empty()) return forget_session_if_done(*session);
    std::vector<SessionDevice*> devices;
    for (auto& [id, device] : session->devices) devices.push_back(device.get());
    // The last device to detach without IO in flight frees the session: nothing may touch it after.
    for (SessionDevice* device : devices) detach(*session, *device);
}

int BlockServer::on_request(ibtrs::ServerSession& transport, ibtrs::RequestId id, Dir dir,
                            std::span<std::byte> data, std::span<const std::byte> usr) {
    auto* session = static_cast<BlockSession*>(transport.user_data);
    if (session == nullptr) return -ENOTCONN;
    const auto type = wire::decode_rnbd_type(usr);
    if (!type) {
        ++stats_.bad_requests;
        return -EINVAL;
    }
    switch (*type) {
        case wire::RnbdMsgType::io: return handle_io(*session, id, dir, data, usr);
        case wire::RnbdMsgType::sess_info: {
            const int status = handle_sess_info(*session, dir, data, usr);
            if (status == 0) transport.respond(id, 0);
            return status;
        }
        case wire::RnbdMsgType::open: return handle_open(*session, id, dir, data, usr);
        case wire::RnbdMsgType::close: return handle_close(*session, id, usr);
        default:
            ++stats_.bad_requests;
            return -EINVAL;
    }
}

int BlockServer::handle_sess_info(BlockSession& session, Dir dir, std::span<std::byte> data,
                                  std::span<const std::byte> usr) {
    const auto message = wire::decode_rnbd_sess_info(usr);
    if (!message || dir != Dir::read || data.size() < wire::kRnbdSessInfoRspSize) {
        ++stats_.bad_requests;
        return -EINVAL;
    }
    session.version = std::min(message->ver, wire::kRnbdVersionMajor);
    std::fill(data.begin(), data.end(), std::byte{0});
    (void)wire::encode_rnbd_sess_info_rsp({session.version}, data);
    return 0;
}

// ---- OPEN / CLOSE --------------------------------------------------------------------------------

int BlockServer::handle_open(BlockSession& session, ibtrs::RequestId id, Dir dir, std::span<std::byte> data,
                             std::span<const std::byte> usr) {
    auto message = wire::decode_rnbd_open(usr);
    if (!message || dir != Dir::read || data.size() < wire::kRnbdOpenRspSize) {
        ++stats_.bad_requests;
        return -EINVAL;
    }
    const int status = open_device(session, *message, data);
    if (status == -EINPROGRESS) {
        deferred_opens_.push_back({&session, id, std::move(message.value()), data});
        return 0;
    }
    if (status != 0) {
        ++stats_.opens_refused;
        log().debug("ibnbd server: session {} open '{}' refused: errno {}", session.name, message->dev_name, -status);
        return status;
    }
    session.transport->respond(id, 0);
    return 0;
}

int BlockServer::open_device(BlockSession& session, const wire::RnbdOpen& message, std::span<std::byte> response) {
    SessionDevice* device = nullptr;
    for (auto& [id, existing] : session.devices) {
        if (existing->name == message.dev_name && !existing->detaching) device = existing.get();
    }
    if (device == nullptr) {
        auto path = resolver_.resolve(session.name, message.dev_name);
        if (!path) return path.error();
        auto open = table_.acquire(*path, message.access_mode);
        if (!open) return open.error();
        auto created = std::make_unique<SessionDevice>();
        created->id = session.next_id++;
        created->name = message.dev_name;
        created->mode = message.access_mode;
        created->open = *open;
        device = created.get();
        session.devices.emplace(created->id, std::move(created));
    }
    const storage::Geometry& geometry = device->open->device->geometry();
    const std::uint32_t transport_sectors = (session.transport->chunk_size() - wire::kMaxHdrSize) / 512;
    wire::RnbdOpenRsp rsp;
    rsp.device_id = device->id;
    rsp.nsectors = geometry.size_bytes / 512;
    rsp.max_hw_sectors = geometry.max_hw_sectors ? std::min(geometry.max_hw_sectors, transport_sectors)
                                                 : transport_sectors;
    rsp.max_write_zeroes_sectors = geometry.max_write_zeroes_sectors;
    rsp.max_discard_sectors = geometry.max_discard_sectors;
    rsp.discard_granularity = geometry.discard_granularity;
    rsp.discard_alignment = geometry.discard_alignment;
    rsp.physical_block_size = static_cast<std::uint16_t>(geometry.physical_block_size);
    rsp.logical_block_size = static_cast<std::uint16_t>(geometry.logical_block_size);
    rsp.max_segments = static_cast<std::uint16_t>(wire::kMaxSegments);
    rsp.secure_discard = geometry.secure_discard ? 1 : 0;
    rsp.cache_policy = static_cast<std::uint8_t>((geometry.volatile_write_cache ? wire::kRnbdCacheWriteback : 0) |
                                                 (geometry.fua ? wire::kRnbdCacheFua : 0));
    std::fill(response.begin(), response.end(), std::byte{0});
    (void)wire::encode_rnbd_open_rsp(rsp, response);
    ++stats_.opens;
    return 0;
}

void BlockServer::retry_deferred_opens() {
    auto pending = std::move(deferred_opens_);
    deferred_opens_.clear();
    for (auto& open : pending) {
        const int status = open_device(*open.session, open.message, open.response);
        if (status == -EINPROGRESS) {
            deferred_opens_.push_back(std::move(open));
        } else {
            open.session->transport->respond(open.id, status);
        }
    }
}

int BlockServer::handle_close(BlockSession& session, ibtrs::RequestId id, std::span<const std::byte> usr) {
    const auto message = wire::decode_rnbd_close(usr);
    if (!message) {
        ++stats_.bad_requests;
        return -EINVAL;
    }
    ++stats_.closes;
    const auto found = session.devices.find(message->device_id);
    if (found == session.devices.end() || found->second->detaching) {
        session.transport->respond(id, 0);  // unknown ids close successfully, as in the kernel
        return 0;
    }
    found->second->close_request = id;
    detach(session, *found->second);
    return 0;
}

void BlockServer::detach(BlockSession& session, SessionDevice& device) {
    device.detaching = true;
    if (device.inflight == 0) return finish_detach(session, device);
    if (session.disconnected && !device.drain_counted) {
        device.drain_counted = true;
        ledger_.begin_drain(device.open->device->identity());
    }
}

void BlockServer::finish_detach(BlockSession& session, SessionDevice& device) {
    const storage::Identity identity = device.open->device->identity();
    table_.release(*device.open, device.mode);  // may close the device
    // Only now: another reactor may open the device again once it has no writer of ours.
    if (device.drain_counted) ledger_.end_drain(identity);
    if (device.close_request) session.transport->respond(*device.close_request, 0);
    session.devices.erase(device.id);
    retry_deferred_opens();
    forget_session_if_done(session);
}

void BlockServer::forget_session_if_done(BlockSession& session) {
    if (!session.disconnected || !session.devices.empty()) return;
    std::erase_if(sessions_, [&](const auto& entry) { return entry.get() == &session; });
}

Status<int> BlockServer::force_close(std::string_view name, std::uint32_t device_id) {
    for (auto& session : sessions_) {
        if (session->disconnected || session->name != name) continue;
        const auto found = session->devices.find(device_id);
        if (found == session->devices.end() || found->second->detaching) return unexpected(-ENOENT);
        session->retired_ids.insert(device_id);
        log().debug("ibnbd server: session {} device {} force-closed", name, device_id);
        detach(*session, *found->second);
        return {};
    }
    return unexpected(-ENOENT);
}

std::vector<MappingInfo> BlockServer::devices() const {
    std::vector<MappingInfo> result;
    for (const auto& session : sessions_) {
        if (session->disconnected) continue;
        for (const auto& [id, device] : session->devices) {
            result.push_back({session->name, id, device->name, device->open->canonical_path, device->mode,
                              device->inflight});
        }
    }
    return result;
}

std::size_t BlockServer::flush_devices(storage::CompletionHandler& handler) {
    std::size_t submitted = 0;
    for (const auto& [identity, open] : table_.devices()) {
        storage::Request flush;
        flush.op = storage::Op::flush;
        submitted += open->device->submit(flush, handler, 0).has_value();
    }
    return submitted;
}

std::uint32_t BlockServer::inflight() const {
    std::uint32_t total = 0;
    for (const auto& session : sessions_) {
        for (const auto& [id, device] : session->devices) total += device->inflight;
    }
    return total;
}

// ---- IO ---------------------------------------------------------------------------------------

namespace {

struct OpShape {
    storage::Op op;
    Dir dir;
    bool carries_data;
    bool writes;
};

OpShape shape_of(wire::RnbdOp op) {
    switch (op) {
        case wire::RnbdOp::read: return {storage::Op::read, Dir::read, true, false};
        case wire::RnbdOp::write: return {storage::Op::write, Dir::write, true, true};
        case wire::RnbdOp::flush: return {storage::Op::flush, Dir::write, false, true};
        case wire::RnbdOp::discard: return {storage::Op::discard, Dir::write, false, true};
        case wire::RnbdOp::secure_erase: return {storage::Op::secure_erase, Dir::write, false, true};
        case wire::RnbdOp::write_zeroes: return {storage::Op::write_zeroes, Dir::write, false, true};
    }
    return {storage::Op::read, Dir::read, true, false};
}

}  // namespace

int BlockServer::handle_io(BlockSession& session, ibtrs::RequestId id, Dir dir, std::span<std::byte> data,
                           std::span<const std::byte> usr) {
    const auto message = wire::decode_rnbd_io(usr);
    const auto op = message ? wire::rnbd_checked_op(message->rw) : wire::Result<wire::RnbdOp>(unexpected(wire::Error::bad_value));
    if (!message || !op) {
        ++stats_.bad_requests;
        return -EINVAL;
    }
    // A force-closed id answers -ENODEV, any other id the session has not open -ENOTCONN: the
    // client re-opens a device after -ENOTCONN (this server lost it) but not after -ENODEV (an
    // operator closed it here), so the two must not be confused (docs/protocol.md, Decisions).
    if (session.retired_ids.contains(message->device_id)) return -ENODEV;
    const auto found = session.devices.find(message->device_id);
    if (found == session.devices.end() || found->second->detaching) return -ENOTCONN;
    SessionDevice& device = *found->second;
    const OpShape shape = shape_of(*op);
    const std::size_t expected_data = shape.carries_data ? message->bi_size : 0;
    // A FLUSH has no data and no sector; its RTRS direction is the sender's choice (the kernel's
    // client passes rq_data_dir(), READ for REQ_OP_FLUSH, with sector (u64)-1: docs/protocol.md §3.6).
    const bool flush = shape.op == storage::Op::flush;
    if ((dir != shape.dir && !flush) || data.size() != expected_data ||
        (message->sector > (UINT64_MAX >> 9) && !flush)) {
        ++stats_.bad_requests;
        return -EINVAL;
    }
    if (shape.writes && device.mode == wire::AccessMode::ro) return -EROFS;
    const std::uint32_t flags = wire::rnbd_rw_flags(message->rw);
    storage::Request request;
    request.op = shape.op;
    request.offset = flush ? 0 : message->sector << 9;
    request.length = shape.op == storage::Op::flush ? 0 : message->bi_size;
    request.buffer = data;
    request.flags.fua = (flags & wire::kRnbdFlagFua) != 0;
    request.flags.preflush = shape.op != storage::Op::flush && (flags & wire::kRnbdFlagPreflush) != 0;
    request.flags.nounmap = shape.op == storage::Op::write_zeroes && (flags & wire::kRnbdFlagNoUnmap) != 0;
    request.priority = session.version >= 2 ? message->prio : 0;
    IoContext& context = session.ios[id.msg_id];
    context = {&session, &device, id, request, nullptr};
    if (deferred_head_ == nullptr) {
        auto submitted = device.open->device->submit(context.request, *this, reinterpret_cast<std::uint64_t>(&context));
        if (!submitted && submitted.error() != -EAGAIN) {
            ++stats_.io_errors;
            return submitted.error();
        }
        if (!submitted) defer_io(context);
    } else {
        defer_io(context);  // behind those already deferred
    }
    ++device.inflight;  // a deferred IO counts: the device and its session stay until it is done
    ++stats_.ios;
    return 0;
}

void BlockServer::defer_io(IoContext& context) {
    ++stats_.ios_deferred;
    context.next_deferred = nullptr;
    if (deferred_tail_ != nullptr) {
        deferred_tail_->next_deferred = &context;
    } else {
        deferred_head_ = &context;
    }
    deferred_tail_ = &context;
}

void BlockServer::submit_deferred() {
    while (deferred_head_ != nullptr) {
        IoContext& context = *deferred_head_;
        auto submitted = context.device->open->device->submit(context.request, *this,
                                                               reinterpret_cast<std::uint64_t>(&context));
        if (!submitted && submitted.error() == -EAGAIN) return;  // still full: the next completion retries
        deferred_head_ = context.next_deferred;
        if (deferred_head_ == nullptr) deferred_tail_ = nullptr;
        if (!submitted) finish_io(context, submitted.error());
    }
}

void BlockServer::on_storage_complete(std::uint64_t cookie, int status) {
    finish_io(*reinterpret_cast<IoContext*>(cookie), status);
    submit_deferred();
}

void BlockServer::finish_io(IoContext& context, int status) {
    BlockSession& session = *context.session;
    SessionDevice& device = *context.device;
    --device.inflight;
    if (status != 0) ++stats_.io_errors;
    if (status == -ENODEV) status = -EIO;  // -ENODEV on the wire means "force-closed" only
    session.transport->respond(context.id, status);
    if (device.detaching && device.inflight == 0) finish_detach(session, device);
}

void wake_on_drain(DeviceLedger& ledger, std::vector<BlockReactor> reactors) {
    ledger.on_drained([reactors = std::move(reactors)] {
        for (const BlockReactor& reactor : reactors) {
            reactor.mailbox->post([blocks = reactor.blocks] { blocks->retry_deferred_opens(); });
        }
    });
}

}  // namespace ibnbd::block
