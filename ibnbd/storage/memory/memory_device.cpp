#include "ibnbd/storage/memory/memory_device.hpp"

#include <cassert>
#include <cerrno>

namespace ibnbd::storage::memory {

namespace {

bool writes(Op op) { return op != Op::read && op != Op::flush; }

}  // namespace

MemoryDevice::MemoryDevice(fabric::Fabric& node, MemoryStore& store, bool writable, std::uint32_t queue_depth)
    : node_(node), store_(store), geometry_(store.geometry(writable)), slots_(queue_depth) {
    assert(queue_depth > 0);
    free_.reserve(queue_depth);
    // Handed out from the back: slot 0 first.
    for (std::uint32_t slot = queue_depth; slot > 0; --slot) free_.push_back(slot - 1);
}

MemoryDevice::~MemoryDevice() {
    for (Pending& op : slots_) {
        if (!op.in_use) continue;
        node_.cancel_timer(op.timer);
        if (op.flushes && op.epoch == store_.epoch()) store_.end_flush(op.flush_mark, false);
        store_.note_abandoned();
    }
}

Status<int> MemoryDevice::submit(const Request& request, CompletionHandler& handler, std::uint64_t cookie) {
    if (const int invalid = validate(request, geometry_); invalid != 0) return unexpected(invalid);
    if (writes(request.op) && store_.read_only()) return unexpected(-EROFS);
    if (free_.empty()) return unexpected(-EAGAIN);
    const std::uint32_t slot = free_.back();
    free_.pop_back();
    Pending& op = slots_[slot];
    op.request = request;
    op.handler = &handler;
    op.cookie = cookie;
    op.epoch = store_.epoch();
    op.injected = store_.take_injected_error(request);
    op.flushes = request.op == Op::flush || request.flags.preflush;
    op.flush_mark = op.flushes ? store_.begin_flush() : 0;
    op.in_use = true;
    op.timer = node_.start_timer(draw_latency(), *this, slot);
    return {};
}

fabric::Nanos MemoryDevice::draw_latency() {
    const StoreOptions& options = store_.options();
    if (options.jitter == 0) return options.latency;
    const std::uint64_t span = options.jitter == UINT64_MAX ? UINT64_MAX : options.jitter + 1;
    return options.latency + node_.random_u64() % span;
}

void MemoryDevice::on_timer(std::uint64_t slot) {
    assert(slot < slots_.size() && slots_[slot].in_use);
    const Pending op = slots_[slot];
    slots_[slot].in_use = false;
    free_.push_back(static_cast<std::uint32_t>(slot));
    const int status = complete(op);
    // Last: the handler may submit again or destroy this device.
    op.handler->on_storage_complete(op.cookie, status);
}

int MemoryDevice::complete(const Pending& op) {
    // Submitted before the store lost power: gone with that power cycle.
    if (op.epoch != store_.epoch()) return -EIO;
    if (op.flushes) store_.end_flush(op.flush_mark, op.injected == 0);
    if (op.injected != 0) return op.injected;
    apply(op.request);
    return 0;
}

void MemoryDevice::apply(const Request& request) {
    const bool fua = request.flags.fua;
    switch (request.op) {
        case Op::read: store_.read(request.offset, request.buffer.first(request.length)); break;
        case Op::write: store_.write(request.offset, request.buffer.first(request.length), fua); break;
        case Op::flush: break;
        case Op::discard:
        case Op::secure_erase: store_.zero(request.offset, request.length, true, fua); break;
        case Op::write_zeroes: store_.zero(request.offset, request.length, !request.flags.nounmap, fua); break;
    }
}

}  // namespace ibnbd::storage::memory
