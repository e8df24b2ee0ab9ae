#include "tests/rxe/block_verifier.hpp"

#include <cassert>
#include <cstring>

namespace ibnbd::rxe_test {

BlockVerifier::BlockVerifier(block::BlockDevice& device, Options options)
    : device_(device),
      options_(options),
      random_(options.seed),
      shadow_(std::size_t{options.regions} * options.region_size),
      region_busy_(options.regions, false),
      ios_(options.queue_depth) {
    assert(options.region_size % kGranule == 0 && options.regions >= options.queue_depth);
    for (Io& io : ios_) io.buffer.resize(options.region_size);
}

std::byte BlockVerifier::pattern(std::uint64_t offset, std::uint32_t version, std::uint32_t i) {
    return static_cast<std::byte>((offset / kGranule * 131 + version * 31 + i * 7 + (i >> 9)) & 0xFF);
}

std::uint32_t BlockVerifier::random_granules(std::uint32_t from, std::uint32_t to) {
    return std::uniform_int_distribution<std::uint32_t>(from, to)(random_);
}

std::uint32_t BlockVerifier::pick_region() {
    for (;;) {
        const std::uint32_t region = random_granules(0, options_.regions - 1);
        if (!region_busy_[region]) return region;
    }
}

void BlockVerifier::pump() {
    for (std::uint32_t slot = 0; slot < ios_.size() && issued_ < options_.total_ios; ++slot) {
        if (!ios_[slot].busy) issue(slot);
    }
}

void BlockVerifier::issue(std::uint32_t slot) {
    Io& io = ios_[slot];
    const std::uint32_t granules = options_.region_size / kGranule;
    const std::uint32_t length_granules = random_granules(1, granules);
    io.region = pick_region();
    io.offset = std::uint64_t{io.region} * options_.region_size +
                std::uint64_t{random_granules(0, granules - length_granules)} * kGranule;
    io.length = length_granules * kGranule;
    io.read = random_granules(0, 99) < options_.read_percent;
    io.version = ++version_;
    io.busy = true;
    region_busy_[io.region] = true;
    ++issued_;
    ++outstanding_;
    Status<int> submitted;
    if (io.read) {
        std::memset(io.buffer.data(), 0xEE, io.length);
        submitted = device_.read(io.offset, {io.buffer.data(), io.length}, *this, slot);
    } else {
        for (std::uint32_t i = 0; i < io.length; ++i) io.buffer[i] = pattern(io.offset, io.version, i);
        submitted = device_.write(io.offset, {io.buffer.data(), io.length}, false, *this, slot);
    }
    if (!submitted) {
        ++submit_errors;
        last_error = submitted.error();
        io.busy = false;
        region_busy_[io.region] = false;
        --outstanding_;
    }
}

void BlockVerifier::on_block_io_complete(std::uint64_t cookie, int status) {
    Io& io = ios_[cookie];
    ++completed;
    if (status != 0) {
        ++errors;
        last_error = status;
    } else if (io.read) {
        ++reads;
        if (std::memcmp(io.buffer.data(), shadow_.data() + io.offset, io.length) != 0) ++verify_failures;
    } else {
        ++writes;
        std::memcpy(shadow_.data() + io.offset, io.buffer.data(), io.length);
    }
    io.busy = false;
    region_busy_[io.region] = false;
    --outstanding_;
    if (issued_ < options_.total_ios) issue(static_cast<std::uint32_t>(cookie));
}

}  // namespace ibnbd::rxe_test
