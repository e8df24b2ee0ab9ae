#include "fabric/sim/endpoint.hpp"

#include <cassert>

#include "fabric/sim/engine.hpp"
#include "fabric/sim/lifecycle.hpp"
#include "fabric/sim/transport.hpp"

namespace ibnbd::fabric::sim {

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
    return post_work(engine_, connection(), kind, context, sges, RemoteKey{}, imm ? *imm : 0);
}

Status<Errc> SimEndpoint::post_write(std::uint64_t context, std::span<const Sge> sges,
                                     RemoteKey remote, const std::uint32_t* imm) {
    const OpKind kind = imm != nullptr ? OpKind::write_imm : OpKind::write;
    return post_work(engine_, connection(), kind, context, sges, remote, imm ? *imm : 0);
}

Status<Errc> SimEndpoint::post_read(std::uint64_t context, std::span<const Sge> sges,
                                    RemoteKey remote) {
    return post_work(engine_, connection(), OpKind::read, context, sges, remote, 0);
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
