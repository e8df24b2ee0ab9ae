#include "tests/fabric/sim/sim_support.hpp"

#include <algorithm>

#include <boost/test/unit_test.hpp>

namespace ibnbd::fabric::sim::test {

std::vector<std::byte> pattern(std::size_t size, std::uint8_t seed) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 31 + seed * 7 + 1) & 0xFF);
    return bytes;
}

void Recorder::on_completion(const Completion& completion) {
    completions.push_back({completion, world_.now()});
}

void Recorder::on_cm_event(const CmEvent& event) {
    events.push_back({event.type, {event.private_data.begin(), event.private_data.end()}, world_.now()});
}

bool Recorder::has(CmEventType type) const { return count(type) != 0; }

std::size_t Recorder::count(CmEventType type) const {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [&](const Cm& event) { return event.type == type; }));
}

const Recorder::Cm* Recorder::first(CmEventType type) const {
    const auto found = std::find_if(events.begin(), events.end(), [&](const Cm& event) { return event.type == type; });
    return found == events.end() ? nullptr : &*found;
}

std::vector<Recorder::Timed> Recorder::with_opcode(Opcode opcode) const {
    std::vector<Timed> chosen;
    for (const Timed& timed : completions) {
        if (timed.completion.opcode == opcode) chosen.push_back(timed);
    }
    return chosen;
}

std::vector<Recorder::Timed> Recorder::with_status(WcStatus status) const {
    std::vector<Timed> chosen;
    for (const Timed& timed : completions) {
        if (timed.completion.status == status) chosen.push_back(timed);
    }
    return chosen;
}

std::optional<Recorder::Timed> Recorder::find(std::uint64_t context) const {
    for (const Timed& timed : completions) {
        if (timed.completion.context == context) return timed;
    }
    return std::nullopt;
}

void Acceptor::on_connect_request(ConnectRequest& request) {
    ++requests;
    if (reject) {
        BOOST_TEST(request.reject({}).has_value());
        return;
    }
    auto endpoint = request.accept({}, recorder_, queues);
    BOOST_REQUIRE(endpoint.has_value());
    endpoints.push_back(std::move(*endpoint));
}

Region::Region(Fabric& fabric, std::size_t size, std::uint32_t access, std::uint8_t seed)
    : bytes(pattern(size, seed)) {
    auto registered = fabric.register_memory(bytes.data(), bytes.size(), access);
    BOOST_REQUIRE(registered.has_value());
    mr = std::move(*registered);
}

Sge Region::sge(std::size_t offset, std::uint32_t length) {
    return Sge{mr.get(), bytes.data() + offset, length};
}

RemoteKey Region::remote(std::size_t offset) const {
    const RemoteKey key = mr->remote_key();
    return RemoteKey{key.addr + offset, key.rkey};
}

TwoNodes::TwoNodes(std::uint64_t seed, WorldConfig config, LinkConfig link)
    : world(seed, config),
      server_node(world.add_node("server", {kServerAddress})),
      client_node(world.add_node("client", {kClientAddress})),
      server_events(world),
      client_events(world),
      acceptor(server_events) {
    world.add_link(kClientAddress, kServerAddress, link);
}

void TwoNodes::connect(QueueSizes queues, std::uint16_t port) {
    acceptor.queues = queues;
    auto listening = server_node.listen(Address{kServerAddress, port}, acceptor);
    BOOST_REQUIRE(listening.has_value());
    listener = std::move(*listening);
    auto connecting = client_node.connect(listener->address(), Address{}, {}, client_events, queues);
    BOOST_REQUIRE(connecting.has_value());
    client_endpoint = std::move(*connecting);
    const std::size_t client_before = client_events.count(CmEventType::established);
    const std::size_t server_before = server_events.count(CmEventType::established);
    BOOST_REQUIRE(run_until([&] {
        return client_events.count(CmEventType::established) > client_before &&
               server_events.count(CmEventType::established) > server_before;
    }));
}

}  // namespace ibnbd::fabric::sim::test
