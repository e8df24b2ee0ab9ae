#include "ibnbd/client/block_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/log.hpp"

namespace ibnbd::block {

using ibtrs::Dir;
using ibtrs::Permit;

namespace {
enum TimerKind : std::uint64_t { deferred_controls_timer, lost_timer };
}

struct BlockClient::ControlOp final : ibtrs::PermitQueueEntry, ibtrs::IoHandler {
    enum class Kind : std::uint8_t { sess_info, open, close };
    ControlOp(BlockClient& owner, Kind kind) : client(owner), kind(kind) {}
    void on_permit(Permit granted) override { client.issue_control(*this, granted); }
    void on_io_complete(std::uint64_t, int status) override { client.control_done(*this, status); }

    BlockClient& client;
    const Kind kind;
    BlockDevice* device = nullptr;
    std::array<std::byte, wire::kRnbdOpenSize> usr{};
    std::size_t usr_len = 0;
    std::uint32_t response_len = 0;  // READ requests: the response struct the server writes
    Permit permit = 0;
    bool has_permit = false;
    int deferred_status = 0;  // a submission that failed at once, reported from the event loop
};

BlockClient::BlockClient(fabric::Fabric& fabric, BlockClientConfig config, BlockClientHandler& handler)
    : fabric_(fabric), config_(std::move(config)), handler_(handler) {}

BlockClient::~BlockClient() {
    devices_.clear();  // their copies may hold the remote BlockShards
    for (auto& remote : shards_) {
        if (remote.mailbox) remote.mailbox->post([shard = remote.shard.release()] { delete shard; });
    }
}

Expected<std::unique_ptr<BlockClient>, int> BlockClient::create(fabric::Fabric& fabric, BlockClientConfig config,
                                                                std::vector<ibtrs::PathSpec> paths,
                                                                BlockClientHandler& handler,
                                                                ibtrs::ShardLayout shards) {
    std::unique_ptr<BlockClient> client(new BlockClient(fabric, std::move(config), handler));
    auto transport = ibtrs::ClientSession::create(fabric, client->config_.transport, std::move(paths), *client, shards);
    if (!transport) return unexpected(transport.error());
    client->transport_ = std::move(transport.value());
    const fabric::Nanos queueing = client->config_.wait_while_reconnecting;
    client->shards_.push_back({std::make_unique<BlockShard>(fabric, client->transport_->shard(0), queueing), nullptr});
    BlockClient* self = client.get();
    client->shards_[0].shard->on_device_lost([self](std::uint32_t id, DeviceLoss loss) { self->queue_lost(id, loss); });
    for (std::size_t shard = 1; shard < client->transport_->shard_count(); ++shard) {
        const ibtrs::RemoteShard& remote = shards.remote[shard - 1];
        client->shards_.push_back(
            {std::make_unique<BlockShard>(*remote.fabric, client->transport_->shard(shard), queueing), remote.mailbox});
        // Runs on the shard's thread: the request travels home, where the client may be gone.
        client->shards_.back().shard->on_device_lost(
            [home = shards.home, alive = std::weak_ptr<BlockClient*>(client->alive_)](std::uint32_t id, DeviceLoss loss) {
                home->post([alive, id, loss] {
                    if (auto client = alive.lock()) (*client)->queue_lost(id, loss);
                });
            });
    }
    client->transport_->start();
    return client;
}

template <class Action>
void BlockClient::each_copy(const BlockDevice& device, const Action& action) {
    for (std::size_t shard = 1; shard < shards_.size(); ++shard) {
        shards_[shard].mailbox->post([part = shards_[shard].shard.get(), copy = device.copies_[shard - 1], action] {
            action(*part, *copy);
        });
    }
}

void BlockClient::share(const BlockDevice& device) {
    each_copy(device, [state = device.state(), info = device.info()](BlockShard& part, ShardDevice& copy) {
        part.update(copy, state, info);
    });
}

BlockDevice* BlockClient::find(std::string_view name) {
    for (auto& device : devices_) {
        if (device->name() == name) return device.get();
    }
    return nullptr;
}

// ---- transport events ----------------------------------------------------------------------

void BlockClient::on_open(int status) {
    if (status != 0) {
        fail_pending_maps(status);
        return;
    }
    opened_ = true;
    block_shard(0).allocate();
    send_sess_info();
}

void BlockClient::on_session_disconnected() {
    ready_ = false;
    for (auto& device : devices_) {
        if (device->state() == DeviceState::mapped) device->set_state(DeviceState::mapped_disconnected);
    }
    if (auto* listener = handler_.transport_listener()) listener->on_session_disconnected();
}

void BlockClient::on_session_reconnected() {
    if (auto* listener = handler_.transport_listener()) listener->on_session_reconnected();
    send_sess_info();
}

void BlockClient::on_path_state(std::string_view path, ibtrs::ClientPathState from, ibtrs::ClientPathState to,
                                std::string_view reason) {
    if (auto* listener = handler_.transport_listener()) listener->on_path_state(path, from, to, reason);
}

void BlockClient::on_failover(std::string_view from, std::string_view to, std::uint32_t ios) {
    if (auto* listener = handler_.transport_listener()) listener->on_failover(from, to, ios);
}

void BlockClient::on_reconnect_attempt(std::string_view path, std::uint32_t attempt, bool ok) {
    if (auto* listener = handler_.transport_listener()) listener->on_reconnect_attempt(path, attempt, ok);
}

// ---- control messages ------------------------------------------------------------------------

void BlockClient::send_sess_info() {
    auto op = std::make_unique<ControlOp>(*this, ControlOp::Kind::sess_info);
    op->usr_len = wire::encode_rnbd_sess_info({wire::kRnbdVersionMajor}, op->usr).value();
    op->response_len = wire::kRnbdSessInfoRspSize;
    start_control(std::move(op));
}

void BlockClient::send_open(BlockDevice& device) {
    auto op = std::make_unique<ControlOp>(*this, ControlOp::Kind::open);
    op->device = &device;
    op->usr_len = wire::encode_rnbd_open({device.mode(), device.name()}, op->usr).value();
    op->response_len = wire::kRnbdOpenRspSize;
    start_control(std::move(op));
}

void BlockClient::send_close(std::uint32_t device_id) {
    auto op = std::make_unique<ControlOp>(*this, ControlOp::Kind::close);
    op->usr_len = wire::encode_rnbd_close({device_id}, op->usr).value();
    start_control(std::move(op));
}

void BlockClient::start_control(std::unique_ptr<ControlOp> owned) {
    ControlOp& op = *owned;
    controls_.push_back(std::move(owned));
    if (auto permit = transport_->get_permit_or_queue(op)) issue_control(op, *permit);
}

void BlockClient::issue_control(ControlOp& op, Permit permit) {
    op.permit = permit;
    op.has_permit = true;
    const fabric::Sge response = transport_->read_buffer(permit, op.response_len);
    const Dir dir = op.response_len != 0 ? Dir::read : Dir::write;
    auto submitted = transport_->request(dir, permit, {op.usr.data(), op.usr_len},
                                         {&response, op.response_len != 0 ? 1u : 0u}, op, 0);
    if (!submitted) {
        // Report from the event loop: never call back into whoever asked for this.
        op.deferred_status = submitted.error();
        fabric_.start_timer(0, *this, deferred_controls_timer);
    }
}

void BlockClient::control_done(ControlOp& op, int status) {
    switch (op.kind) {
        case ControlOp::Kind::sess_info: on_sess_info_done(op, status); break;
        case ControlOp::Kind::open: on_open_done(op, status); break;
        case ControlOp::Kind::close: break;
    }
    if (op.has_permit) transport_->put_permit(op.permit);
    controls_.remove_if([&](const auto& entry) { return entry.get() == &op; });
}

void BlockClient::on_sess_info_done(ControlOp& op, int status) {
    const auto rsp = status == 0 ? wire::decode_rnbd_sess_info_rsp(transport_->read_buffer_bytes(op.permit))
                                 : wire::Result<wire::RnbdSessInfo>(unexpected(wire::Error::too_short));
    if (!rsp) {
        log().warn("ibnbd client {}: SESS_INFO failed (errno {})", transport_->config().session_name, -status);
        fail_pending_maps(status != 0 ? status : -EPROTO);
        return;
    }
    version_ = std::min(rsp->ver, wire::kRnbdVersionMajor);
    ready_ = true;
    for (auto& device : devices_) {
        if (device->state() == DeviceState::init || device->state() == DeviceState::mapped_disconnected) {
            send_open(*device);
        }
    }
}

void BlockClient::on_open_done(ControlOp& op, int status) {
    BlockDevice* device = op.device;
    const bool still_ours = std::any_of(devices_.begin(), devices_.end(),
                                        [&](const auto& entry) { return entry.get() == device; });
    const auto rsp = status == 0 ? wire::decode_rnbd_open_rsp(transport_->read_buffer_bytes(op.permit))
                                 : wire::Result<wire::RnbdOpenRsp>(unexpected(wire::Error::too_short));
    if (rsp && (!still_ours || device->state() == DeviceState::unmapped)) {
        send_close(rsp->device_id);  // unmapped meanwhile: give the server its device back
        return;
    }
    if (!still_ours) return;
    if (rsp && rsp->logical_block_size == 0) {
        send_close(rsp->device_id);
        status = -EPROTO;
    }
    if (!rsp || status != 0) {
        const int error = status != 0 ? status : -EPROTO;
        if (device->state() == DeviceState::init) {
            handler_.on_mapped(*device, error);
            remove_device(*device);
        } else {
            block_shard(0).fail_waiting(device, -EIO);
            each_copy(*device, [](BlockShard& part, ShardDevice& copy) { part.fail_waiting(&copy, -EIO); });
        }
        return;
    }
    const DeviceInfo before = device->info_;
    DeviceInfo& info = device->info_;
    info.device_id = rsp->device_id;
    info.size_bytes = rsp->nsectors * 512;
    info.logical_block_size = rsp->logical_block_size;
    info.physical_block_size = rsp->physical_block_size;
    info.max_io_bytes = std::min<std::uint64_t>(std::uint64_t{rsp->max_hw_sectors} * 512, transport_->max_io_size()) /
                        info.logical_block_size * info.logical_block_size;
    info.max_discard_bytes = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(std::uint64_t{rsp->max_discard_sectors} * 512, UINT32_MAX) /
        info.logical_block_size * info.logical_block_size);
    info.max_write_zeroes_bytes = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(std::uint64_t{rsp->max_write_zeroes_sectors} * 512, UINT32_MAX) /
        info.logical_block_size * info.logical_block_size);
    info.discard_granularity = rsp->discard_granularity;
    info.secure_discard = rsp->secure_discard != 0;
    info.writeback_cache = (rsp->cache_policy & wire::kRnbdCacheWriteback) != 0;
    info.fua = info.writeback_cache && (rsp->cache_policy & wire::kRnbdCacheFua) != 0;
    const bool remap = device->state() != DeviceState::init;  // mapped_disconnected or closed_by_server
    device->set_state(DeviceState::mapped);
    if (!remap) {
        handler_.on_mapped(*device, 0);
        return;
    }
    ++device->remaps_;
    if (before.device_id != info.device_id || before.size_bytes != info.size_bytes) {
        handler_.on_device_changed(*device, before);
    }
    block_shard(0).resume_waiting(*device);
}

