// One job's stream of IOs: direction from --rw/--rwmixread, size from --bs, offset from the
// region (random: aligned to the IO's size; sequential: a cursor that wraps). Each job has its own
// random stream derived from (seed, job), so runs repeat exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/ibnbd_bench/options.hpp"

namespace ibnbd::bench {

struct IoSpec {
    bool write = false;
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
};

struct Region {
    std::uint64_t start = 0;
    std::uint64_t length = 0;
};

class Workload {
public:
    // Sequential jobs start evenly spread over the region, so numjobs streams do not all read
    // the same blocks. Requires region.length ≥ the largest block size.
    Workload(const Options& options, Region region, std::uint32_t job);
    IoSpec next();

private:
    std::uint64_t random();

    RwMode mode_;
    unsigned rwmixread_;
    std::vector<std::uint32_t> sizes_;
    Region region_;
    std::uint64_t cursor_;
    std::uint64_t state_;
};

}  // namespace ibnbd::bench
