// ibnbd-bench: fio-like IOPS, bandwidth and latency percentiles of an ibnbd:// target (the IBNBD
// client in-process), an nbd:// target (libnbd) or a block device (io_uring, O_DIRECT), for
// side-by-side comparisons.
// Exit codes: 0 done, 1 the run failed (connection, open, IO errors), 2 bad arguments,
// 3 verify found wrong data.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include "bench/ibnbd_bench/engine_block.hpp"
#include "bench/ibnbd_bench/engine_ibnbd.hpp"
#include "bench/ibnbd_bench/engine_nbd.hpp"
#include "bench/ibnbd_bench/report.hpp"
#include "bench/ibnbd_bench/runner.hpp"
#include "core/log.hpp"

namespace {

using namespace ibnbd::bench;

std::atomic<bool> interrupted = false;  // lock-free, so a signal handler may set it

void on_signal(int) { interrupted.store(true); }

std::unique_ptr<Engine> make_engine(const Options& options, CompletionList& done) {
    if (const auto* ibnbd = std::get_if<IbnbdTarget>(&options.target)) return make_ibnbd_engine(options, *ibnbd, done);
    if (const auto* block = std::get_if<BlockTarget>(&options.target)) return make_block_engine(*block, done);
    return make_nbd_engine(std::get<NbdTarget>(options.target), done);
}

int run(const Options& options) {
    CompletionList done;
    auto engine = make_engine(options, done);
    const bool writable = has_writes(options.rw, options.rwmixread) || (options.verify && options.prefill);
    auto geometry = engine->open({options.numjobs, options.iodepth, writable});
    if (!geometry) {
        std::fprintf(stderr, "ibnbd-bench: %s\n", geometry.error().c_str());
        return 1;
    }
    std::signal(SIGINT, on_signal);  // first Ctrl-C: stop, drain, report; the default comes back after
    std::signal(SIGTERM, on_signal);
    auto result = run_benchmark(options, *engine, done, *geometry, &interrupted);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    engine->close();
    if (!result) {
        std::fprintf(stderr, "ibnbd-bench: %s\n", result.error().c_str());
        return 1;
    }
    const std::string text = options.json ? json_report(options, *geometry, *result)
                                          : human_report(options, *geometry, *result);
    std::fputs(text.c_str(), stdout);
    if (result->interrupted) std::fprintf(stderr, "ibnbd-bench: interrupted; the result covers %.2f s\n", result->measured_s);
    if (result->io_errors != 0) {
        std::fprintf(stderr, "ibnbd-bench: %llu IO errors; first: %s\n",
                     static_cast<unsigned long long>(result->io_errors), result->first_error.c_str());
        return 1;
    }
    if (result->verify_mismatches != 0) {
        std::fprintf(stderr, "ibnbd-bench: verify failed: %llu of %llu reads returned wrong data; first: %s\n",
                     static_cast<unsigned long long>(result->verify_mismatches),
                     static_cast<unsigned long long>(result->verified_ios), result->first_mismatch.c_str());
        return 3;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    ParseResult parsed = parse_options(args);
    if (!parsed.options) {
        std::fputs((parsed.exit_code == 0 ? "" : "ibnbd-bench: "), stderr);
        std::fprintf(parsed.exit_code == 0 ? stdout : stderr, "%s\n", parsed.message.c_str());
        return parsed.exit_code;
    }
    ibnbd::log().set_level(spdlog::level::err);
    return run(*parsed.options);
}
