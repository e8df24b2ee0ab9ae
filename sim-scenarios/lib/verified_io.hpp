// A verifying IO workload for one client IO shard (or a session's shard 0): random reads and writes of random sizes at a
// fixed queue depth over `blocks` blocks of `block_size` bytes. Every write's data is a pattern of
// (block, version); every read is checked byte for byte against the last acknowledged write.
// Blocks with an IO in flight are not chosen again, so each read has exactly one right answer.
// Latencies (virtual or real time, from the fabric's clock) are kept for percentiles; everything
// is allocated at construction, so the workload itself allocates nothing per IO.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/ibtrs/client_session.hpp"
#include "core/ibtrs/registered_buffer.hpp"
#include "sim-scenarios/lib/memory_target.hpp"

namespace ibnbd::scenario {

using ibtrs::ClientSession;
using ibtrs::IoHandler;
using ibtrs::Permit;
using ibtrs::RegisteredBuffer;

class IoDriver : public IoHandler {
public:
    struct Options {
        std::uint32_t queue_depth = 8;
        std::uint32_t blocks = 256;
        std::uint32_t block_size = 4096;
        std::uint32_t first_block = 0;  // the workload's blocks start here on the target
        std::uint64_t total_ios = 1000;
        unsigned read_percent = 50;
        bool random_sizes = true;  // 0 .. block_size bytes, else always block_size
        bool stop_on_error = false;
        std::uint64_t seed = 1;
    };

    // `disk` is what the target holds now: the shadow starts from it.
    // `fabric` is the shard's: the driver's buffers are registered there.
    IoDriver(fabric::Fabric& fabric, ibtrs::IoShard& shard, Options options, std::span<const std::byte> disk)
        : fabric_(fabric), session_(shard), options_(options), rng_(options.seed),
          shadow_(disk.begin() + std::size_t{options.first_block} * options.block_size,
                  disk.begin() + std::size_t{options.first_block + options.blocks} * options.block_size),
          busy_(options.blocks, false) {
        auto buffer = RegisteredBuffer::create(fabric, std::size_t{options.queue_depth + 1} * options.block_size,
                                               fabric::access_local_write);
        assert(buffer.has_value());
        buffers_ = std::move(buffer.value());
        inflight_.resize(options.queue_depth);  // every slot starts free
        latencies_.reserve(options.total_ios);
    }

    IoDriver(fabric::Fabric& fabric, ClientSession& session, Options options, std::span<const std::byte> disk)
        : IoDriver(fabric, session.shard(0), options, disk) {}

    // The q-quantile (0..1) of completed IO latencies, in the fabric's nanoseconds.
    fabric::Nanos latency_percentile(double q) const {
        if (latencies_.empty()) return 0;
        std::vector<fabric::Nanos> sorted(latencies_);
        std::sort(sorted.begin(), sorted.end());
        const auto index = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
        return sorted[std::min(index, sorted.size() - 1)];
    }

    // Starts (or continues) issuing IO up to the queue depth.
    void pump() {
        while (outstanding_ < options_.queue_depth && issued_ < options_.total_ios && !stopped_) {
            auto permit = session_.get_permit();
            if (!permit) return;
            issue(*permit);
        }
    }
    bool done() const { return (issued_ >= options_.total_ios || stopped_) && outstanding_ == 0; }
    // What the workload's blocks hold after every write acknowledged so far.
    std::span<const std::byte> shadow() const { return shadow_; }

    std::uint64_t completed = 0;
    std::uint64_t errors = 0;
    std::uint64_t submit_errors = 0;
    std::uint64_t verify_failures = 0;
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    int last_error = 0;

    void stop() { stopped_ = true; }

private:
    static constexpr std::uint32_t kFree = 0xFFFFFFFFu;  // Inflight::length of an unused slot

    struct Inflight {
        Permit permit = 0;
        std::uint32_t block = 0;
        std::uint32_t length = kFree;
        std::uint32_t version = 0;
        Dir dir = Dir::read;
        std::uint32_t slot = 0;
        fabric::Nanos started = 0;
    };

