#include "tests/rxe/rxe_support.hpp"

#include <poll.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace ibnbd::rxe_test {

namespace {

std::string environment_value(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> parts;
    std::stringstream stream(text);
    for (std::string part; std::getline(stream, part, ',');) {
        if (!part.empty()) parts.push_back(part);
    }
    return parts;
}

}  // namespace

std::optional<RxeEnvironment> rxe_environment(std::string& why_not) {
    RxeEnvironment environment;
    environment.addresses = split_commas(environment_value("IBNBD_VERBS_ADDR"));
    if (environment.addresses.empty()) {
        for (const char* name : {"RXE_VM_IP", "RXE_VM_IP2"}) {
            if (!environment_value(name).empty()) environment.addresses.push_back(environment_value(name));
        }
    }
    environment.interface = environment_value("RXE_VM_IFACE");
    if (environment.addresses.empty()) {
        why_not = "no RDMA address: this test runs inside the SoftRoCE VM (ctest -L rxe, which sets "
                  "RXE_VM_IP), or on RDMA hardware with IBNBD_VERBS_ADDR=ip[,ip2]";
        return std::nullopt;
    }
    fabric::verbs::VerbsConfig config;
    config.address = environment.addresses.front();
    if (!fabric::verbs::VerbsFabric::create(config)) {
        why_not = "no usable RDMA device for " + config.address + " (IBNBD_LOG=debug tells why)";
        return std::nullopt;
    }
    return environment;
}

bool run_until(fabric::verbs::VerbsFabric& fabric, const std::function<bool()>& done, fabric::Nanos timeout) {
    const fabric::Nanos deadline = fabric.now() + timeout;
    while (!done()) {
        const fabric::Nanos now = fabric.now();
        if (now >= deadline) return done();
        if (fabric.poll(64) != 0) continue;
        // Idle: sleep until an event, the next timer or (at most) 10 ms.
        fabric::Nanos wake = std::min(deadline, now + 10'000'000);
        if (const fabric::Nanos timer = fabric.next_timer_deadline(); timer != 0) wake = std::min(wake, timer);
        pollfd descriptor{fabric.wait_fd(), POLLIN, 0};
        const auto milliseconds = static_cast<int>((wake > now ? wake - now : 0) / 1'000'000);
        ::poll(&descriptor, 1, milliseconds);
    }
    return true;
}

int run_command(const std::string& command) {
    const int status = std::system(command.c_str());
    if (status == -1 || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

int delete_address(const std::string& address) {
    return run_command("ip addr del " + address + "/24 dev " + environment().interface);
}

int add_address(const std::string& address) {
    return run_command("ip addr add " + address + "/24 dev " + environment().interface);
}

ibtrs::ServerConfig rxe_server_config() {
    ibtrs::ServerConfig config;
    config.queue_depth = 64;
    config.chunk_size = 131072;
    config.heartbeat = {200 * ibtrs::kMillisecond, 3};
    return config;
}

ibtrs::ClientConfig rxe_client_config(std::string session_name) {
    ibtrs::ClientConfig config;
    config.session_name = std::move(session_name);
    config.io_connections = 2;
    config.policy = ibtrs::MpPolicy::round_robin;
    config.heartbeat = {200 * ibtrs::kMillisecond, 3};
    config.reconnect_delay = 300 * ibtrs::kMillisecond;
    config.reconnect_max_delay = 1 * ibtrs::kSecond;
    config.reconnect_jitter = 50 * ibtrs::kMillisecond;
    config.connect_timeout = 10 * ibtrs::kSecond;
    return config;
}

}  // namespace ibnbd::rxe_test
