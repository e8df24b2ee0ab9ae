// ibnbd:// targets: the IBNBD client library in-process, over the fabric of --fabric/--provider,
// driven by the project's Reactor on the calling thread (busy polling: the reactor never sleeps
// while the benchmark runs, as fio's polled mode).
//
// All jobs share one session and one device handle, as the kernel's rnbd-client would (one
// session per server); each job is its own IO stream with its own slots. The device is mapped
// read-only when the workload has no writes, so several read benchmarks may run at once.
// Nothing is allocated per IO: slots and their buffers exist before the first IO, and the
// library copies data through its pre-registered pool.
#pragma once

#include <memory>

#include "bench/ibnbd_bench/engine.hpp"
#include "bench/ibnbd_bench/options.hpp"

namespace ibnbd::bench {

std::unique_ptr<Engine> make_ibnbd_engine(const Options& options, const IbnbdTarget& target, CompletionList& done);

}  // namespace ibnbd::bench
