// A verifying block workload for one IBNBD device: random reads and writes at a fixed queue
// depth, each inside one of `regions` regions of `region_size` bytes with never two IOs in flight
// on one region, lengths and offsets random multiples of 4 KiB. A shadow of the device (zeros at
// the start) follows every acknowledged write, and every read is compared with it byte for byte.
// Buffers are allocated at construction; nothing is allocated per IO.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "ibnbd/client/block_device.hpp"

namespace ibnbd::rxe_test {

class BlockVerifier final : public block::BlockIoHandler {
public:
    struct Options {
        std::uint32_t queue_depth = 8;
        std::uint32_t region_size = 131072;  // a multiple of 4 KiB, at most the device's max_io_bytes
        std::uint32_t regions = 64;
        std::uint64_t total_ios = 400;
        unsigned read_percent = 50;
        std::uint64_t seed = 1;
    };

    BlockVerifier(block::BlockDevice& device, Options options);

    // Starts (or continues) issuing IO up to the queue depth.
    void pump();
    bool done() const { return issued_ >= options_.total_ios && outstanding_ == 0; }

    std::uint64_t completed = 0;
    std::uint64_t errors = 0;
    std::uint64_t submit_errors = 0;
    std::uint64_t verify_failures = 0;
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    int last_error = 0;

private:
    static constexpr std::uint32_t kGranule = 4096;
    struct Io {
        bool busy = false;
        bool read = false;
        std::uint32_t region = 0;
        std::uint64_t offset = 0;
        std::uint32_t length = 0;
        std::uint32_t version = 0;
        std::vector<std::byte> buffer;
    };

    void issue(std::uint32_t slot);
    void on_block_io_complete(std::uint64_t cookie, int status) override;
    std::uint32_t pick_region();
    std::uint32_t random_granules(std::uint32_t from, std::uint32_t to);
    static std::byte pattern(std::uint64_t offset, std::uint32_t version, std::uint32_t i);

    block::BlockDevice& device_;
    Options options_;
    std::mt19937_64 random_;
    std::vector<std::byte> shadow_;
    std::vector<bool> region_busy_;
    std::vector<Io> ios_;
    std::uint64_t issued_ = 0;
    std::uint32_t outstanding_ = 0;
    std::uint32_t version_ = 0;
};

}  // namespace ibnbd::rxe_test