    std::uint32_t pick_block() {
        std::uniform_int_distribution<std::uint32_t> pick(0, options_.blocks - 1);
        for (;;) {
            const std::uint32_t block = pick(rng_);
            if (!busy_[block]) return block;
        }
    }

    static std::byte pattern(std::uint32_t block, std::uint32_t version, std::uint32_t i) {
        return static_cast<std::byte>((block * 131 + version * 31 + i * 7 + (i >> 8)) & 0xFF);
    }

    void issue(Permit permit) {
        std::uint32_t slot = 0;
        while (slot < inflight_.size() && inflight_[slot].length != kFree) ++slot;
        assert(slot < inflight_.size());
        Inflight& io = inflight_[slot];
        io.permit = permit;
        io.slot = slot;
        io.block = pick_block();
        io.length = options_.random_sizes
                        ? std::uniform_int_distribution<std::uint32_t>(0, options_.block_size)(rng_)
                        : options_.block_size;
        io.dir = std::uniform_int_distribution<unsigned>(0, 99)(rng_) < options_.read_percent ? Dir::read : Dir::write;
        io.version = ++version_;
        const auto usr = UserMessage{(std::uint64_t{options_.first_block} + io.block) * options_.block_size}.encode();
        fabric::Sge sge{};
        std::size_t entries = 0;
        if (io.dir == Dir::write) {
            std::byte* data = buffers_.data() + std::size_t{slot} * options_.block_size;
            for (std::uint32_t i = 0; i < io.length; ++i) data[i] = pattern(io.block, io.version, i);
            sge = buffers_.sge(std::size_t{slot} * options_.block_size, io.length);
            entries = io.length ? 1 : 0;
        } else if (io.length != 0) {
            std::memset(session_.read_buffer_bytes(permit).data(), 0xEE, io.length);
            sge = session_.read_buffer(permit, io.length);
            entries = 1;
        }
        busy_[io.block] = true;
        io.started = fabric_.now();
        ++issued_;
        ++outstanding_;
        const auto submitted = session_.request(io.dir, permit, usr, {&sge, entries}, *this, slot);
        if (!submitted) {
            ++submit_errors;
            last_error = submitted.error();
            finish(io);
            if (options_.stop_on_error) stopped_ = true;
        }
    }

    void finish(Inflight& io) {
        busy_[io.block] = false;
        --outstanding_;
        session_.put_permit(io.permit);
        io.length = kFree;
    }

    void on_io_complete(std::uint64_t cookie, int status) override {
        Inflight& io = inflight_[cookie];
        ++completed;
        if (latencies_.size() < latencies_.capacity()) latencies_.push_back(fabric_.now() - io.started);
        if (status != 0) {
            ++errors;
            last_error = status;
            if (options_.stop_on_error) stopped_ = true;
        } else if (io.dir == Dir::write) {
            ++writes;
            std::byte* shadow = shadow_.data() + std::size_t{io.block} * options_.block_size;
            for (std::uint32_t i = 0; i < io.length; ++i) shadow[i] = pattern(io.block, io.version, i);
        } else {
            ++reads;
            const std::byte* shadow = shadow_.data() + std::size_t{io.block} * options_.block_size;
            if (io.length && std::memcmp(session_.read_buffer_bytes(io.permit).data(), shadow, io.length) != 0) {
                ++verify_failures;
            }
        }
        finish(io);
        pump();
    }

    fabric::Fabric& fabric_;
    ibtrs::IoShard& session_;
    Options options_;
    std::mt19937_64 rng_;
    std::vector<std::byte> shadow_;
    std::vector<bool> busy_;
    std::vector<Inflight> inflight_{};
    RegisteredBuffer buffers_;
    std::uint64_t issued_ = 0;
    std::uint32_t outstanding_ = 0;
    std::uint32_t version_ = 0;
    std::vector<fabric::Nanos> latencies_;
    bool stopped_ = false;
};

}  // namespace ibnbd::scenario
