#include "ibnbd/client/block_shard.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

namespace ibnbd::block {

using ibtrs::Dir;

namespace {

bool transition_allowed(BlockIoState from, BlockIoState to) {
    using enum BlockIoState;
    switch (from) {
        case free: return to == permit_queued || to == in_transport || to == waiting;
        case permit_queued: return to == in_transport || to == waiting || to == free;
        case in_transport: return to == waiting || to == abandoned || to == free;
        case waiting: return to == permit_queued || to == in_transport || to == free;
        case abandoned: return to == free;
    }
    return false;
}

}  // namespace

void BlockIo::on_permit(ibtrs::Permit granted) {
    assert(state == BlockIoState::permit_queued);
    permit = granted;
    has_permit = true;
    shard->issue_io(*this);
}

void BlockShard::set_state(BlockIo& io, BlockIoState to) {
    assert(transition_allowed(io.state, to));
    io.state = to;
    io_transitions_.add(1);
}

BlockShard::BlockShard(fabric::Fabric& fabric, ibtrs::IoShard& shard, fabric::Nanos wait_while_reconnecting)
    : fabric_(fabric), shard_(shard), wait_while_reconnecting_(wait_while_reconnecting) {}

BlockShard::~BlockShard() {
    if (wait_timer_ != 0) fabric_.cancel_timer(wait_timer_);
    if (!pool_.empty()) shard_.watch_paths(nullptr);
}

void BlockShard::allocate() {
    if (!pool_.empty()) return;
    pool_.resize(std::size_t{2} * std::max<std::uint32_t>(shard_.permit_count(), 1));
    waiting_.reserve(pool_.size());
    shard_.watch_paths(this);
    for (auto& io : pool_) {
        io.shard = this;
        give_back(io);
    }
}

void BlockShard::update(ShardDevice& device, DeviceState state, const DeviceInfo& info) {
    allocate();
    if (!device.adopt(state, info)) return;
    if (state == DeviceState::mapped) resume_waiting(device);
    if (state == DeviceState::closed_by_server) fail_waiting(&device, -ENODEV);
    if (state == DeviceState::unmapped) fail_all(device);
}

// ---- submission ------------------------------------------------------------------------------

BlockIo* BlockShard::take_io() {
    BlockIo* io = free_;
    if (io != nullptr) free_ = io->next_free;
    return io;
}

void BlockShard::give_back(BlockIo& io) {
    if (io.state != BlockIoState::free) set_state(io, BlockIoState::free);
    io.device = nullptr;
    io.handler = nullptr;
    io.has_permit = false;
    io.deadline = 0;
    io.next_free = free_;
    free_ = &io;
}

Status<int> BlockShard::submit(DeviceIo& device, wire::RnbdOp op, std::uint32_t flags, std::uint64_t offset,
                                std::uint32_t length, std::span<std::byte> read_into,
                                std::span<const std::byte> write_from, BlockIoHandler& handler,
                                std::uint64_t cookie) {
    BlockIo* io = take_io();
    if (io == nullptr) return unexpected(-EAGAIN);
    io->device = &device;
    io->handler = &handler;
    io->cookie = cookie;
    io->op = op;
    io->flags = flags;
    io->offset = offset;
    io->length = length;
    io->read_into = read_into;
    io->write_from = write_from;
    device.io_started();
    start_io(*io);
    return {};
}

// From free (a new IO) or waiting (resumed).
void BlockShard::start_io(BlockIo& io) {
    if (io.device->state() != DeviceState::mapped) return wait(io);
    if (io.has_permit) return issue_io(io);  // a retry keeps its permit (keep_permit_for_retry)
    set_state(io, BlockIoState::permit_queued);
    if (auto permit = shard_.get_permit_or_queue(io)) io.on_permit(*permit);
}

// After a transport failure a copy of the request may still reach the server on the path that
// broke: it waits, with its permit, until that path has reconnected (the server then dropped or
// answered the old copy), so that it cannot go out again on another chunk before the old one lands.
bool BlockShard::keep_permit_for_retry(BlockIo& io) {
    if (shard_.copies_may_land(io.permit)) return true;
    shard_.put_permit(io.permit);
    io.has_permit = false;
    return false;
}

// From permit_queued (the permit came) or waiting (resumed, holding its permit).
void BlockShard::issue_io(BlockIo& io) {
    DeviceIo& device = *io.device;
    if (device.state() != DeviceState::mapped || shard_.copies_may_land(io.permit)) {
        keep_permit_for_retry(io);
        return wait(io);
    }
    wire::RnbdIo message;
    message.device_id = device.info().device_id;
    message.sector = io.offset >> 9;
    message.rw = wire::rnbd_rw(io.op, io.flags);
    message.bi_size = io.length;
    std::array<std::byte, wire::kRnbdIoSize> usr{};
    (void)wire::encode_rnbd_io(message, usr);
    const bool carries_data = io.op == wire::RnbdOp::read || io.op == wire::RnbdOp::write;
    if (io.op == wire::RnbdOp::write && io.length != 0) {
        std::memcpy(shard_.read_buffer_bytes(io.permit).data(), io.write_from.data(), io.length);
    }
    const fabric::Sge data = shard_.read_buffer(io.permit, carries_data ? io.length : 0);
    const std::size_t entries = carries_data && io.length != 0 ? 1 : 0;
    const Dir dir = io.op == wire::RnbdOp::read ? Dir::read : Dir::write;
    const auto index = static_cast<std::uint64_t>(&io - pool_.data());
    auto submitted = shard_.request(dir, io.permit, usr, {&data, entries}, *this, index);
    if (submitted) return set_state(io, BlockIoState::in_transport);  // never completes inside request()
    if (submitted.error() == -ECONNABORTED && wait_while_reconnecting_ > 0) {
        keep_permit_for_retry(io);
        return wait(io);
    }
    release_permit(io);
    finish_io(io, submitted.error() == -ECONNABORTED ? -EIO : submitted.error());
}

// ---- completion --------------------------------------------------------------------------------

void BlockShard::on_io_complete(std::uint64_t cookie, int status) {
    BlockIo& io = pool_[cookie];
    if (io.state == BlockIoState::abandoned) {
        shard_.put_permit(io.permit);
        give_back(io);
        return;
    }
    assert(io.state == BlockIoState::in_transport);
    if (status == 0 && io.op == wire::RnbdOp::read && io.length != 0) {
        std::memcpy(io.read_into.data(), shard_.read_buffer_bytes(io.permit).data(), io.length);
    }
    if (status == -ENOTCONN) report_loss(*io.device, DeviceLoss::unknown_id);
    if (status == -ENODEV) report_loss(*io.device, DeviceLoss::closed_by_server);  // and fails with it
    // A transport failure, or a device id the server does not know, is not the server's answer
    // to the IO: with queueing, try again on a path that comes back or after the re-open.
    const bool retry = status == -ECONNABORTED || status == -ENOTCONN;
    if (retry && wait_while_reconnecting_ > 0) {
        keep_permit_for_retry(io);
        return wait(io);
    }
    release_permit(io);
    finish_io(io, retry ? -EIO : status);
}

void BlockShard::release_permit(BlockIo& io) {
    if (!io.has_permit) return;
    shard_.put_permit(io.permit);  // fenced by the shard while old copies may land
    io.has_permit = false;
}

void BlockShard::report_loss(DeviceIo& device, DeviceLoss loss) {
    if (device_lost_ && device.claim_loss_report()) device_lost_(device.info().device_id, loss);
}

void BlockShard::finish_io(BlockIo& io, int status) {
    BlockIoHandler* handler = io.handler;
    const std::uint64_t cookie = io.cookie;
    io.device->io_finished();
    give_back(io);
    handler->on_block_io_complete(cookie, status);
}

void BlockShard::fail_all(DeviceIo& device) {
    for (BlockIo& io : pool_) {
        if (io.device != &device) continue;
        switch (io.state) {
            case BlockIoState::free:
            case BlockIoState::abandoned: continue;
            case BlockIoState::waiting:
                std::erase(waiting_, &io);
                release_permit(io);  // a waiting retry's permit is not the transport's
                break;
            case BlockIoState::permit_queued: shard_.cancel_queued_permit(io); break;
            case BlockIoState::in_transport: break;
        }
        BlockIoHandler* handler = io.handler;
        const std::uint64_t cookie = io.cookie;
        device.io_finished();
        if (io.state == BlockIoState::in_transport) {
            set_state(io, BlockIoState::abandoned);  // the transport's completion frees it
        } else {
            give_back(io);
        }
        handler->on_block_io_complete(cookie, -EIO);
    }
}

// ---- waiting for a path or a remap ---------------------------------------------------------------

void BlockShard::wait(BlockIo& io) {
    if (io.device->state() == DeviceState::closed_by_server) {  // nothing to wait for but a remap
        release_permit(io);
        return finish_io(io, -ENODEV);
    }
    if (wait_while_reconnecting_ == 0) {
        release_permit(io);
        return finish_io(io, -EIO);
    }
    if (io.deadline == 0) io.deadline = fabric_.now() + wait_while_reconnecting_;
    if (io.state != BlockIoState::waiting) set_state(io, BlockIoState::waiting);  // resumed too early: again
    waiting_.push_back(&io);
    arm_wait_timer();
}

void BlockShard::resume_waiting(DeviceIo& device) {
    resume_waiting_if([&](const BlockIo& io) { return io.device == &device; });
}

// IO of a device that is still mapped waited for a path, not for a remap. Permits kept for
// retries whose old copies can no longer land go back: the remap's own requests may need them.
void BlockShard::on_path_usable() {
    for (BlockIo* io : waiting_) {
        if (io->has_permit && !shard_.copies_may_land(io->permit)) release_permit(*io);
    }
    resume_waiting_if([](const BlockIo& io) { return io.device->state() == DeviceState::mapped; });
}

// A resumed IO leaves the list in state waiting; start_io moves it on (or back to waiting).
template <class Predicate>
void BlockShard::resume_waiting_if(const Predicate& predicate) {
    std::vector<BlockIo*> resumed;
    std::erase_if(waiting_, [&](BlockIo* io) {
        if (!predicate(*io)) return false;
        resumed.push_back(io);
        return true;
    });
    for (BlockIo* io : resumed) start_io(*io);
}

void BlockShard::fail_waiting(DeviceIo* device, int status) {
    std::vector<BlockIo*> failed;
    const fabric::Nanos now = fabric_.now();
    std::erase_if(waiting_, [&](BlockIo* io) {
        const bool due = device != nullptr ? io->device == device : io->deadline <= now;
        if (due) failed.push_back(io);
        return due;
    });
    for (BlockIo* io : failed) {
        release_permit(*io);
        finish_io(*io, status);
    }
}

void BlockShard::arm_wait_timer() {
    if (wait_timer_ != 0 || waiting_.empty()) return;
    fabric::Nanos first = waiting_.front()->deadline;
    for (const BlockIo* io : waiting_) first = std::min(first, io->deadline);
    const fabric::Nanos now = fabric_.now();
    wait_timer_ = fabric_.start_timer(first > now ? first - now : 0, *this, 0);
}

void BlockShard::on_timer(std::uint64_t) {
    wait_timer_ = 0;
    fail_waiting(nullptr, -ETIMEDOUT);
    arm_wait_timer();
}

}  // namespace ibnbd::block
