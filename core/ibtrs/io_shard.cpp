// IoShard: permits, request submission and completion, fenced permits. Lanes are in
// io_shard_lane.cpp.
#include "core/ibtrs/io_shard.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/ibtrs/io_shard_lane.hpp"
#include "core/log.hpp"

namespace ibnbd::ibtrs {

IoShard::IoShard(fabric::Fabric& fabric, ShardConfig config, std::shared_ptr<ShardEvents> events, Mailbox* home)
    : fabric_(fabric), config_(std::move(config)), events_(std::move(events)), home_(home) {
    lanes_.reserve(kMaxPathsPerSession);
    for (std::uint32_t path = 0; path < kMaxPathsPerSession; ++path) {
        lanes_.push_back(std::make_unique<Lane>(*this, path));
    }
    path_views_.reserve(kMaxPathsPerSession);
}

IoShard::~IoShard() = default;

const IoShard::LaneCounters& IoShard::lane_counters(std::uint32_t path) const {
    return lanes_[path]->counters;
}

// Shard s of n gets chunks [s·qd/n, (s+1)·qd/n): shares differ by one at most.
int IoShard::configure(const SessionParams& params) {
    if (params == params_) return 0;
    if (permits_.in_use() != 0) {
        log().warn("ibtrs session {} shard {}: server parameters changed with requests in flight",
                   config_.session_name, config_.index);
        return -ECONNRESET;
    }
    const std::uint64_t depth = params.queue_depth;
    const auto base = static_cast<Permit>(depth * config_.index / config_.count);
    const auto count = static_cast<std::uint32_t>(depth * (config_.index + 1) / config_.count - base);
    if (count != 0) {
        auto headers = RegisteredBuffer::create(fabric_, std::size_t{count} * params.max_hdr_size,
                                                fabric::access_local_write);
        auto read_pool = RegisteredBuffer::create(fabric_, std::size_t{count} * params.max_io_size,
                                                  fabric::access_local_write | fabric::access_remote_write);
        if (!headers || !read_pool) return -ENOMEM;
        headers_ = std::move(headers.value());
        read_pool_ = std::move(read_pool.value());
    }
    permits_.resize(count, base);
    slots_.assign(count, RequestSlot{});
    params_ = params;
    log().debug("ibtrs session {} shard {}: chunks {}..{} of {}", config_.session_name, config_.index, base,
                base + count, depth);
    return 0;
}


fabric::Sge IoShard::read_buffer(Permit permit, std::uint32_t length) const {
    assert(owns(permit) && length <= params_.max_io_size);
    return read_pool_.sge(offset(permit) * params_.max_io_size, length);
}

std::span<std::byte> IoShard::read_buffer_bytes(Permit permit) const {
    assert(owns(permit));
    return read_pool_.span().subspan(offset(permit) * params_.max_io_size,
                                     params_.max_io_size);
}

// ---- submission ------------------------------------------------------------------------------

Status<int> IoShard::check_request(Dir dir, Permit permit, std::span<const std::byte> usr,
                                   std::span<const fabric::Sge> data) const {
    if (!permits_.is_used(permit)) return unexpected(-EINVAL);
    if (slots_[offset(permit)].state != RequestSlot::State::free) return unexpected(-EBUSY);
    const std::size_t max_entries = dir == Dir::write ? 3 : 1;
    if (data.size() > max_entries) return unexpected(-EINVAL);
    std::uint64_t data_len = 0;
    for (const auto& sge : data) {
        if (sge.mr == nullptr) return unexpected(-EINVAL);
        data_len += sge.length;
    }
    if (data_len > params_.max_io_size) return unexpected(-EMSGSIZE);
    const std::size_t trailer = dir == Dir::write ? wire::kRdmaWriteSize : wire::rdma_read_size(data.size());
    if (usr.size() + trailer > params_.max_hdr_size || usr.size() > 0xFFFF) return unexpected(-EMSGSIZE);
    if (dir == Dir::read && !data.empty() && !(data[0].mr->access() & fabric::access_remote_write)) {
        return unexpected(-EINVAL);
    }
    return {};
}

void IoShard::encode_header(RequestSlot& slot, Permit permit, std::span<const std::byte> usr) {
    const std::uint32_t max_hdr = params_.max_hdr_size;
    std::byte* header = headers_.data() + offset(permit) * max_hdr;
    if (!usr.empty()) std::memcpy(header, usr.data(), usr.size());
    const std::span<std::byte> rest(header + usr.size(), max_hdr - usr.size());
    if (slot.dir == Dir::write) {
        const auto written = wire::encode_rdma_write({slot.usr_len}, rest);
        slot.hdr_len = static_cast<std::uint32_t>(usr.size() + written.value());
        return;
    }
    std::array<wire::SgDesc, 1> desc{};
    if (slot.data_count == 1) {
        const fabric::Sge& sge = slot.data[0];
        const fabric::RemoteKey key = sge.mr->remote_key();
        desc[0] = {key.addr + static_cast<std::uint64_t>(sge.addr - sge.mr->data()), key.rkey, sge.length};
    }
    const auto written = wire::encode_rdma_read(slot.usr_len, 0, {desc.data(), slot.data_count}, rest);
    slot.hdr_len = static_cast<std::uint32_t>(usr.size() + written.value());
}

Status<int> IoShard::request(Dir dir, Permit permit, std::span<const std::byte> usr,
                             std::span<const fabric::Sge> data, IoHandler& handler, std::uint64_t cookie) {
    if (auto checked = check_request(dir, permit, usr, data); !checked) return checked;
    RequestSlot& request = slot(permit);
    request.dir = dir;
    request.usr_len = static_cast<std::uint16_t>(usr.size());
    request.data_count = static_cast<std::uint8_t>(data.size());
    request.data_len = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        request.data[i] = data[i];
        request.data_len += data[i].length;
    }
    request.handler = &handler;
    request.cookie = cookie;
    request.tried.reset();
    request.response_status = 0;
    encode_header(request, permit, usr);
    if (dispatch(permit)) {  // posted
        counters_.requests_submitted.add(1);
        return {};
    }
    return unexpected(-ECONNABORTED);
}

