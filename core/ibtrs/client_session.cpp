#include "core/ibtrs/client_session.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/ibtrs/client_path.hpp"
#include "core/ibtrs/io_shard.hpp"
#include "core/log.hpp"
#include "core/wire/rtrs.hpp"

namespace ibnbd::ibtrs {

// Shard reports reach the session through this, also after the session is gone (they are then
// dropped): remote shards' report tasks hold it.
class ClientSession::Relay final : public ShardEvents {
public:
    explicit Relay(ClientSession& session) : session(&session) {}
    void on_lane_established(std::uint32_t, std::uint32_t path, std::uint16_t generation) override {
        if (session) session->on_lane_established(path, generation);
    }
    void on_lane_failed(std::uint32_t, std::uint32_t path, std::uint16_t generation, std::string reason) override {
        if (session) session->on_lane_failed(path, generation, reason);
    }
    void on_lane_drained(std::uint32_t, std::uint32_t path, std::uint16_t generation) override {
        if (session) session->on_lane_drained(path, generation);
    }
    void on_lane_failover(std::uint32_t from, std::uint32_t to, std::uint32_t ios) override {
        if (session) session->on_lane_failover(from, to, ios);
    }

    ClientSession* session;  // the session's thread only
};

namespace {

bool valid_session_name(const std::string& name) {
    return !name.empty() && name.size() <= wire::kMaxPathnameLen &&
           name.find_first_of("/.") == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

ClientSession::ClientSession(fabric::Fabric& fabric, ClientConfig config, ClientSessionHandler& handler)
    : fabric_(fabric), config_(std::move(config)), handler_(handler), relay_(std::make_shared<Relay>(*this)) {
    for (auto& byte : paths_uuid_) byte = static_cast<std::uint8_t>(fabric_.random_u64());
}

ClientSession::~ClientSession() {
    relay_->session = nullptr;
    for (auto& slot : shards_) {
        if (slot.mailbox) slot.mailbox->post([shard = slot.shard.release()] { delete shard; });
    }
}

Expected<std::unique_ptr<ClientSession>, int> ClientSession::create(fabric::Fabric& fabric,
                                                                   ClientConfig config,
                                                                   std::vector<PathSpec> paths,
                                                                   ClientSessionHandler& handler,
                                                                   ShardLayout layout) {
    const std::uint64_t cids = 1 + std::uint64_t{config.io_connections} * (1 + layout.remote.size());
    const bool remote_ok = std::all_of(layout.remote.begin(), layout.remote.end(), [](const RemoteShard& remote) {
        return remote.fabric != nullptr && remote.mailbox != nullptr;
    });
    if (paths.empty() || paths.size() > kMaxPathsPerSession || !valid_session_name(config.session_name) ||
        config.io_connections == 0 || cids > wire::kMaxCidNum || !remote_ok ||
        (!layout.remote.empty() && layout.home == nullptr)) {
        return unexpected(-EINVAL);
    }
    std::unique_ptr<ClientSession> session(new ClientSession(fabric, std::move(config), handler));
    session->add_shards(layout);
    for (auto& spec : paths) {
        if (spec.destination.port == 0) spec.destination.port = session->config_.port;
        const auto index = static_cast<std::uint32_t>(session->paths_.size());
        // Every path given at open may create the server session: they are all legitimate.
        session->paths_.push_back(std::make_unique<ClientPath>(*session, index, spec, true));
    }
    return session;
}

void ClientSession::add_shards(const ShardLayout& layout) {
    const auto count = static_cast<std::uint32_t>(1 + layout.remote.size());
    const auto shard_config = [&](std::uint32_t index) {
        return ShardConfig{index, count, config_.session_name, config_.policy, config_.copy_lifetime};
    };
    shards_.push_back({std::make_unique<IoShard>(fabric_, shard_config(0), relay_, nullptr), nullptr});
    for (std::uint32_t index = 1; index < count; ++index) {
        const RemoteShard& remote = layout.remote[index - 1];
        shards_.push_back(
            {std::make_unique<IoShard>(*remote.fabric, shard_config(index), relay_, layout.home), remote.mailbox});
    }
}

template <class Action>
void ClientSession::each_shard(const Action& action) {
    for (auto& slot : shards_) {
        if (slot.mailbox == nullptr) {
            action(*slot.shard);
        } else {
            slot.mailbox->post([shard = slot.shard.get(), action] { action(*shard); });
        }
    }
}

void ClientSession::start() { start_next_path(); }

void ClientSession::start_next_path() {
    if (paths_started_ < paths_.size()) paths_[paths_started_++]->start();
}

void ClientSession::close() {
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
    return params_.max_hdr_size > read_overhead ? params_.max_hdr_size - read_overhead : 0;
}

SessionStats ClientSession::stats() const {
    SessionStats total;
    for (const auto& slot : shards_) {
        const IoShard::Counters& counters = slot.shard->counters();
        total.requests_submitted += counters.requests_submitted.get();
        total.requests_completed_ok += counters.requests_completed_ok.get();
        total.requests_failed += counters.requests_failed.get();
        total.failovers += counters.failovers.get();
        total.permits_fenced += counters.permits_fenced.get();
        total.completions_held += counters.completions_held.get();
        total.permits_in_use += slot.shard->permits_in_use();
    }
    total.server_session_lost = server_session_lost_;
    return total;
}

std::uint32_t ClientSession::permits_in_use() const {
    std::uint32_t in_use = 0;
    for (const auto& slot : shards_) in_use += slot.shard->permits_in_use();
    return in_use;
}

void ClientSession::set_policy(MpPolicy policy) {
    config_.policy = policy;
    each_shard([policy](IoShard& shard) { shard.set_policy(policy); });
}

std::uint16_t ClientSession::cid_num() const {
    return static_cast<std::uint16_t>(1 + config_.io_connections * shards_.size());
}

// What cid 0 learnt from the server; every shard sizes its pools from it in connect_lane().
int ClientSession::adopt_params(const SessionParams& params) {
    if (params == params_) return 0;
    if (params_.queue_depth != 0 && (permits_in_use() != 0 || connected_paths_ != 0)) {
        log().warn("ibtrs session {}: server offers queue depth {} / max io {}, session has {} / {}",
                   config_.session_name, params.queue_depth, params.max_io_size, params_.queue_depth,
                   params_.max_io_size);
        return -ECONNRESET;
    }
    if (params.queue_depth < shards_.size()) {
        log().warn("ibtrs session {}: queue depth {} leaves some of {} shards without permits",
                   config_.session_name, params.queue_depth, shards_.size());
    }
    params_ = params;
    chunk_size_ = std::uint64_t{params.max_io_size} + params.max_hdr_size;
    log().debug("ibtrs session {}: queue depth {}, max io {}, chunk {}, {} shards", config_.session_name,
                params.queue_depth, params.max_io_size, chunk_size_, shards_.size());
    return 0;
}

void ClientSession::connect_lanes(const ClientPath& path, const wire::ConnReq& request) {
    LaneConnect connect;
    connect.path = path.index();
    connect.generation = path.generation_;
    connect.destination = path.destination();
    connect.source = path.source();
    connect.request = request;
    connect.cids = static_cast<std::uint16_t>(config_.io_connections);
    connect.params = params_;
    connect.drain_timeout = config_.connect_timeout;
    connect.fence_timeout = config_.fence_timeout;
    each_shard([connect](IoShard& shard) {
        LaneConnect own = connect;  // shard s's cids: 1 + s·n .. n + s·n
        own.first_cid = static_cast<std::uint16_t>(1 + shard.index() * connect.cids);
        shard.connect_lane(own);
    });
}

void ClientSession::lanes_up(const ClientPath& path, const std::vector<wire::RemoteChunk>& chunks) {
    each_shard([index = path.index(), generation = path.generation_, chunks](IoShard& shard) {
        shard.lane_up(index, generation, chunks);
    });
}

void ClientSession::drain_lanes(const ClientPath& path, bool at_once) {
    each_shard([index = path.index(), generation = path.generation_, at_once](IoShard& shard) {
        shard.drain_lane(index, generation, at_once);
    });
}

void ClientSession::share_latency(const ClientPath& path, fabric::Nanos latency) {
    each_shard([index = path.index(), latency](IoShard& shard) { shard.set_latency(index, latency); });
}

ClientPath* ClientSession::live_path(std::uint32_t index) {
    return index < paths_.size() ? paths_[index].get() : nullptr;
}

void ClientSession::on_lane_established(std::uint32_t path, std::uint16_t generation) {
    if (ClientPath* target = live_path(path)) target->on_lane_established(generation);
}

void ClientSession::on_lane_failed(std::uint32_t path, std::uint16_t generation, const std::string& reason) {
    if (ClientPath* target = live_path(path)) target->on_lane_failed(generation, reason);
}

void ClientSession::on_lane_drained(std::uint32_t path, std::uint16_t generation) {
    if (ClientPath* target = live_path(path)) target->on_lane_drained(generation);
}

void ClientSession::on_lane_failover(std::uint32_t from, std::uint32_t to, std::uint32_t ios) {
    const ClientPath* from_path = live_path(from);
    const ClientPath* to_path = live_path(to);
    if (!from_path || !to_path) return;
    log().debug("ibtrs session {}: failed over {} requests from {} to {}", config_.session_name, ios,
                from_path->name(), to_path->name());
    handler_.on_failover(from_path->name(), to_path->name(), ios);
}

// ---- paths up and down, failover -------------------------------------------------------------

void ClientSession::on_path_connected(ClientPath& path) {
    (void)path;
    ++connected_paths_;
    if (!open_reported_) {
        open_reported_ = true;
        while (paths_started_ < paths_.size()) start_next_path();  // they join the session
        handler_.on_open(0);
    } else if (connected_paths_ == 1) {
        handler_.on_session_reconnected();
    }
}

void ClientSession::on_path_lost(ClientPath& path) {
    (void)path;
    assert(connected_paths_ > 0);
    if (--connected_paths_ == 0 && open_reported_) handler_.on_session_disconnected();
}

// A path that asked to join (not first_conn) was told the server has no such session: it restarted
// or dropped the session, whatever the other paths still believe. They belong to a session that
// is gone, so they go down too: the session then counts as lost, and its next connect creates a
// new server session (first_conn) and the upper layer re-opens its devices.
void ClientSession::on_server_forgot_session(ClientPath& reporter) {
    ++server_session_lost_;
    log().warn("ibtrs session {}: path {} found the server without this session; reconnecting every path",
               config_.session_name, reporter.name());
    each_shard([](IoShard& shard) { shard.unfence_all(); });
    for (auto& path : paths_) {
        if (path && path.get() != &reporter && path->state() == ClientPathState::connected) {
            path->fail("the server lost the session");
        }
    }
}

void ClientSession::on_path_first_attempt_failed(ClientPath& failed) {
    (void)failed;
    if (open_reported_) return;
    if (paths_started_ < paths_.size()) return start_next_path();
    const bool all_failed = std::all_of(paths_.begin(), paths_.end(), [](const auto& path) {
        return !path || path->attempted_before();
    });
    if (!all_failed) return;
    open_reported_ = true;
    close();
    handler_.on_open(-ECONNRESET);
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
    if (paths_started_ == index) start_next_path();  // else it starts in turn while opening
    return index;
}

Status<int> ClientSession::remove_path(std::uint32_t index) {
    if (index >= paths_.size() || !paths_[index] || paths_[index]->removed()) return unexpected(-ENOENT);
    if (path_count() == 1 && permits_in_use() != 0) return unexpected(-EBUSY);
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
