// nbd:// and nbd+unix:// targets through libnbd's asynchronous API, for side-by-side runs
// against any NBD server (nbdkit, qemu-nbd, ibnbd-client's own export).
//
// Each job has its own libnbd handle, i.e. its own NBD connection (multi-conn style); all
// handles are driven by one poll() loop on the calling thread, which sleeps in poll(2) while
// waiting (a socket client has nothing to gain from spinning). libnbd allocates a small command
// record per IO internally; this engine itself allocates nothing per IO.
#pragma once

#include <memory>

#include "bench/ibnbd_bench/engine.hpp"
#include "bench/ibnbd_bench/options.hpp"

namespace ibnbd::bench {

std::unique_ptr<Engine> make_nbd_engine(const NbdTarget& target, CompletionList& done);

}  // namespace ibnbd::bench
