// A data oracle for IBNBD devices: a random workload of every op (read, write with and without FUA,
// flush, discard, write-zeroes with and without NOUNMAP) over `blocks` blocks, where every read is
// checked against what a block store could return given the acknowledged writes:
//   after a write of version v      → exactly pattern(block, v)
//   after write-zeroes              → zeros
//   after discard                   → anything (a hole reads zeros on files, but nothing promises it)
// Blocks with an operation in flight are not chosen again, so every read has one right answer.
// It also keeps, per block, what may survive a server crash (durable content plus every version
// written since), for the crash checks of check_after_crash().
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ibnbd/client/block_device.hpp"

namespace ibnbd::scenario {

class BlockOracle : public block::BlockIoHandler {
public:
    static constexpr std::uint32_t kZeros = 0;               // version: all zeros
    static constexpr std::uint32_t kUndefined = 0xFFFFFFFF;  // version: anything

    struct Options {
        std::uint32_t blocks = 128;
        std::uint32_t first_block = 0;  // the oracle's blocks start here on the device
        std::uint32_t block_size = 4096;
        std::uint32_t queue_depth = 8;
        std::uint64_t total_ops = 1000;
        std::uint64_t seed = 1;
        bool use_discard = true;
        bool use_write_zeroes = true;
    };

    BlockOracle(block::DeviceIo& device, Options options)
        : device_(&device), options_(options), rng_(options.seed), blocks_(options.blocks),
          buffers_(std::size_t{options.queue_depth} * options.block_size), slots_(options.queue_depth) {}

    static std::byte pattern(std::uint32_t block, std::uint32_t version, std::uint32_t i) {
        if (version == kZeros) return std::byte{0};
        return static_cast<std::byte>((block * 131u + version * 29u + i * 7u + (i >> 9)) & 0xFF);
    }

    void pump() {
        while (outstanding_ < options_.queue_depth && issued_ < options_.total_ops && !stopped_) issue();
    }
    bool done() const { return (issued_ >= options_.total_ops || stopped_) && outstanding_ == 0; }
    void set_device(block::DeviceIo& device) { device_ = &device; }
    void add_ops(std::uint64_t more) { options_.total_ops += more; }

    // Reads every block back through `read` results given to check_block(); see the tests.
    // True when `bytes` (block b's content after a crash) is, sector by sector, the durable
    // content or some version written since.
    bool possible_after_crash(std::uint32_t block, std::span<const std::byte> bytes) const {
        const BlockState& state = blocks_[block];
        for (std::uint32_t sector = 0; sector < options_.block_size / 512; ++sector) {
            if (!sector_matches(block, state.durable, sector, bytes) &&
                std::none_of(state.since_durable.begin(), state.since_durable.end(),
                             [&](std::uint32_t v) { return sector_matches(block, v, sector, bytes); })) {
                return false;
            }
        }
        return true;
    }
    bool exactly(std::uint32_t block, std::uint32_t version, std::span<const std::byte> bytes) const {
        for (std::uint32_t sector = 0; sector < options_.block_size / 512; ++sector) {
            if (!sector_matches(block, version, sector, bytes)) return false;
        }
        return true;
    }
    // After a crash has been checked: the blocks hold unknown (but checked) content.
    void forget_contents() {
        for (auto& state : blocks_) state = BlockState{kUndefined, kUndefined, {}, false};
    }
    std::uint32_t current(std::uint32_t block) const { return blocks_[block].current; }
    std::uint32_t durable(std::uint32_t block) const { return blocks_[block].durable; }
    bool has_unflushed(std::uint32_t block) const { return !blocks_[block].since_durable.empty(); }

    std::uint64_t completed = 0, errors = 0, submit_errors = 0, verify_failures = 0;
    std::uint64_t reads = 0, writes = 0, flushes = 0, discards = 0, zeroes = 0;
    int last_error = 0;

private:
    enum class Kind : std::uint8_t { read, write, write_fua, flush, discard, zeroes, zeroes_nounmap };
    struct BlockState {
        std::uint32_t current = kZeros;
        std::uint32_t durable = kZeros;
        std::vector<std::uint32_t> since_durable;  // versions that may have reached the media
        bool busy = false;
    };
    struct Slot {
        bool used = false;
        Kind kind = Kind::read;
        std::uint32_t block = 0;
        std::uint32_t version = 0;
        std::vector<std::size_t> flush_cuts;  // flush: since_durable sizes at issue
        std::vector<std::uint32_t> flush_current;
    };

    bool sector_matches(std::uint32_t block, std::uint32_t version, std::uint32_t sector,
                        std::span<const std::byte> bytes) const {
        if (version == kUndefined) return true;
        for (std::uint32_t i = sector * 512; i < (sector + 1) * 512; ++i) {
            if (bytes[i] != pattern(block, version, i)) return false;
        }
        return true;
    }

