#include "bench/ibnbd_bench/workload.hpp"

#include <algorithm>

#include "bench/ibnbd_bench/pattern.hpp"

namespace ibnbd::bench {

Workload::Workload(const Options& options, Region region, std::uint32_t job)
    : mode_(options.rw),
      rwmixread_(options.rwmixread),
      sizes_(options.block_sizes),
      region_(region),
      cursor_(region.start),
      state_(mix64(options.seed * 0x100000001b3ull + job)) {
    const std::uint64_t largest = *std::max_element(sizes_.begin(), sizes_.end());
    const std::uint64_t step = region.length / std::max<std::uint32_t>(options.numjobs, 1);
    cursor_ = region.start + (step * job) / largest * largest;
}

std::uint64_t Workload::random() {
    state_ += 0x9e3779b97f4a7c15ull;
    return mix64(state_);
}

IoSpec Workload::next() {
    IoSpec io;
    switch (mode_) {
        case RwMode::read: case RwMode::randread: io.write = false; break;
        case RwMode::write: case RwMode::randwrite: io.write = true; break;
        case RwMode::rw: case RwMode::randrw: io.write = random() % 100 >= rwmixread_; break;
    }
    io.length = sizes_.size() == 1 ? sizes_[0] : sizes_[random() % sizes_.size()];
    if (is_random(mode_)) {
        const std::uint64_t blocks = region_.length / io.length;
        io.offset = region_.start + (random() % blocks) * io.length;
        return io;
    }
    if (cursor_ + io.length > region_.start + region_.length) cursor_ = region_.start;
    io.offset = cursor_;
    cursor_ += io.length;
    return io;
}

}  // namespace ibnbd::bench
