#include "tests/fabric/conformance/conformance.hpp"

#include <algorithm>

#include <boost/test/unit_test.hpp>

namespace ibnbd::fabric::test {

bool completions_mean_delivered() { return backend_name() != "ofi-tcp-tc"; }

bool backend_is_simulator() {
    return backend_name().rfind("sim", 0) == 0;
}

std::vector<std::byte> pattern(std::size_t size, std::uint8_t seed) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<std::byte>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
    }
    return bytes;
}

bool arrived_as_sent(const std::vector<std::byte>& received, const std::vector<std::byte>& sent, std::size_t limit) {
    if (received.size() < sent.size() || received.size() > limit) return false;
    if (!std::equal(sent.begin(), sent.end(), received.begin())) return false;
    return std::all_of(received.begin() + static_cast<std::ptrdiff_t>(sent.size()), received.end(),
                       [](std::byte b) { return b == std::byte{0}; });
}

void Recorder::on_completion(const Completion& completion) {
    if (on_completion_hook) on_completion_hook(completion);
    completions.push_back(completion);
}

void Recorder::on_cm_event(const CmEvent& event) {
    events.push_back(Event{event.type,
                           std::vector<std::byte>(event.private_data.begin(), event.private_data.end()),
                           completions.size()});
}

std::size_t Recorder::count(CmEventType type) const {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [type](const Event& e) { return e.type == type; }));
}

const Recorder::Event* Recorder::first(CmEventType type) const {
    const auto found = std::find_if(events.begin(), events.end(), [type](const Event& e) { return e.type == type; });
    return found == events.end() ? nullptr : &*found;
}

std::vector<Completion> Recorder::with_opcode(Opcode opcode) const {
    std::vector<Completion> matching;
    std::copy_if(completions.begin(), completions.end(), std::back_inserter(matching),
                 [opcode](const Completion& c) { return c.opcode == opcode; });
    return matching;
}

void Acceptor::on_connect_request(ConnectRequest& request) {
    ++requests;
    request_data.assign(request.private_data().begin(), request.private_data().end());
    if (answer == Answer::reject) {
        BOOST_CHECK(request.reject(reply).has_value());
    } else if (answer == Answer::detach) {
        auto taken = request.detach();
        BOOST_REQUIRE(taken.has_value());
        detached = std::move(*taken);
        BOOST_CHECK(fails_with(request.detach(), Errc::invalid_argument));
        BOOST_CHECK(fails_with(request.accept({}, recorder_, queues), Errc::invalid_argument));
    } else if (answer == Answer::accept) {
        auto accepted = request.accept(reply, recorder_, queues);
        if (accepted) {
            endpoint = std::move(*accepted);
        } else {
            accept_failed = true;
            accept_error = accepted.error();
        }
    }
}

Region::Region(Fabric& fabric, std::size_t size, std::uint32_t access, std::uint8_t seed)
    : bytes(seed == 0 ? std::vector<std::byte>(size) : pattern(size, seed)) {
    auto registered = fabric.register_memory(bytes.data(), bytes.size(), access);
    BOOST_REQUIRE_MESSAGE(registered.has_value(), "register_memory failed");
    mr = std::move(*registered);
}

Sge Region::sge(std::size_t offset, std::uint32_t length) {
    return Sge{mr.get(), bytes.data() + offset, length};
}

RemoteKey Region::remote(std::size_t offset) const {
    const RemoteKey key = mr->remote_key();
    return RemoteKey{key.addr + offset, key.rkey};
}

bool Pair::connect(QueueSizes queues, std::vector<std::byte> connect_data, std::vector<std::byte> accept_data) {
    acceptor.queues = queues;
    acceptor.reply = std::move(accept_data);
    auto listening = harness.server().listen(harness.listen_address(), acceptor);
    BOOST_REQUIRE_MESSAGE(listening.has_value(), "listen failed");
    listener = std::move(*listening);
    auto connecting = harness.client().connect(listener->address(), Address{}, connect_data, client_events, queues);
    BOOST_REQUIRE_MESSAGE(connecting.has_value(), "connect failed");
    client_endpoint = std::move(*connecting);
    const bool up = run_until([&] {
        return client_events.has(CmEventType::established) && server_events.has(CmEventType::established);
    });
    BOOST_CHECK_MESSAGE(up, "both sides established");
    BOOST_CHECK(acceptor.endpoint != nullptr);
    return up && acceptor.endpoint != nullptr;
}

}  // namespace ibnbd::fabric::test
