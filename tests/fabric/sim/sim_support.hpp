// Shared pieces of the simulator's own tests: a two-node world, recording handlers, registered
// buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "fabric/fabric.hpp"
#include "fabric/sim/world.hpp"

namespace ibnbd::fabric {

inline std::ostream& operator<<(std::ostream& out, Errc value) { return out << to_string(value); }
inline std::ostream& operator<<(std::ostream& out, WcStatus value) { return out << to_string(value); }
inline std::ostream& operator<<(std::ostream& out, Opcode value) { return out << to_string(value); }
inline std::ostream& operator<<(std::ostream& out, CmEventType value) { return out << to_string(value); }

}  // namespace ibnbd::fabric

namespace ibnbd::fabric::sim::test {

inline constexpr Nanos kMicrosecond = 1'000;
inline constexpr Nanos kMillisecond = 1'000'000;
inline constexpr Nanos kSecond = 1'000'000'000;
inline constexpr const char* kServerAddress = "10.0.0.1";
inline constexpr const char* kClientAddress = "10.0.0.2";

template <class T>
bool fails_with(const Expected<T, Errc>& result, Errc expected) {
    return !result.has_value() && result.error() == expected;
}

std::vector<std::byte> pattern(std::size_t size, std::uint8_t seed);

// Everything an endpoint reports, with the virtual time it arrived at.
class Recorder final : public EndpointHandler {
public:
    struct Timed {
        Completion completion;
        Nanos time;
    };
    struct Cm {
        CmEventType type;
        std::vector<std::byte> private_data;
        Nanos time;
    };

    explicit Recorder(const World& world) : world_(world) {}
    void on_completion(const Completion& completion) override;
    void on_cm_event(const CmEvent& event) override;

    bool has(CmEventType type) const;
    std::size_t count(CmEventType type) const;
    const Cm* first(CmEventType type) const;
    std::vector<Timed> with_opcode(Opcode opcode) const;
    std::vector<Timed> with_status(WcStatus status) const;
    // The completion carrying `context`, if it arrived.
    std::optional<Timed> find(std::uint64_t context) const;

    std::vector<Timed> completions;
    std::vector<Cm> events;

private:
    const World& world_;
};

// Accepts every request (unless told otherwise) and keeps the endpoint.
class Acceptor final : public ListenerHandler {
public:
    explicit Acceptor(Recorder& recorder) : recorder_(recorder) {}
    void on_connect_request(ConnectRequest& request) override;

    QueueSizes queues;
    bool reject = false;
    int requests = 0;
    std::vector<std::unique_ptr<Endpoint>> endpoints;

private:
    Recorder& recorder_;
};

// A buffer and its registration.
struct Region {
    Region(Fabric& fabric, std::size_t size, std::uint32_t access, std::uint8_t seed = 0);
    Sge sge(std::size_t offset, std::uint32_t length);
    RemoteKey remote(std::size_t offset) const;

    std::vector<std::byte> bytes;
    std::unique_ptr<MemoryRegion> mr;
};

inline constexpr std::uint32_t kAllAccess = access_local_write | access_remote_read | access_remote_write;

// A server node and a client node joined by one link; connect() builds one connection.
// Members are declared so that handlers outlive the endpoints that use them.
struct TwoNodes {
    explicit TwoNodes(std::uint64_t seed = 1, WorldConfig config = {}, LinkConfig link = {});
    // Listens on the server, connects from the client, runs until both are established.
    void connect(QueueSizes queues = {}, std::uint16_t port = 7000);
    Endpoint& server() { return *acceptor.endpoints.back(); }
    Endpoint& client() { return *client_endpoint; }
    bool run_until(const std::function<bool()>& done, Nanos timeout = kSecond) {
        return world.run_until(done, world.now() + timeout);
    }

    World world;
    Node& server_node;
    Node& client_node;
    Recorder server_events;
    Recorder client_events;
    Acceptor acceptor;
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Endpoint> client_endpoint;
};

}  // namespace ibnbd::fabric::sim::test
