#include "core/ibtrs/server_session.hpp"

#include <sys/mman.h>

#include <cerrno>

#include "core/ibtrs/server.hpp"
#include "core/ibtrs/server_path.hpp"
#include "core/log.hpp"

namespace ibnbd::ibtrs {

void ServerSession::Unmap::operator()(std::byte* p) const { ::munmap(p, bytes); }

ServerSession::ServerSession(Server& server, const Uuid& paths_uuid, std::uint32_t queue_depth,
                             std::uint32_t chunk_size)
    : server_(server), paths_uuid_(paths_uuid), queue_depth_(queue_depth), chunk_size_(chunk_size),
      slots_(queue_depth) {
    // Page-aligned zero pages, given out by the kernel as IO first touches them: zeroing the pool
    // here cost every connect request that creates a session its whole size (64 MiB at the
    // defaults), which made a flood of handshakes that never complete a CPU flood.
    const std::size_t bytes = std::size_t{queue_depth} * chunk_size;
    void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert(memory != MAP_FAILED);
    chunks_ = std::unique_ptr<std::byte, Unmap>(static_cast<std::byte*>(memory), Unmap{bytes});
}

ServerSession::~ServerSession() = default;

std::size_t ServerSession::connected_paths() const {
    std::size_t count = 0;
    for (const auto& [uuid, path] : paths_) count += path->state() == ServerPathState::connected;
    return count;
}

std::vector<const ServerPath*> ServerSession::paths() const {
    std::vector<const ServerPath*> result;
    for (const auto& [uuid, path] : paths_) result.push_back(path.get());
    return result;
}

void ServerSession::close_all_paths(std::string_view reason) {
    for (auto& [uuid, path] : paths_) path->close(reason);
}

bool ServerSession::slot_transition_allowed(Slot::State from, Slot::State to) {
    switch (from) {
        case Slot::State::idle: return to == Slot::State::busy;
        case Slot::State::busy: return to == Slot::State::busy_with_deferred || to == Slot::State::idle;
        case Slot::State::busy_with_deferred: return true;  // replaced, dropped or answered
    }
    return false;
}

void ServerSession::set_slot_state(std::uint32_t msg_id, Slot::State to) {
    Slot& slot = slots_[msg_id];
    assert(slot_transition_allowed(slot.state, to));
    slot.state = to;
    ++server_.stats_.slot_transitions;
}

bool ServerSession::chunk_busy_on(std::uint32_t msg_id, const ServerPath& path) const {
    const Slot& slot = slots_[msg_id];
    return (slot.busy() && slot.path == &path) || slot.deferred_from(path);
}

void ServerSession::on_request(ServerPath& path, std::uint16_t cid, std::uint32_t msg_id, Dir dir,
                               std::uint32_t data_len, std::uint32_t usr_len,
                               const ReadTarget& read) {
    Slot& slot = slots_[msg_id];
    set_slot_state(msg_id, Slot::State::busy);
    ++slot.token;
    slot.path = &path;
    slot.cid = cid;
    slot.read = read;
    ++busy_chunks_;
    ++stats_.requests;
    const std::span<std::byte> memory = chunk(msg_id);
    const RequestId id{msg_id, slot.token};
    const int status = server_.handler().on_request(*this, id, dir, memory.subspan(0, data_len),
                                                    memory.subspan(data_len, usr_len));
    if (status != 0) respond(id, status);
}

void ServerSession::defer(ServerPath& path, std::uint16_t cid, std::uint32_t msg_id, std::uint32_t payload) {
    Slot& slot = slots_[msg_id];
    // A newer re-issue replaces an older deferred one: that one's path already failed.
    set_slot_state(msg_id, Slot::State::busy_with_deferred);
    slot.deferred_path = &path;
    slot.deferred_cid = cid;
    slot.deferred_payload = payload;
    ++stats_.deferred;
    log().debug("ibtrs server session {}: chunk {} busy, request from {} deferred", name_, msg_id, path.name());
}

void ServerSession::respond(RequestId id, int status) {
    if (id.msg_id >= queue_depth_ || !slots_[id.msg_id].busy() || slots_[id.msg_id].token != id.token) {
        log().error("ibtrs server session {}: respond() for a request that is not pending (msg {})",
                    name_, id.msg_id);
        return;
    }
    Slot& slot = slots_[id.msg_id];
    const bool deliverable = slot.path != nullptr && slot.path->state() == ServerPathState::connected;
    if (deliverable) {
        slot.path->send_response(slot.cid, id.msg_id, status, slot.read);
        ++stats_.responses;
    } else {
        ++stats_.responses_dropped;
    }
    const bool had_deferred = slot.state == Slot::State::busy_with_deferred;
    set_slot_state(id.msg_id, Slot::State::idle);
    slot.path = nullptr;
    --busy_chunks_;
    if (had_deferred) {
        ServerPath* path = slot.deferred_path;
        if (path != nullptr && path->state() == ServerPathState::connected) {
            path->start_io_request(*path->conns_[slot.deferred_cid], slot.deferred_payload);
        }
    }
    if (!deliverable) server_.schedule_reap();  // its path may be drained now
}

std::uint32_t ServerSession::busy_chunks_of(const ServerPath& path) const {
    std::uint32_t count = 0;
    for (const Slot& slot : slots_) count += slot.busy() && slot.path == &path;
    return count;
}

void ServerSession::drop_deferred_from(const ServerPath& path) {
    for (std::uint32_t msg_id = 0; msg_id < queue_depth_; ++msg_id) {
        if (slots_[msg_id].deferred_from(path)) set_slot_state(msg_id, Slot::State::busy);
    }
}

void ServerSession::retire_path(std::unique_ptr<ServerPath> path) {
    drop_deferred_from(*path);
    if (busy_chunks_of(*path) == 0) {
        forget_path(*path);
        return;
    }
    log().debug("ibtrs server session {}: path {} closed with {} requests in storage, draining", name_,
                path->name(), busy_chunks_of(*path));
    draining_paths_.push_back(std::move(path));
}

void ServerSession::forget_drained_paths() {
    std::erase_if(draining_paths_, [this](const auto& path) {
        if (busy_chunks_of(*path) != 0) return false;
        forget_path(*path);
        return true;
    });
}

ServerPath* ServerSession::draining_path(const Uuid& sess_uuid) const {
    for (const auto& path : draining_paths_) {
        if (path->sess_uuid() == sess_uuid) return path.get();
    }
    return nullptr;
}

void ServerSession::drop_paths() {
    paths_.clear();
    draining_paths_.clear();
}

void ServerSession::forget_path(ServerPath& path) {
    drop_deferred_from(path);
    for (Slot& slot : slots_) {
        if (slot.path == &path) slot.path = nullptr;
    }
}

}  // namespace ibnbd::ibtrs