void BlockClient::fail_pending_maps(int status) {
    std::vector<BlockDevice*> failed;
    for (auto& device : devices_) {
        if (device->state() == DeviceState::init) failed.push_back(device.get());
    }
    for (BlockDevice* device : failed) {
        handler_.on_mapped(*device, status);
        remove_device(*device);
    }
}

void BlockClient::remove_device(BlockDevice& device) {
    devices_.remove_if([&](const auto& entry) { return entry.get() == &device; });
}

// ---- map, unmap, remap ---------------------------------------------------------------------

Expected<BlockDevice*, int> BlockClient::map(const std::string& name, wire::AccessMode mode) {
    if (name.empty() || name.size() > wire::kMaxDevNameLen) return unexpected(-EINVAL);
    if (find(name) != nullptr) return unexpected(-EEXIST);
    devices_.push_back(std::make_unique<BlockDevice>(*this, name, mode));
    BlockDevice& device = *devices_.back();
    if (ready_) send_open(device);
    return &device;
}

Status<int> BlockClient::remap(BlockDevice& device) {
    switch (device.state()) {
        case DeviceState::mapped: return unexpected(-EALREADY);
        case DeviceState::unmapped: return unexpected(-ENODEV);
        case DeviceState::init: return unexpected(-EBUSY);
        case DeviceState::mapped_disconnected:
        case DeviceState::closed_by_server:
            if (!ready_) return unexpected(-ENOTCONN);
            send_open(device);
            return {};
    }
    return unexpected(-EINVAL);
}