std::span<const PathView> IoShard::path_views() {
    path_views_.resize(lanes_used_);
    for (std::uint32_t path = 0; path < lanes_used_; ++path) {
        const Lane& lane = *lanes_[path];
        path_views_[path] = PathView{lane.state == Lane::State::up, lane.counters.inflight.get(), lane.latency};
    }
    return path_views_;
}

bool IoShard::dispatch(Permit permit) {
    RequestSlot& request = slot(permit);
    PathSet excluded = request.tried;
    const auto views = path_views();
    while (auto choice = selector_.choose(config_.policy, views, excluded)) {
        if (post_request(*lanes_[*choice], permit, request)) return true;
        excluded.set(*choice);
    }
    return false;
}

// ---- completion --------------------------------------------------------------------------------

void IoShard::on_request_posted_done(Lane& lane, Permit permit) {
    if (!owns(permit)) return;
    RequestSlot& request = slot(permit);
    if (request.path != lane.path) return;
    if (request.state == RequestSlot::State::posted) return set_state(request, RequestSlot::State::written);
    if (request.state == RequestSlot::State::answered) {
        lane.counters.inflight.sub(1);
        complete(permit, request.response_status);
    }
}

void IoShard::on_response(Lane& lane, std::uint32_t msg_id, int status) {
    const bool awaited = owns(msg_id) && slot(msg_id).path == lane.path &&
                         (slot(msg_id).state == RequestSlot::State::posted ||
                          slot(msg_id).state == RequestSlot::State::written);
    if (!awaited) {
        log().warn("ibtrs session {}: response for msg {} that is not in flight on path {} of shard {}",
                   config_.session_name, msg_id, lane.path, config_.index);
        return;
    }
    RequestSlot& request = slot(msg_id);
    request.response_status = status;
    // Answered: every earlier request on the chunk is done too (the server runs them in order).
    request.unanswered_on.reset();
    // The request is done only when our own write has completed too: until then the header
    // buffer may still be read by the fabric (a retransmission), so the permit stays ours.
    if (request.state == RequestSlot::State::written) {
        lane.counters.inflight.sub(1);
        complete(msg_id, status);
    } else {
        set_state(request, RequestSlot::State::answered);
    }
}

void IoShard::set_state(RequestSlot& request, RequestSlot::State to) {
    using enum RequestSlot::State;
    const RequestSlot::State from = request.state;
    [[maybe_unused]] const bool allowed =
        (from == free && (to == posted || to == fenced)) || (from == posted && to != fenced) ||
        (from == written && (to == posted || to == free)) || (from == answered && to == free) ||
        (from == fenced && to == free);
    assert(allowed);
    request.state = to;
    counters_.slot_transitions.add(1);
}

void IoShard::complete(Permit permit, int status) {
    RequestSlot& request = slot(permit);
    set_state(request, RequestSlot::State::free);
    if (status == 0) {
        counters_.requests_completed_ok.add(1);
    } else {
        counters_.requests_failed.add(1);
    }
    request.handler->on_io_complete(request.cookie, status);
}

// ---- fenced permits ----------------------------------------------------------------------------

void IoShard::put_permit(Permit permit) {
    RequestSlot& request = slot(permit);
    if (request.unanswered_on.none()) return permits_.put(permit);
    set_state(request, RequestSlot::State::fenced);
    counters_.permits_fenced.add(1);
    log().debug("ibtrs session {} shard {}: permit {} fenced until its {} paths reconnect", config_.session_name,
                config_.index, permit, request.unanswered_on.count());
}

std::uint32_t IoShard::permits_awaiting_paths() const {
    return static_cast<std::uint32_t>(std::count_if(slots_.begin(), slots_.end(), [](const RequestSlot& request) {
        return !request.in_flight() && request.unanswered_on.any();
    }));
}

void IoShard::unfence(Permit permit) {
    RequestSlot& request = slot(permit);
    request.unanswered_on.reset();
    set_state(request, RequestSlot::State::free);
    counters_.permits_fenced.sub(1);
    permits_.put(permit);  // may start a waiting request at once
}

void IoShard::unfence_all() {
    for (Permit permit = permits_.base(); permit < permits_.base() + permits_.capacity(); ++permit) {
        if (slot(permit).state == RequestSlot::State::fenced) unfence(permit);
    }
}

}  // namespace ibnbd::ibtrs
