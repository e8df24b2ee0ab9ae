// Shared pieces of the fabric conformance suite: the backend under test, recording handlers, a
// connected endpoint pair and registered buffers. Everything goes through fabric::Fabric and the
// Harness, so every backend runs the same tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "fabric/fabric.hpp"
#include "tests/fabric/harness.hpp"

namespace ibnbd::fabric {

// For Boost.Test messages.
inline std::ostream& operator<<(std::ostream& out, Errc value) { return out << to_string(value); }
inline std::ostream& operator<<(std::ostream& out, WcStatus value) { return out << to_string(value); }
inline std::ostream& operator<<(std::ostream& out, Opcode value) { return out << to_string(value); }
inline std::ostream& operator<<(std::ostream& out, CmEventType value) { return out << to_string(value); }

}  // namespace ibnbd::fabric

namespace ibnbd::fabric::test {

// Generous: virtual time on the simulator, wall-clock time on real backends.
inline constexpr Nanos kMillisecond = 1'000'000;
inline constexpr Nanos kTimeout = 5'000 * kMillisecond;

// The backend named by --backend=NAME (default sim-verbs).
const std::string& backend_name();
// A fresh harness for one test (the global fixture already checked that the backend runs here).
std::unique_ptr<Harness> open_harness();
bool backend_is_simulator();
// False for a backend whose send and write completions only say the buffers may be reused
// (libfabric with transmit completion, "ofi-tcp-tc"): an error at the peer then shows as a broken
// connection, and the failing work itself may have completed with success.
bool completions_mean_delivered();

std::vector<std::byte> pattern(std::size_t size, std::uint8_t seed);

// Private data as a peer received it: the bytes sent, then only zero bytes, at most `limit` in
// all. The InfiniBand CM carries no length (IB and RoCE deliver zero-padded data, see fabric.hpp);
// the other backends deliver exactly what was sent.
bool arrived_as_sent(const std::vector<std::byte>& received, const std::vector<std::byte>& sent, std::size_t limit);

template <class T>
bool fails_with(const Expected<T, Errc>& result, Errc expected) {
    return !result.has_value() && result.error() == expected;
}

// Records everything an endpoint reports. `on_completion_hook` runs inside the callback, before
// the completion is recorded, for tests that must look at memory at that very moment.
class Recorder final : public EndpointHandler {
public:
    struct Event {
        CmEventType type;
        std::vector<std::byte> private_data;
        std::size_t completions_before;  // how many completions had arrived before this event
    };

    void on_completion(const Completion& completion) override;
    void on_cm_event(const CmEvent& event) override;

    std::size_t count(CmEventType type) const;
    bool has(CmEventType type) const { return count(type) > 0; }
    const Event* first(CmEventType type) const;
    // Completions with the given opcode, in arrival order.
    std::vector<Completion> with_opcode(Opcode opcode) const;

    std::vector<Completion> completions;
    std::vector<Event> events;
    std::function<void(const Completion&)> on_completion_hook;
};

// A listener handler that accepts (or rejects) every request with configured private data.
class Acceptor final : public ListenerHandler {
public:
    enum class Answer { accept, reject, ignore, detach };

    explicit Acceptor(Recorder& recorder) : recorder_(recorder) {}
    void on_connect_request(ConnectRequest& request) override;

    Answer answer = Answer::accept;
    std::vector<std::byte> reply;  // private data of the accept or reject
    QueueSizes queues;
    // Set by on_connect_request.
    int requests = 0;
    std::vector<std::byte> request_data;
    std::unique_ptr<Endpoint> endpoint;
    std::unique_ptr<DetachedConnectRequest> detached;  // Answer::detach
    Errc accept_error = Errc::backend_error;
    bool accept_failed = false;

private:
    Recorder& recorder_;
};

// A buffer and its registration on one fabric.
struct Region {
    Region(Fabric& fabric, std::size_t size, std::uint32_t access, std::uint8_t seed = 0);
    Sge sge(std::size_t offset, std::uint32_t length);
    RemoteKey remote(std::size_t offset) const;

    std::vector<std::byte> bytes;
    std::unique_ptr<MemoryRegion> mr;
};

// A listener on the server, and a client endpoint connected to it. Members are declared so
// that handlers outlive the objects they serve.
struct Pair {
    explicit Pair(Harness& harness) : harness(harness), acceptor(server_events) {}
    // Listens, connects with `connect_data` and runs until both sides are established.
    // Returns false (after BOOST checks) if that did not happen.
    bool connect(QueueSizes queues = {}, std::vector<std::byte> connect_data = {},
                 std::vector<std::byte> accept_data = {});
    Endpoint& server() { return *acceptor.endpoint; }
    Endpoint& client() { return *client_endpoint; }
    bool run_until(const std::function<bool()>& done, Nanos timeout = kTimeout) {
        return harness.run_until(done, timeout);
    }

    Harness& harness;
    Recorder server_events;
    Recorder client_events;
    Acceptor acceptor;
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Endpoint> client_endpoint;
};

}  // namespace ibnbd::fabric::test
