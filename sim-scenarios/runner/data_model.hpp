// The data oracle of one device region: what a linearizable block store with a volatile write
// cache may return, given the acknowledged, failed and in-flight writes.
//
// MODEL (per 512-byte sector; versions are issued in increasing order per device, and the
// workload never has two writes in flight on one sector)
//   floor     the newest version that must be visible: the last write acknowledged, or a newer
//             version a completed read has already seen (a write that failed may have landed).
//   A read may return, per sector, any version >= the floor at the moment it was issued: the
//   floor itself, a failed write that landed, or a write in flight during the read. Zeros are
//   version 0 (never written). Anything older is a stale or lost write; anything that is not a
//   version of this very sector (torn inside a sector, misdirected, garbage) is corruption.
//   durable   the newest version known durable: written with FUA, or acknowledged before a flush
//             that was issued later and succeeded.
//   crash()   the server lost its cache: every sector may hold any version >= its durable one,
//             torn per sector; the floor drops to it. A read in flight across one crash is
//             checked against the floors the crash left; across several, only for corruption.
// LIMITS
//   Writes acknowledged without FUA and not yet flushed are remembered up to kMaxUnflushed
//   records; older records are forgotten, which only makes the durability check more lenient.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim-scenarios/runner/pattern.hpp"

namespace ibnbd::scenario {

class DataModel {
public:
    static constexpr std::size_t kMaxUnflushed = 65536;

    // What a read saw that the model does not allow.
    struct Violation {
        std::uint64_t sector = 0;
        std::string what;
    };

    // A read in progress: the floors of its sectors when it was issued.
    struct ReadTicket {
        std::uint64_t first = 0;
        std::uint32_t count = 0;
        std::uint64_t crashes_at_issue = 0;
        std::vector<std::uint32_t> floors;  // capacity reserved by the caller
    };

    DataModel(std::uint64_t sectors, std::uint64_t device_tag);

    std::uint64_t sectors() const { return floor_.size(); }
    std::uint32_t last_version() const { return next_version_ - 1; }

    // ---- writes ----
    bool write_free(std::uint64_t first, std::uint32_t count) const;
    // Assigns the next version, fills `buffer` (count sectors) with it, marks the sectors busy.
    std::uint32_t begin_write(std::uint64_t first, std::uint32_t count, std::span<std::byte> buffer);
    // `crashes_at_issue` is crashes() when the write was issued: a write acknowledged across a
    // crash may have been executed by the lost incarnation, so it counts like a failed one.
    void end_write(std::uint64_t first, std::uint32_t count, std::uint32_t version, bool ok, bool fua,
                   std::uint64_t crashes_at_issue);

    // ---- reads ----
    void begin_read(ReadTicket& ticket, std::uint64_t first, std::uint32_t count) const;
    // Checks what a successful read returned; raises floors to what it saw (unless a crash came
    // in between: what it saw may have been lost since).
    std::optional<Violation> end_read(const ReadTicket& ticket, std::span<const std::byte> data);

    // ---- flushes and crashes ----
    std::uint64_t begin_flush() const { return completed_writes_; }
    void end_flush(std::uint64_t mark, bool ok, std::uint64_t crashes_at_issue);
    void crash();
    std::uint64_t crashes() const { return crashes_; }
    std::uint32_t durable(std::uint64_t sector) const { return durable_[sector]; }
    std::uint32_t floor(std::uint64_t sector) const { return floor_[sector]; }

private:
    struct Unflushed {
        std::uint64_t first;
        std::uint32_t count;
        std::uint32_t version;
        std::uint64_t seq;  // completed_writes_ when it was acknowledged
    };

    std::optional<Violation> check_sector(std::uint64_t sector, std::uint32_t low, const std::byte* bytes,
                                          bool raise);
    void make_durable(std::uint64_t first, std::uint32_t count, std::uint32_t version);

    Pattern pattern_;
    std::vector<std::uint32_t> floor_;
    std::vector<std::uint32_t> durable_;
    std::vector<std::uint32_t> crash_floor_;
    std::vector<std::uint8_t> writing_;
    std::deque<Unflushed> unflushed_;
    std::uint32_t next_version_ = 1;
    std::uint64_t completed_writes_ = 0;
    std::uint64_t crashes_ = 0;
};

}  // namespace ibnbd::scenario
