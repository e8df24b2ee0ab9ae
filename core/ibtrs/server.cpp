#include "core/ibtrs/server.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "core/ibtrs/server_path.hpp"
#include "core/log.hpp"

namespace ibnbd::ibtrs {

Server::Server(fabric::Fabric& fabric, ServerConfig config, ServerHandler& handler)
    : fabric_(fabric), config_(config), handler_(handler) {}

Server::~Server() {
    if (reap_timer_ != 0) fabric_.cancel_timer(reap_timer_);
    // Paths first: they refer to their sessions.
    for (auto& [uuid, session] : sessions_) session->drop_paths();
    for (auto& session : retired_sessions_) session->drop_paths();
}

Expected<std::unique_ptr<Server>, int> Server::create(fabric::Fabric& fabric, ServerConfig config,
                                                     ServerHandler& handler) {
    if (!wire::check_server_params(config.queue_depth, config.chunk_size) ||
        config.chunk_size <= wire::kMaxHdrSize) {
        return unexpected(-EINVAL);
    }
    if (config.always_invalidate && !fabric.supports_fabric_windows()) return unexpected(-EOPNOTSUPP);
    return std::unique_ptr<Server>(new Server(fabric, config, handler));
}

Status<int> Server::listen(const fabric::Address& address) {
    auto listener = fabric_.listen(address, *this);
    if (!listener) {
        switch (listener.error()) {
            case fabric::Errc::address_in_use: return unexpected(-EADDRINUSE);
            case fabric::Errc::address_invalid: return unexpected(-EINVAL);
            default: return unexpected(-EIO);
        }
    }
    listeners_.push_back(std::move(listener.value()));
    return {};
}

ServerSession* Server::find_session(std::string_view name) {
    for (auto& [uuid, session] : sessions_) {
        if (session->name() == name) return session.get();
    }
    return nullptr;
}

std::vector<ServerSession*> Server::sessions() {
    std::vector<ServerSession*> result;
    for (auto& [uuid, session] : sessions_) result.push_back(session.get());
    return result;
}

void Server::join(SessionDirectory& directory, std::size_t self, std::vector<ServerPeer> peers) {
    assert(sessions_.empty() && self < peers.size() && peers[self].server == this);
    directory_ = &directory;
    self_ = self;
    peers_ = std::move(peers);
}

void join_group(SessionDirectory& directory, const std::vector<ServerPeer>& peers) {
    for (std::size_t i = 0; i < peers.size(); ++i) peers[i].server->join(directory, i, peers);
}

bool Server::take_name(const ServerSession& session, std::string_view name) {
    return directory_->take_name(session.paths_uuid(), name);
}

void Server::reject(fabric::DetachedConnectRequest& request, int error) {
    ++stats_.rejected;
    wire::ConnRsp rsp;
    rsp.status = static_cast<std::int16_t>(error);
    std::array<std::byte, wire::kConnRspSize> private_data{};
    (void)wire::encode_conn_rsp(rsp, private_data);
    log().debug("ibtrs server: rejecting connection from {} (errno {})",
                request.peer_address().to_string(), -error);
    (void)request.reject(private_data);
}

// Every request is detached, also when this reactor owns its session: one path for all.
void Server::on_connect_request(fabric::ConnectRequest& request) {
    ++stats_.connect_requests;
    const auto req = wire::decode_conn_req(request.private_data());
    auto detached = request.detach();
    if (!detached) {
        log().warn("ibtrs server: cannot take the connect request from {}", request.peer_address().to_string());
        return;  // rejected when the callback returns
    }
    Detached taken = std::move(detached.value());
    if (!req || !wire::check_conn_req(*req)) {
        ++stats_.violations;
        log().warn("ibtrs server: invalid connection request from {}", taken->peer_address().to_string());
        return reject(*taken, -ECONNRESET);
    }
    const auto owner = directory_->place(req->paths_uuid, req->first_conn);
    if (!owner) return reject(*taken, -ENXIO);  // not the first connection request for this session
    if (*owner == self_) return admit_here(std::move(taken), *req, self_);
    hand_over(std::move(taken), *req, self_, *owner);
}

void Server::hand_over(Detached request, const wire::ConnReq& req, std::size_t origin, std::size_t owner) {
    ++stats_.handed_over;
    Server* target = peers_[owner].server;
    peers_[owner].mailbox->post([target, request = std::move(request), req, origin]() mutable {
        target->admit_here(std::move(request), req, origin);
    });
}

void Server::admit_here(Detached request, const wire::ConnReq& req, std::size_t origin) {
    if (!sessions_.contains(req.paths_uuid) && req.first_conn) {
        // Placed here, but the session may have been dropped and placed again meanwhile.
        if (const std::size_t owner = directory_->adopt(req.paths_uuid, self_); owner != self_) {
            return hand_over(std::move(request), req, origin, owner);
        }
    }
    const int error = admit(*request, req);
    if (error == 0) return;
    if (origin == self_) return reject(*request, error);
    Server* listener_side = peers_[origin].server;
    peers_[origin].mailbox->post([listener_side, request = std::move(request), error] {
        listener_side->reject(*request, error);
    });
}

std::size_t Server::pending_handshakes() const {
    std::size_t pending = 0;
    for (const auto& [uuid, session] : sessions_) {
        for (const auto& [sess_uuid, path] : session->paths_) pending += path->pending_connections();
    }
    return pending;
}

std::uint64_t Server::dropped_connections() const {
    std::uint64_t dropped = 0;
    for (const auto& listener : listeners_) dropped += listener->dropped_connections();
    return dropped;
}

ServerPath* Server::oldest_connecting_path(const wire::ConnReq& req) {
    ServerPath* oldest = nullptr;
    for (auto& [paths_uuid, session] : sessions_) {
        for (auto& [sess_uuid, path] : session->paths_) {
            if (path->pending_connections() == 0) continue;
            if (paths_uuid == req.paths_uuid && sess_uuid == req.sess_uuid) continue;  // the one it joins
            if (oldest == nullptr || path->created() < oldest->created()) oldest = path.get();
        }
    }
    return oldest;
}

// At the limit, the paths that have waited longest for their handshake are closed: clients that
// connect and go silent cannot keep a new client out for longer than its own handshake takes.
bool Server::make_handshake_room(const wire::ConnReq& req) {
    if (config_.max_pending_handshakes == 0) return true;
    std::size_t pending = pending_handshakes();
    while (pending >= config_.max_pending_handshakes) {
        ServerPath* oldest = oldest_connecting_path(req);
        if (oldest == nullptr) return false;  // all of them are this request's own path
        pending -= oldest->pending_connections();
        ++stats_.handshakes_dropped;
        oldest->close("too many pending handshakes");
    }
    return true;
}

int Server::admit(fabric::DetachedConnectRequest& request, const wire::ConnReq& req) {
    // Before a session or path is made for it. Only a connection of a path that already waits
    // can find no room (nothing else to close), so no new session was placed for it.
    if (!make_handshake_room(req)) {
        ++stats_.handshakes_refused;
        return -EBUSY;
    }
    auto found = sessions_.find(req.paths_uuid);
    if (found == sessions_.end()) {
        if (!req.first_conn) return -ENXIO;  // not the first connection request for this session
        found = sessions_.emplace(req.paths_uuid, std::make_unique<ServerSession>(
                                                      *this, req.paths_uuid, config_.queue_depth,
                                                      config_.chunk_size)).first;
    }
    ServerSession& session = *found->second;
    ServerPath* path = nullptr;
    if (ServerPath* draining = session.draining_path(req.sess_uuid)) return refuse_until_drained(*draining, req);
    if (auto existing = session.paths_.find(req.sess_uuid); existing != session.paths_.end()) {
        ServerPath& known = *existing->second;
        if (known.state() != ServerPathState::connecting) return refuse_until_drained(known, req);
        if (auto joined = known.check_join(req); !joined) return joined.error();
        path = &known;
    }
    if (path == nullptr) {
        if (session.paths_.size() >= wire::kMaxPaths) return -ECONNRESET;
        for (const auto& [uuid, other] : session.paths_) {
            if (other->peer().host == request.peer_address().host &&
                other->local().host == request.local_address().host) {
                return -EEXIST;
            }
        }
        auto created = std::make_unique<ServerPath>(*this, session, req, request.peer_address(),
                                                    request.local_address());
        if (auto ok = created->init(); !ok) {
            schedule_reap();  // drops the session again if it is empty
            return ok.error();
        }
        path = created.get();
        session.paths_.emplace(req.sess_uuid, std::move(created));
    }
    if (auto accepted = path->accept(request, req.cid); !accepted) {
        path->close("accept failed");
        return accepted.error();
    }
    return 0;
}

int Server::refuse_until_drained(ServerPath& existing, const wire::ConnReq& req) {
    if (existing.state() == ServerPathState::connected) {
        if (req.cid != 0 || req.recon_cnt == existing.recon_cnt()) return -ECONNRESET;
        ++stats_.stale_paths_closed;
        existing.close("client reconnected");
    }
    ++stats_.refused_while_draining;
    log().debug("ibtrs server: path {} of session {} reconnects while its old connection drains",
                existing.name(), existing.session().name());
    return -EBUSY;
}

void Server::schedule_reap() {
    if (reap_timer_ == 0) reap_timer_ = fabric_.start_timer(0, *this, 0);
}

void Server::on_timer(std::uint64_t) {
    reap_timer_ = 0;
    reap();
}

void Server::reap() {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        ServerSession& session = *it->second;
        reap_paths(session);
        if (!session.paths_.empty()) {
            ++it;
            continue;
        }
        std::unique_ptr<ServerSession> lost = std::move(it->second);
        it = sessions_.erase(it);
        directory_->drop(lost->paths_uuid(), self_);
        on_session_lost(*lost);
        if (lost->busy_chunks() != 0) retired_sessions_.push_back(std::move(lost));
    }
    for (auto& session : retired_sessions_) reap_paths(*session);
    std::erase_if(retired_sessions_, [](const auto& session) { return session->busy_chunks() == 0; });
}

// A closed path is kept (draining) while storage still works on requests it brought, so that
// its reconnect is refused until then.
void Server::reap_paths(ServerSession& session) {
    for (auto p = session.paths_.begin(); p != session.paths_.end();) {
        if (!p->second->closed()) {
            ++p;
            continue;
        }
        ++stats_.paths_closed;
        session.retire_path(std::move(p->second));
        p = session.paths_.erase(p);
    }
    session.forget_drained_paths();
}

void Server::on_session_lost(ServerSession& session) {
    log().debug("ibtrs server: session {} lost its last path", session.name());
    if (session.announced_) {
        session.announced_ = false;
        handler_.on_session_disconnected(session);
    }
}

}  // namespace ibnbd::ibtrs
