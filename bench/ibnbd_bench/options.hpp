// ibnbd-bench's command line: fio-like workload options, the target, and the fabric choice.
// parse_options never exits and never throws: bad input comes back as a message (exit code 2),
// --help as its text (exit code 0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/ibnbd_bench/target_uri.hpp"

namespace ibnbd::bench {

enum class RwMode : std::uint8_t { read, write, randread, randwrite, rw, randrw };

bool is_random(RwMode mode);
bool has_reads(RwMode mode, unsigned rwmixread);
bool has_writes(RwMode mode, unsigned rwmixread);
std::string_view to_string(RwMode mode);

struct Options {
    Target target;
    std::string target_text;
    RwMode rw = RwMode::randread;
    unsigned rwmixread = 50;                    // percent of reads for rw / randrw
    std::vector<std::uint32_t> block_sizes{4096};
    std::uint32_t iodepth = 1;                  // per job
    std::uint32_t numjobs = 1;
    double runtime_s = 5.0;
    double ramp_s = 0.0;
    std::uint64_t offset = 0;                   // start of the region
    std::uint64_t size = 0;                     // length of the region; 0: to the end of the device
    bool verify = false;
    bool prefill = true;                        // with verify: write the region before the run
    std::uint64_t seed = 1;
    bool json = false;
    bool quiet = false;                         // no progress lines
    std::string fabric = "ofi";
    std::string provider = "tcp";
    std::string mp_policy = "min-inflight";
    std::uint32_t io_connections = 1;
    double connect_timeout_s = 10.0;
};

struct ParseResult {
    std::optional<Options> options;  // set when the run should go ahead
    int exit_code = 0;               // otherwise: 0 (help) or 2 (bad arguments)
    std::string message;             // help text or error, for stdout / stderr
};

ParseResult parse_options(const std::vector<std::string>& args);  // args without argv[0]

// "4096", "4k", "4K", "4KiB", "128KB" (binary multiples), "1m", "2g". No negative or fractional.
std::optional<std::uint64_t> parse_size(std::string_view text);
// "4k" or "4k,64k,128k"; every size a non-zero multiple of 512 and at most 16 MiB.
std::optional<std::vector<std::uint32_t>> parse_block_sizes(std::string_view text, std::string& error);

}  // namespace ibnbd::bench