    Kind pick_kind() {
        const unsigned roll = std::uniform_int_distribution<unsigned>(0, 99)(rng_);
        if (roll < 40) return Kind::read;
        if (roll < 70) return Kind::write;
        if (roll < 78) return Kind::write_fua;
        if (roll < 84) return Kind::flush;
        if (roll < 91) return options_.use_discard ? Kind::discard : Kind::write;
        if (roll < 96) return options_.use_write_zeroes ? Kind::zeroes : Kind::write;
        return options_.use_write_zeroes ? Kind::zeroes_nounmap : Kind::read;
    }

    void issue() {
        std::uint32_t index = 0;
        while (slots_[index].used) ++index;
        Slot& slot = slots_[index];
        slot.used = true;
        slot.kind = pick_kind();
        ++issued_;
        ++outstanding_;
        if (slot.kind == Kind::flush) {
            slot.flush_cuts.clear();
            slot.flush_current.clear();
            for (const auto& state : blocks_) {
                slot.flush_cuts.push_back(state.busy ? 0 : state.since_durable.size());
                slot.flush_current.push_back(state.busy ? kUndefined : state.current);
            }
            return submitted(slot, device_->flush(*this, index));
        }
        std::uniform_int_distribution<std::uint32_t> pick(0, options_.blocks - 1);
        do { slot.block = pick(rng_); } while (blocks_[slot.block].busy);
        BlockState& state = blocks_[slot.block];
        state.busy = true;
        const std::uint64_t offset = (std::uint64_t{options_.first_block} + slot.block) * options_.block_size;
        std::byte* buffer = buffers_.data() + std::size_t{index} * options_.block_size;
        const std::span<std::byte> data(buffer, options_.block_size);
        switch (slot.kind) {
            case Kind::read: return submitted(slot, device_->read(offset, data, *this, index));
            case Kind::write:
            case Kind::write_fua:
                slot.version = ++version_;
                for (std::uint32_t i = 0; i < options_.block_size; ++i) buffer[i] = pattern(slot.block, slot.version, i);
                state.since_durable.push_back(slot.version);
                return submitted(slot, device_->write(offset, data, slot.kind == Kind::write_fua, *this, index));
            case Kind::discard:
                state.since_durable.push_back(kUndefined);
                return submitted(slot, device_->discard(offset, options_.block_size, *this, index));
            case Kind::zeroes:
            case Kind::zeroes_nounmap:
                state.since_durable.push_back(kZeros);
                return submitted(slot, device_->write_zeroes(offset, options_.block_size,
                                                             slot.kind == Kind::zeroes_nounmap, *this, index));
            case Kind::flush: return;
        }
    }

    void submitted(Slot& slot, const Status<int>& status) {
        if (status) return;
        ++submit_errors;
        last_error = status.error();
        stopped_ = true;
        release(slot);
    }

    void release(Slot& slot) {
        if (slot.kind != Kind::flush) blocks_[slot.block].busy = false;
        slot.used = false;
        --outstanding_;
    }

    void on_block_io_complete(std::uint64_t cookie, int status) override {
        Slot& slot = slots_[cookie];
        ++completed;
        if (status != 0) {
            ++errors;
            last_error = status;
            if (slot.kind != Kind::flush) blocks_[slot.block].current = kUndefined;
        } else {
            apply(slot, static_cast<std::uint32_t>(cookie));
        }
        release(slot);
        pump();
    }

    void apply(Slot& slot, std::uint32_t index) {
        if (slot.kind == Kind::flush) {
            ++flushes;
            for (std::uint32_t b = 0; b < blocks_.size(); ++b) {
                if (slot.flush_cuts[b] == 0) continue;
                auto& since = blocks_[b].since_durable;
                const std::size_t cut = std::min(slot.flush_cuts[b], since.size());
                blocks_[b].durable = slot.flush_current[b];
                since.erase(since.begin(), since.begin() + static_cast<std::ptrdiff_t>(cut));
            }
            return;
        }
        BlockState& state = blocks_[slot.block];
        switch (slot.kind) {
            case Kind::read: {
                ++reads;
                const std::span<const std::byte> bytes(buffers_.data() + std::size_t{index} * options_.block_size,
                                                       options_.block_size);
                if (!exactly(slot.block, state.current, bytes)) ++verify_failures;
                return;
            }
            case Kind::write:
                ++writes;
                state.current = slot.version;
                return;
            case Kind::write_fua:
                ++writes;
                state.current = slot.version;
                state.durable = slot.version;
                state.since_durable.clear();
                return;
            case Kind::discard:
                ++discards;
                state.current = kUndefined;
                return;
            case Kind::zeroes:
            case Kind::zeroes_nounmap:
                ++zeroes;
                state.current = kZeros;
                return;
            case Kind::flush: return;
        }
    }

    block::DeviceIo* device_;
    Options options_;
    std::mt19937_64 rng_;
    std::vector<BlockState> blocks_;
    std::vector<std::byte> buffers_;
    std::vector<Slot> slots_;
    std::uint64_t issued_ = 0;
    std::uint32_t outstanding_ = 0;
    std::uint32_t version_ = 0;
    bool stopped_ = false;
};

}  // namespace ibnbd::scenario
