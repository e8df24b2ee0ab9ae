// One simulated disk: its contents, its volatile write cache and its faults.
//
// NAME
//     ibnbd::storage::memory::MemoryStore - a sparse in-memory block store with a durability model.
//
// DESCRIPTION
//     Made by MemoryCatalog::add_store(), which owns it; devices opened by a MemoryBackend on any
//     node apply their operations here when they complete. Contents are kept sparsely in 4 KiB
//     blocks, so a large thin volume costs only what was written; discard, secure erase and
//     write_zeroes without nounmap free the blocks they cover entirely (allocated_bytes() drops).
//
// DURABILITY (a volatile write cache, unless StoreOptions::volatile_cache is false)
//     Reads see the latest completed writes. A write without fua becomes durable only when a flush
//     (or a preflush) completes that was submitted after the write had completed; a write with fua
//     is durable when it completes. Discard, secure erase and write_zeroes are writes for this
//     purpose. crash(seed) then decides, for every 512-byte sector written but not yet durable,
//     independently and by a PRNG seeded with `seed` alone, whether it keeps its newest content or
//     goes back to its durable content; nothing else changes. Operations still pending on a device
//     when the store crashes belonged to the lost power cycle: should their timers still fire (the
//     node did not crash too), they complete with -EIO and change nothing.
//     Without a volatile cache every completed write is durable at once and flushes change nothing.
//
// FAULTS
//     inject_error() queues rules checked when an operation is submitted: the first rule that
//     matches (operation kind, byte range overlap) takes one of its counts, and the operation then
//     completes, after its usual latency, with that negative errno and without any effect.
//     A flush has no range and matches only rules without one. set_latency() applies to operations
//     submitted afterwards. set_read_only(true) makes submissions of write-type operations fail with
//     -EROFS on every device of the store, and writable opens fail with -EROFS.
//
// LIMITS
//     Sizes are multiples of the logical block size (asserted). Not thread-safe: the simulator runs
//     on one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "fabric/fabric.hpp"
#include "ibnbd/storage/device.hpp"

namespace ibnbd::storage::memory {

struct StoreOptions {
    std::uint32_t logical_block_size = 512;     // a power of two, 512..4096
    std::uint32_t physical_block_size = 4096;
    std::uint32_t max_hw_sectors = 0;           // reported only
    bool discard = true;                        // discard supported
    bool write_zeroes = true;                   // write_zeroes supported
    bool secure_erase = false;                  // secure erase supported (needs discard)
    bool volatile_cache = true;                 // false: completed writes are durable at once
    bool fua = true;                            // reported as native FUA
    bool read_only = false;
    fabric::Nanos latency = 20'000;             // fixed part of every operation's latency
    fabric::Nanos jitter = 0;                   // plus a uniform draw from [0, jitter]
};

struct ByteRange {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

// A count for inject_error() that never runs out.
inline constexpr std::uint32_t kAlways = UINT32_MAX;

class MemoryStore {
public:
    static constexpr std::uint32_t kSectorSize = 512;
    static constexpr std::uint32_t kBlockSize = 4096;

    MemoryStore(Identity identity, std::uint64_t size_bytes, StoreOptions options);
    MemoryStore(const MemoryStore&) = delete;
    MemoryStore& operator=(const MemoryStore&) = delete;

    Identity identity() const { return identity_; }
    std::uint64_t size_bytes() const { return size_bytes_; }
    const StoreOptions& options() const { return options_; }
    // What a device opened now would report.
    Geometry geometry(bool writable) const;

    // ---- faults ----
    // `error` is a negative errno; `count` operations fail (kAlways: until clear_errors()).
    void inject_error(int error, std::uint32_t count, std::optional<Op> op = std::nullopt,
                      std::optional<ByteRange> range = std::nullopt);
    void clear_errors() { error_rules_.clear(); }
    void set_latency(fabric::Nanos fixed, fabric::Nanos jitter);
    void set_read_only(bool read_only) { options_.read_only = read_only; }
    bool read_only() const { return options_.read_only; }
    void crash(std::uint64_t seed);

    // ---- inspection (tests; no latency, no effect on durability) ----
    void peek(std::uint64_t offset, std::span<std::byte> out) const;
    // The contents a crash that reverted every dirty sector would leave.
    void peek_durable(std::uint64_t offset, std::span<std::byte> out) const;
    std::uint64_t dirty_sectors() const { return dirty_.size(); }
    std::uint64_t allocated_bytes() const { return blocks_.size() * std::uint64_t{kBlockSize}; }
    std::uint64_t crashes() const { return epoch_; }
    // Operations dropped by destroying their device before they completed (a crashed node).
    std::uint64_t abandoned() const { return abandoned_; }

    // ---- for MemoryDevice ----
    // Power cycles survived so far; an operation remembers the one it was submitted in.
    std::uint64_t epoch() const { return epoch_; }
    // The injected error for an operation being submitted, or 0.
    int take_injected_error(const Request& request);
    void note_abandoned() { ++abandoned_; }
    // Starts a flush: returns its mark (what it will make durable).
    std::uint64_t begin_flush();
    // A flush started with begin_flush() completed, or was abandoned (durable = false).
    void end_flush(std::uint64_t mark, bool durable);
    void read(std::uint64_t offset, std::span<std::byte> out) const { peek(offset, out); }
    void write(std::uint64_t offset, std::span<const std::byte> data, bool fua);
    // Zeros over the range; `unmap` frees the blocks covered entirely.
    void zero(std::uint64_t offset, std::uint64_t length, bool unmap, bool fua);

private:
    using Sector = std::array<std::byte, kSectorSize>;
    using Block = std::array<std::byte, kBlockSize>;
    struct Version {
        std::uint64_t seq;
        Sector content;
    };
    // A sector written since it was last durable.
    struct Dirty {
        Sector durable{};
        std::uint64_t latest_seq = 0;
        std::vector<Version> covered;  // older contents a pending flush may still make durable
    };
    struct ErrorRule {
        int error;
        std::uint32_t remaining;
        std::optional<Op> op;
        std::optional<ByteRange> range;
    };

    // Records the sector's pre-write content before a write of sequence `seq` changes it.
    void note_write(std::uint64_t sector, std::uint64_t seq, bool durable_now);
    Sector sector_content(std::uint64_t sector) const;
    void store_bytes(std::uint64_t offset, std::span<const std::byte> data);
    void zero_bytes(std::uint64_t offset, std::uint64_t length, bool unmap);
    void settle(Dirty& dirty, std::uint64_t mark) const;
    bool matches(const ErrorRule& rule, const Request& request) const;

    Identity identity_;
    std::uint64_t size_bytes_;
    StoreOptions options_;
    std::map<std::uint64_t, std::unique_ptr<Block>> blocks_;  // by block index; absent: zeros
    std::map<std::uint64_t, Dirty> dirty_;                    // by sector index
    std::vector<ErrorRule> error_rules_;
    std::uint64_t completed_seq_ = 0;     // data-changing completions so far
    std::uint64_t last_flush_mark_ = 0;   // mark of the newest flush begun
    std::uint32_t pending_flushes_ = 0;
    std::uint64_t epoch_ = 0;
    std::uint64_t abandoned_ = 0;
};

}  // namespace ibnbd::storage::memory
