// ServerProcess: rxe_server (next to this program) in a child process. fork + exec, not
// fork alone: rdma-core device contexts do not survive fork (the kernel refuses a uverbs file used
// under another process's credentials: "changed security contexts after opening file
// descriptor"), and librdmacm opens them process-wide on first use.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/rxe/rxe_support.hpp"

namespace ibnbd::rxe_test {

namespace {

std::string server_program() {
    char self[PATH_MAX] = {};
    const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string path = length > 0 ? std::string(self, static_cast<std::size_t>(length)) : std::string("./x");
    return path.substr(0, path.find_last_of('/') + 1) + "rxe_server";
}

std::vector<std::string> server_arguments(const std::vector<std::string>& addresses, std::uint16_t port,
                                          const ibtrs::ServerConfig& config, const std::string& block_dir,
                                          int ready_fd, int stop_fd) {
    std::vector<std::string> arguments = {
        server_program(),
        "--port=" + std::to_string(port),
        "--queue-depth=" + std::to_string(config.queue_depth),
        "--chunk-size=" + std::to_string(config.chunk_size),
        "--heartbeat-ms=" + std::to_string(config.heartbeat.interval / ibtrs::kMillisecond),
        "--heartbeat-missed=" + std::to_string(config.heartbeat.missed_max),
        "--ready-fd=" + std::to_string(ready_fd),
        "--stop-fd=" + std::to_string(stop_fd),
    };
    if (!block_dir.empty()) arguments.push_back("--block-dir=" + block_dir);
    arguments.insert(arguments.end(), addresses.begin(), addresses.end());
    return arguments;
}

}  // namespace

std::optional<ServerProcess> ServerProcess::start(const std::vector<std::string>& addresses, std::uint16_t port,
                                                  const ibtrs::ServerConfig& config, const std::string& block_dir) {
    int ready[2];
    int stop[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return std::nullopt;
    if (pipe2(stop, O_CLOEXEC) != 0) return std::nullopt;
    const auto arguments = server_arguments(addresses, port, config, block_dir, ready[1], stop[0]);
    std::vector<char*> argv;
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) return std::nullopt;
    if (pid == 0) {
        // The child's ends must survive exec.
        fcntl(ready[1], F_SETFD, 0);
        fcntl(stop[0], F_SETFD, 0);
        execv(argv[0], argv.data());
        std::perror("exec rxe_server");
        _exit(127);
    }
    close(ready[1]);
    close(stop[0]);
    char byte = 0;
    const bool listening = read(ready[0], &byte, 1) == 1;
    close(ready[0]);
    ServerProcess process(pid, stop[1]);
    if (!listening) {
        process.stop();
        return std::nullopt;
    }
    return process;
}

ServerProcess::ServerProcess(ServerProcess&& other) noexcept : pid_(other.pid_), stop_fd_(other.stop_fd_) {
    other.pid_ = -1;
    other.stop_fd_ = -1;
}

ServerProcess::~ServerProcess() {
    stop();
}

int ServerProcess::stop() {
    if (pid_ < 0) return -1;
    if (stop_fd_ >= 0) close(stop_fd_);
    stop_fd_ = -1;
    int status = 0;
    const pid_t waited = waitpid(pid_, &status, 0);
    pid_ = -1;
    if (waited < 0 || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

}  // namespace ibnbd::rxe_test
