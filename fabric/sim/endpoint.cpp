#include "fabric/sim/endpoint.hpp"

#include <cassert>

#include "fabric/sim/engine.hpp"
#include "fabric/sim/lifecycle.hpp"
#include "fabric/sim/node.hpp"
#include "fabric/sim/transport.hpp"

namespace ibnbd::fabric::sim {
namespace {

WorkDetails details_of(RemoteKey remote, const std::uint32_t* imm, std::uint32_t key = 0) {
    WorkDetails details;
    details.remote = remote;
    details.imm = imm != nullptr ? *imm : 0;
    details.key = key;
    return details;
}

}  // namespace

SimEndpoint::~SimEndpoint() { destroy_connection(engine_, handle_); }

// The record stays in the table until this endpoint is destroyed.
Connection& SimEndpoint::connection() const {
    Connection* connection = engine_.connections.get(handle_);
    assert(connection != nullptr);
    return *connection;
}

Status<Errc> SimEndpoint::post_recv(std::uint64_t context, std::span<const Sge> sges) {
    return post_receive(engine_, connection(), context, sges);
}

Status<Errc> SimEndpoint::post_send(std::uint64_t context, std::span<const Sge> sges,
                                    const std::uint32_t* imm) {
    const OpKind kind = imm != nullptr ? OpKind::send_imm : OpKind::send;
    return post_work(engine_, connection(), kind, context, sges, details_of(RemoteKey{}, imm));
}

Status<Errc> SimEndpoint::post_write(std::uint64_t context, std::span<const Sge> sges,
                                     RemoteKey remote, const std::uint32_t* imm) {
    const OpKind kind = imm != nullptr ? OpKind::write_imm : OpKind::write;
    return post_work(engine_, connection(), kind, context, sges, details_of(remote, imm));
}

Status<Errc> SimEndpoint::post_read(std::uint64_t context, std::span<const Sge> sges,
                                    RemoteKey remote) {
    return post_work(engine_, connection(), OpKind::read, context, sges, details_of(remote, nullptr));
}

Status<Errc> SimEndpoint::post_send_invalidate(std::uint64_t context, std::span<const Sge> sges,
                                               std::uint32_t rkey) {
    return post_work(engine_, connection(), OpKind::send_inv, context, sges, details_of(RemoteKey{}, nullptr, rkey));
}

Status<Errc> SimEndpoint::post_local_invalidate(std::uint64_t context, std::uint32_t rkey) {
    return post_work(engine_, connection(), OpKind::local_invalidate, context, {},
                     details_of(RemoteKey{}, nullptr, rkey));
}

Expected<RemoteKey, Errc> SimEndpoint::post_bind_window(std::uint64_t context, MemoryWindow& window,
                                                        const WindowBind& bind) {
    Connection& record = connection();
    if (record.state != ConnState::connected) return unexpected(Errc::not_connected);
    const MemoryRegistry& memory = record.node->memory();
    auto* own_window = dynamic_cast<SimMemoryWindow*>(&window);
    const auto* region = dynamic_cast<const SimMemoryRegion*>(bind.mr);
    const bool revoke = own_window != nullptr && own_window->fabric_wide() && window_revoke_is_valid(bind);
    if (own_window == nullptr || &own_window->registry() != &memory || region == nullptr ||
        &region->registry() != &memory || (!revoke && !window_bind_is_valid(bind))) {
        return unexpected(Errc::invalid_argument);
    }
    WorkDetails details;
    details.key = revoke ? own_window->current_key() : own_window->next_key();
    details.binding = WindowBinding{region->remote_key().rkey, bind.addr, bind.length, bind.access, record.id};
    if (auto posted = post_work(engine_, record, OpKind::bind_window, context, {}, details); !posted) {
        return unexpected(posted.error());
    }
    own_window->bind_posted(details.key);
    return RemoteKey{reinterpret_cast<std::uint64_t>(bind.addr), details.key};
}

void SimEndpoint::disconnect() {
    Connection& record = connection();
    if (record.state == ConnState::connecting) {
        close_connection(engine_, record, CmEventType::disconnected, false, engine_.now, kNoMessage);
        return;
    }
    if (record.state == ConnState::connected || record.state == ConnState::accepted) {
        close_connection(engine_, record, CmEventType::disconnected, true, engine_.now, kNoMessage);
    }
}

bool SimEndpoint::connected() const { return connection().state == ConnState::connected; }

const Address& SimEndpoint::peer_address() const { return connection().peer_address; }

const Address& SimEndpoint::local_address() const { return connection().local_address; }

std::uint64_t SimEndpoint::id() const { return connection().id; }

}  // namespace ibnbd::fabric::sim
