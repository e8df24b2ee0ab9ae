#include "core/ibtrs/client_session.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/ibtrs/client_path.hpp"
#include "core/log.hpp"
#include "core/wire/rtrs.hpp"

namespace ibnbd::ibtrs {

class ClientSession::QueueTimer final : public fabric::TimerHandler {
public:
    explicit QueueTimer(ClientSession& session) : session_(session) {}
    ~QueueTimer() override { cancel(); }
    void arm(fabric::Nanos delay) {
        cancel();
        id_ = session_.fabric_.start_timer(delay, *this, 0);
    }
    void cancel() {
        if (id_ != 0) session_.fabric_.cancel_timer(id_);
        id_ = 0;
    }
    void on_timer(std::uint64_t) override {
        id_ = 0;
        session_.expire_queue();
    }

private:
    ClientSession& session_;
    fabric::TimerId id_ = 0;
};

namespace {

bool valid_session_name(const std::string& name) {
    return !name.empty() && name.size() <= wire::kMaxPathnameLen &&
           name.find_first_of("/.") == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

ClientSession::ClientSession(fabric::Fabric& fabric, ClientConfig config, ClientSessionHandler& handler)
    : fabric_(fabric), config_(std::move(config)), handler_(handler),
      queue_timer_(std::make_unique<QueueTimer>(*this)) {
    for (auto& byte : paths_uuid_) byte = static_cast<std::uint8_t>(fabric_.random_u64());
}

ClientSession::~ClientSession() = default;

Expected<std::unique_ptr<ClientSession>, int> ClientSession::create(fabric::Fabric& fabric,
                                                                   ClientConfig config,
                                                                   std::vector<PathSpec> paths,
                                                                   ClientSessionHandler& handler) {
    if (paths.empty() || paths.size() > kMaxPathsPerSession || !valid_session_name(config.session_name) ||
        config.io_connections == 0 || config.io_connections >= wire::kMaxCidNum) {
        return unexpected(-EINVAL);
    }
    std::unique_ptr<ClientSession> session(new ClientSession(fabric, std::move(config), handler));
    for (auto& spec : paths) {
        if (spec.destination.port == 0) spec.destination.port = session->config_.port;
        const auto index = static_cast<std::uint32_t>(session->paths_.size());
        // Every path given at open may create the server session: they are all legitimate.
        session->paths_.push_back(std::make_unique<ClientPath>(*session, index, spec, true));
    }
    return session;
}

void ClientSession::start() {
    for (auto& path : paths_) path->start();
}

void ClientSession::close() {
    closing_ = true;
    for (auto& path : paths_) {
        if (path) path->disconnect(false);
    }
}

bool ClientSession::closed() const {
    return std::all_of(paths_.begin(), paths_.end(), [](const auto& path) {
        return !path || path->state() == ClientPathState::closed || path->state() == ClientPathState::dead;
    });
}

std::size_t ClientSession::path_count() const {
    return static_cast<std::size_t>(std::count_if(paths_.begin(), paths_.end(), [](const auto& path) {
        return path && !path->removed();
    }));
}

const ClientPath* ClientSession::path(std::uint32_t index) const {
    return index < paths_.size() ? paths_[index].get() : nullptr;
}

std::uint32_t ClientSession::max_user_message() const {
    const std::uint32_t read_overhead = wire::kRdmaReadHdrSize + wire::kSgDescSize;
    return max_hdr_size_ > read_overhead ? max_hdr_size_ - read_overhead : 0;
}

int ClientSession::setup_pools(std::uint32_t queue_depth, std::uint32_t max_io_size,
                               std::uint32_t max_hdr_size) {
    const std::uint64_t chunk_size = std::uint64_t{max_io_size} + max_hdr_size;
    if (queue_depth == queue_depth_ && chunk_size == chunk_size_) return 0;
    if (queue_depth_ != 0 && (permits_.in_use() != 0 || connected_paths_ != 0)) {
        log().warn("ibtrs session {}: server offers queue depth {} / chunk {}, session has {} / {}",
                   config_.session_name, queue_depth, chunk_size, queue_depth_, chunk_size_);
        return -ECONNRESET;
    }
    auto headers = RegisteredBuffer::create(fabric_, std::size_t{queue_depth} * max_hdr_size,
                                            fabric::access_local_write);
    auto read_pool = RegisteredBuffer::create(fabric_, std::size_t{queue_depth} * max_io_size,
                                              fabric::access_local_write | fabric::access_remote_write);
    if (!headers || !read_pool) return -ENOMEM;
    headers_ = std::move(headers.value());
    read_pool_ = std::move(read_pool.value());
    permits_.resize(queue_depth);
    slots_.assign(queue_depth, RequestSlot{});
    queued_.clear();
    queued_.reserve(queue_depth);
    path_views_.reserve(kMaxPathsPerSession);
    queue_depth_ = queue_depth;
    max_io_size_ = max_io_size;
    max_hdr_size_ = max_hdr_size;
    chunk_size_ = chunk_size;
    log().debug("ibtrs session {}: queue depth {}, max io {}, chunk {}", config_.session_name,
                queue_depth, max_io_size, chunk_size);
    return 0;
}

fabric::Sge ClientSession::read_buffer(Permit permit, std::uint32_t length) const {
    assert(permit < queue_depth_ && length <= max_io_size_);
    return read_pool_.sge(std::size_t{permit} * max_io_size_, length);
}

std::span<std::byte> ClientSession::read_buffer_bytes(Permit permit) const {
    assert(permit < queue_depth_);
    return read_pool_.span().subspan(std::size_t{permit} * max_io_size_, max_io_size_);
}

// ---- request submission ------------------------------------------------------------------------

Status<int> ClientSession::check_request(Dir dir, Permit permit, std::span<const std::byte> usr,
                                         std::span<const fabric::Sge> data) const {
    if (permit >= queue_depth_ || !permits_.is_used(permit)) return unexpected(-EINVAL);
    if (slots_[permit].state != RequestSlot::State::free) return unexpected(-EBUSY);
    const std::size_t max_entries = dir == Dir::write ? 3 : 1;
    if (data.size() > max_entries) return unexpected(-EINVAL);
    std::uint64_t data_len = 0;
    for (const auto& sge : data) {
        if (sge.mr == nullptr) return unexpected(-EINVAL);
        data_len += sge.length;
    }
    if (data_len > max_io_size_) return unexpected(-EMSGSIZE);
    const std::size_t trailer = dir == Dir::write ? wire::kRdmaWriteSize
                                                  : wire::rdma_read_size(data.size());
    if (usr.size() + trailer > max_hdr_size_ || usr.size() > 0xFFFF) return unexpected(-EMSGSIZE);
    if (dir == Dir::read && !data.empty() && !(data[0].mr->access() & fabric::access_remote_write)) {
        return unexpected(-EINVAL);
    }
    return {};
}

void ClientSession::encode_header(RequestSlot& slot, Permit permit, std::span<const std::byte> usr) {
    std::byte* header = headers_.data() + std::size_t{permit} * max_hdr_size_;
    if (!usr.empty()) std::memcpy(header, usr.data(), usr.size());
    const std::span<std::byte> rest(header + usr.size(), max_hdr_size_ - usr.size());
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

Status<int> ClientSession::request(Dir dir, Permit permit, std::span<const std::byte> usr,
                                   std::span<const fabric::Sge> data, IoHandler& handler,
                                   std::uint64_t cookie) {
    if (auto checked = check_request(dir, permit, usr, data); !checked) return checked;
    RequestSlot& slot = slots_[permit];
    slot.dir = dir;
    slot.usr_len = static_cast<std::uint16_t>(usr.size());
    slot.data_count = static_cast<std::uint8_t>(data.size());
    slot.data_len = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        slot.data[i] = data[i];
        slot.data_len += data[i].length;
    }
    slot.handler = &handler;
    slot.cookie = cookie;
    slot.tried.reset();
    slot.response_status = 0;
    encode_header(slot, permit, usr);
    slot.state = RequestSlot::State::inflight;
    if (dispatch(permit)) {
        ++stats_.requests_submitted;
        return {};
    }
    if (config_.queue_while_reconnecting > 0 && !closing_) {
        ++stats_.requests_submitted;
        queue(permit);
        return {};
    }
    slot.state = RequestSlot::State::free;
    return unexpected(-ECONNABORTED);
}

std::span<const PathView> ClientSession::path_views() {
    path_views_.resize(paths_.size());
    for (std::size_t i = 0; i < paths_.size(); ++i) {
        const ClientPath* path = paths_[i].get();
        path_views_[i] = path ? PathView{path->state() == ClientPathState::connected,
                                         path->stats().inflight, path->stats().cur_latency}
                              : PathView{};
    }
    return path_views_;
}

bool ClientSession::dispatch(Permit permit) {
    RequestSlot& slot = slots_[permit];
    PathSet excluded = slot.tried;
    const auto views = path_views();
    while (auto choice = selector_.choose(config_.policy, views, excluded)) {
        if (paths_[*choice]->post_request(permit, slot)) return true;
        excluded.set(*choice);
    }
    return false;
}

void ClientSession::on_request_posted_done(ClientPath& path, std::uint32_t permit) {
    if (permit >= queue_depth_) return;
    RequestSlot& slot = slots_[permit];
    if (slot.state != RequestSlot::State::inflight || slot.path != path.index()) return;
    slot.local_done = true;
    if (slot.response_done) {
        --path.stats_.inflight;
        complete(permit, slot.response_status);
    }
}

void ClientSession::on_response(ClientPath& path, std::uint32_t msg_id, int status) {
    if (msg_id >= queue_depth_ || slots_[msg_id].state != RequestSlot::State::inflight ||
        slots_[msg_id].path != path.index() || slots_[msg_id].response_done) {
        log().warn("ibtrs session {}: response for msg {} that is not in flight on path {}",
                   config_.session_name, msg_id, path.name());
        return;
    }
    RequestSlot& slot = slots_[msg_id];
    slot.response_done = true;
    slot.response_status = status;
    // The request is done only when our own write has completed too: until then the header
    // buffer may still be read by the fabric (a retransmission), so the permit stays ours.
    if (slot.local_done) {
        --path.stats_.inflight;
        complete(msg_id, status);
    }
}

void ClientSession::complete(Permit permit, int status) {
    RequestSlot& slot = slots_[permit];
    slot.state = RequestSlot::State::free;
    if (status == 0) {
        ++stats_.requests_completed_ok;
    } else {
        ++stats_.requests_failed;
    }
    slot.handler->on_io_complete(slot.cookie, status);
}

// ---- paths up and down, failover -------------------------------------------------------------

void ClientSession::on_path_connected(ClientPath& path) {
    (void)path;
    ++connected_paths_;
    if (!open_reported_) {
        open_reported_ = true;
        handler_.on_open(0);
    } else if (connected_paths_ == 1) {
        handler_.on_session_reconnected();
    }
    flush_queue();
}

void ClientSession::on_path_lost(ClientPath& path) {
    (void)path;
    assert(connected_paths_ > 0);
    if (--connected_paths_ == 0 && open_reported_) handler_.on_session_disconnected();
}

void ClientSession::on_path_first_attempt_failed(ClientPath& failed) {
    (void)failed;
    if (open_reported_) return;
    const bool all_failed = std::all_of(paths_.begin(), paths_.end(), [](const auto& path) {
        return !path || path->first_attempt_done_;
    });
    if (!all_failed) return;
    open_reported_ = true;
    close();
    handler_.on_open(-ECONNRESET);
}

void ClientSession::on_path_drained(ClientPath& path) {
    std::vector<std::uint32_t> moved_to(paths_.size(), 0);  // failure path only
    for (Permit permit = 0; permit < queue_depth_; ++permit) {
        RequestSlot& slot = slots_[permit];
        if (slot.state != RequestSlot::State::inflight || slot.path != path.index()) continue;
        --path.stats_.inflight;
        if (slot.response_done) {  // answered; only our local completion was flushed
            complete(permit, slot.response_status);
            continue;
        }
        slot.tried.set(path.index());
        if (dispatch(permit)) {
            ++path.stats_.failovered;
            ++stats_.failovers;
            ++moved_to[slot.path];
            continue;
        }
        dispatch_or_fail(permit, -ECONNABORTED);
    }
    for (std::size_t to = 0; to < moved_to.size(); ++to) {
        if (moved_to[to] == 0) continue;
        log().debug("ibtrs session {}: failed over {} requests from {} to {}", config_.session_name,
                    moved_to[to], path.name(), paths_[to]->name());
        handler_.on_failover(path.name(), paths_[to]->name(), moved_to[to]);
    }
}

void ClientSession::dispatch_or_fail(Permit permit, int error) {
    if (config_.queue_while_reconnecting > 0 && !closing_) {
        slots_[permit].tried.reset();
        queue(permit);
    } else {
        complete(permit, error);
    }
}

void ClientSession::queue(Permit permit) {
    RequestSlot& slot = slots_[permit];
    slot.state = RequestSlot::State::queued;
    slot.queue_deadline = fabric_.now() + config_.queue_while_reconnecting;
    queued_.push_back(permit);
    stats_.requests_queued = queued_.size();
    if (queued_.size() == 1) arm_queue_timer();
}

void ClientSession::arm_queue_timer() {
    if (queued_.empty()) {
        queue_timer_->cancel();
        return;
    }
    const fabric::Nanos deadline = slots_[queued_.front()].queue_deadline;
    const fabric::Nanos now = fabric_.now();
    queue_timer_->arm(deadline > now ? deadline - now : 0);
}

void ClientSession::flush_queue() {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < queued_.size(); ++i) {
        const Permit permit = queued_[i];
        slots_[permit].state = RequestSlot::State::inflight;
        if (!dispatch(permit)) {
            slots_[permit].state = RequestSlot::State::queued;
            queued_[kept++] = permit;
        }
    }
    queued_.resize(kept);
    stats_.requests_queued = kept;
    arm_queue_timer();
}

void ClientSession::expire_queue() {
    const fabric::Nanos now = fabric_.now();
    std::size_t expired = 0;
    while (expired < queued_.size() && slots_[queued_[expired]].queue_deadline <= now) ++expired;
    // Deadlines are in FIFO order: every expired request is at the front.
    std::vector<Permit> failed(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(expired));
    queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(expired));
    stats_.requests_queued = queued_.size();
    arm_queue_timer();
    for (const Permit permit : failed) complete(permit, -ETIMEDOUT);
}

// ---- runtime path operations -------------------------------------------------------------------

Expected<std::uint32_t, int> ClientSession::add_path(const PathSpec& spec) {
    if (path_count() >= kMaxPathsPerSession || paths_.size() >= kMaxPathsPerSession) return unexpected(-EINVAL);
    PathSpec resolved = spec;
    if (resolved.destination.port == 0) resolved.destination.port = config_.port;
    for (const auto& path : paths_) {
        if (path && !path->removed() && path->source().host == resolved.source.host &&
            path->destination().to_string() == resolved.destination.to_string()) {
            return unexpected(-EEXIST);
        }
    }
    const auto index = static_cast<std::uint32_t>(paths_.size());
    paths_.push_back(std::make_unique<ClientPath>(*this, index, resolved, path_count() == 0));
    paths_.back()->start();
    return index;
}

Status<int> ClientSession::remove_path(std::uint32_t index) {
    if (index >= paths_.size() || !paths_[index] || paths_[index]->removed()) return unexpected(-ENOENT);
    if (path_count() == 1 && permits_.in_use() != 0) return unexpected(-EBUSY);
    paths_[index]->disconnect(true);
    return {};
}

Status<int> ClientSession::reconnect_path(std::uint32_t index) {
    if (index >= paths_.size() || !paths_[index] || paths_[index]->removed()) return unexpected(-ENOENT);
    return paths_[index]->reconnect();
}

Status<int> ClientSession::disconnect_path(std::uint32_t index) {
    if (index >= paths_.size() || !paths_[index] || paths_[index]->removed()) return unexpected(-ENOENT);
    paths_[index]->disconnect(false);
    return {};
}

}  // namespace ibnbd::ibtrs
