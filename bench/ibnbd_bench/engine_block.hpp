// Block device targets (/dev/ublkbN, /dev/nbdN, any block device or file) through io_uring with
// O_DIRECT: what a program using the device sees, page cache left out. One ring for every job;
// each IO is submitted at once (one system call, as fio's default batch of 1). Nothing is
// allocated per IO.
#pragma once

#include <memory>

#include "bench/ibnbd_bench/engine.hpp"
#include "bench/ibnbd_bench/target_uri.hpp"

namespace ibnbd::bench {

std::unique_ptr<Engine> make_block_engine(const BlockTarget& target, CompletionList& done);

}  // namespace ibnbd::bench
