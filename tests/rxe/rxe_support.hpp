// What the end-to-end tests inside the SoftRoCE VM share: the environment (addresses of the rxe
// device), a polling loop that sleeps on the fabric's wait descriptor when idle, an IBTRS server
// in a child process, and shell commands for network faults.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/ibtrs/types.hpp"
#include "fabric/verbs/verbs_fabric.hpp"

namespace ibnbd::rxe_test {

struct RxeEnvironment {
    std::vector<std::string> addresses;  // one or two IPv4 addresses of the RDMA device
    std::string interface;               // the netdev that carries them ("dummy0")
};

// From RXE_VM_IP, RXE_VM_IP2 and RXE_VM_IFACE (set by scripts/rxe/run-rxe-vm.sh in the guest),
// or IBNBD_VERBS_ADDR (comma separated) on hardware. nullopt and `why_not` when unusable.
std::optional<RxeEnvironment> rxe_environment(std::string& why_not);

// Polls until done() holds or `timeout` passes; sleeps on wait_fd() (and timers) when idle.
bool run_until(fabric::verbs::VerbsFabric& fabric, const std::function<bool()>& done, fabric::Nanos timeout);

// Runs `command` with /bin/sh and returns its exit status (-1 if it could not run).
int run_command(const std::string& command);
// Deletes `address` (/24) from the environment's netdev, or adds it back: `ip`'s exit status. On
// rxe a path whose address is gone fails its next work request with a local QP operation error.
int delete_address(const std::string& address);
int add_address(const std::string& address);

// What every case uses: queue depth 64 with 128 KiB chunks, heartbeats every 200 ms (3 missed
// close a path), reconnects after 300 ms .. 1 s, round robin over the paths, 2 IO connections.
ibtrs::ServerConfig rxe_server_config();
ibtrs::ClientConfig rxe_client_config(std::string session_name);

// The environment of this test run (set once by the test module's global fixture).
RxeEnvironment& environment();

// rxe_server in a child process, listening on `addresses`: an IBTRS server over per-session memory
// disks, or with `block_dir` an IBNBD server exporting the files there (vol0 is created).
class ServerProcess {
public:
    // Forks and execs; returns once the child listens, or nullopt if it failed to.
    static std::optional<ServerProcess> start(const std::vector<std::string>& addresses, std::uint16_t port,
                                              const ibtrs::ServerConfig& config, const std::string& block_dir = {});
    ServerProcess(ServerProcess&& other) noexcept;
    ServerProcess& operator=(ServerProcess&&) = delete;
    ~ServerProcess();

    // Tells the child to exit and returns its exit status (0: clean), or -1.
    int stop();

private:
    ServerProcess(pid_t pid, int stop_fd) : pid_(pid), stop_fd_(stop_fd) {}

    pid_t pid_ = -1;
    int stop_fd_ = -1;
};

}  // namespace ibnbd::rxe_test