Status<int> BlockClient::unmap(BlockDevice& device, bool force) {
    if (device.state() == DeviceState::unmapped) return unexpected(-ENODEV);
    if (!force && (device.users_all() != 0 || device.inflight_all() != 0)) return unexpected(-EBUSY);
    if (force) block_shard(0).fail_all(device);  // the copies fail theirs when they learn of unmapped
    const bool tell_server = device.state() == DeviceState::mapped && ready_;
    const std::uint32_t device_id = device.info().device_id;
    device.set_state(DeviceState::unmapped);
    if (tell_server) send_close(device_id);
    handler_.on_unmapped(device);
    remove_device(device);
    return {};
}

// The server answered IO with -ENOTCONN (it does not know the device id: a server session made
// anew) or -ENODEV (it closed the device: an operator's force_close there).
void BlockClient::queue_lost(std::uint32_t device_id, DeviceLoss loss) {
    lost_ids_.emplace_back(device_id, loss);
    fabric_.start_timer(0, *this, lost_timer);  // never inside the IO completion that reported it
}

// -ENOTCONN: re-open the device, as after a remap, while that can succeed. -ENODEV: the server's
// operator closed it on purpose, so it is not re-opened behind their back: it says so, and its
// IO fails until someone remaps it.
void BlockClient::handle_lost_devices() {
    const auto lost = std::exchange(lost_ids_, {});
    for (auto& device : devices_) {
        const auto found = std::find_if(lost.begin(), lost.end(), [&](const auto& entry) {
            return entry.first == device->info().device_id;
        });
        if (device->state() != DeviceState::mapped || found == lost.end()) continue;
        const char* session = transport_->config().session_name.c_str();
        if (found->second == DeviceLoss::closed_by_server) {
            log().warn("ibnbd client {}: the server closed device {} (id {}); its IO fails until it is remapped",
                       session, device->name(), device->info().device_id);
            device->set_state(DeviceState::closed_by_server);  // the copies fail their waiting IO
            block_shard(0).fail_waiting(device.get(), -ENODEV);
            continue;
        }
        log().warn("ibnbd client {}: the server does not know device {} (id {}); re-opening it", session,
                   device->name(), device->info().device_id);
        ++device->reopens_;
        device->set_state(DeviceState::mapped_disconnected);
        if (ready_) send_open(*device);
    }
}

void BlockClient::on_timer(std::uint64_t cookie) {
    if (cookie == lost_timer) return handle_lost_devices();
    if (cookie != deferred_controls_timer) return;
    std::vector<ControlOp*> failed;
    for (auto& op : controls_) {
        if (op->deferred_status != 0) failed.push_back(op.get());
    }
    for (ControlOp* op : failed) control_done(*op, op->deferred_status);
}

}  // namespace ibnbd::block
