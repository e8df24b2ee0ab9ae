// The Endpoint handed to users: a handle on a Connection, which the RdmaDevice owns and which outlives
// the handle (see verbs_connection.hpp). Destroying the handle orphans the connection.
#pragma once

#include "fabric/fabric.hpp"
#include "fabric/verbs/verbs_connection.hpp"

namespace ibnbd::fabric::verbs {

class VerbsEndpoint final : public Endpoint {
public:
    VerbsEndpoint(RdmaDevice& device, Connection& connection) : device_(device), connection_(connection) {
        device_.count_endpoint(+1);
    }
    ~VerbsEndpoint() override {
        connection_.orphan();
        device_.count_endpoint(-1);
    }
    VerbsEndpoint(const VerbsEndpoint&) = delete;
    VerbsEndpoint& operator=(const VerbsEndpoint&) = delete;

    Status<Errc> post_recv(std::uint64_t context, std::span<const Sge> sges) override {
        return connection_.post_recv(context, sges);
    }
    Status<Errc> post_send(std::uint64_t context, std::span<const Sge> sges, const std::uint32_t* imm) override {
        return connection_.post_send(context, sges, imm);
    }
    Status<Errc> post_write(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote,
                            const std::uint32_t* imm) override {
        return connection_.post_write(context, sges, remote, imm);
    }
    Status<Errc> post_read(std::uint64_t context, std::span<const Sge> sges, RemoteKey remote) override {
        return connection_.post_read(context, sges, remote);
    }
    Status<Errc> post_send_invalidate(std::uint64_t context, std::span<const Sge> sges,
                                      std::uint32_t rkey) override {
        return connection_.post_send_invalidate(context, sges, rkey);
    }
    Status<Errc> post_local_invalidate(std::uint64_t context, std::uint32_t rkey) override {
        return connection_.post_local_invalidate(context, rkey);
    }
    Expected<RemoteKey, Errc> post_bind_window(std::uint64_t context, MemoryWindow& window,
                                               const WindowBind& bind) override {
        return connection_.post_bind_window(context, window, bind);
    }
    void disconnect() override { connection_.disconnect(); }
    bool connected() const override { return connection_.connected(); }
    const Address& peer_address() const override { return connection_.peer_address(); }
    const Address& local_address() const override { return connection_.local_address(); }

private:
    RdmaDevice& device_;
    Connection& connection_;
};

}  // namespace ibnbd::fabric::verbs
