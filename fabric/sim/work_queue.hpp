// The send and receive queues of a simulated connection.
//
// Work requests are copied into fixed-size records (the SGE list inline, at most kMaxSge
// entries) in rings allocated when the connection is created, so posting allocates nothing.
// Sequence numbers count posts from 0 and never wrap in practice (64 bits); a record lives at
// sequence & mask.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fabric/fabric.hpp"
#include "fabric/sim/memory.hpp"
#include "fabric/sim/trace.hpp"

namespace ibnbd::fabric::sim {

// The largest message the simulator moves (as verbs' 2 GiB limit).
inline constexpr std::uint64_t kMaxMessageBytes = 1ull << 31;

// A validated copy of a post's scatter-gather list.
struct SgeList {
    std::array<Sge, kMaxSge> entries{};
    std::uint8_t count = 0;
    std::uint32_t total = 0;

    // Checks count, bounds and (for a non-zero `needed_access`) the MR's access flags.
    // Errors: invalid_argument.
    static Expected<SgeList, Errc> make(std::span<const Sge> sges, std::uint32_t needed_access);
    std::span<const Sge> view() const { return {entries.data(), count}; }
};

// Copies the bytes the list names into `destination` (list.total bytes).
void gather(const SgeList& list, std::byte* destination);
// Copies `length` bytes from `source` over the list's entries, in order; length <= list.total.
void scatter(const std::byte* source, std::uint64_t length, const SgeList& list);
// Copies source.total bytes from one list's entries to the other's; source.total <= target.total.
void copy_between(const SgeList& source, const SgeList& target);

// The opcode the initiator's completion of `kind` carries.
Opcode initiator_opcode(OpKind kind);

// How far a send-queue work request has got.
enum class WrStage : std::uint8_t {
    in_flight,  // not yet executed at the target
    delivered,  // executed at the target (a local operation: executed); waiting for the acknowledgement
    refused,    // the target answered with a NAK; `status` says why
};

inline constexpr Nanos kNever = ~Nanos{0};

struct SendWr {
    std::uint64_t context = 0;
    SgeList sges;
    RemoteKey remote;
    std::uint32_t imm = 0;
    // send_inv, local_invalidate: the key to invalidate; bind_window: the window's new key.
    std::uint32_t key = 0;
    WindowBinding binding;  // bind_window
    OpKind kind = OpKind::send;
    WrStage stage = WrStage::in_flight;
    // The status this request completes with when the connection breaks: flushed unless it is
    // the request that broke it.
    WcStatus status = WcStatus::flushed;
    std::uint32_t rnr_failures = 0;
    bool held = false;             // its arrival found an older request not yet executed
    Nanos ready_at = 0;            // when the (next) delivery attempt reaches the target
    Nanos failing_since = kNever;  // first attempt of the current outage
};

struct RecvWr {
    std::uint64_t context = 0;
    SgeList sges;
    WcStatus status = WcStatus::flushed;
};

template <class Record>
class Ring {
public:
    // A ring that refuses more than `limit` outstanding records.
    void reset(std::uint32_t limit) {
        std::size_t capacity = 1;
        while (capacity < limit) capacity <<= 1;
        records_.assign(capacity, Record{});
        mask_ = capacity - 1;
        limit_ = limit;
        head_ = tail_ = 0;
    }
    bool empty() const { return head_ == tail_; }
    bool full() const { return tail_ - head_ >= limit_; }
    std::uint64_t head() const { return head_; }  // oldest outstanding sequence number
    std::uint64_t tail() const { return tail_; }  // sequence number of the next push
    // True if `sequence` is outstanding.
    bool holds(std::uint64_t sequence) const { return sequence >= head_ && sequence < tail_; }
    Record& at(std::uint64_t sequence) {
        assert(holds(sequence));
        return records_[sequence & mask_];
    }
    Record& front() { return at(head_); }
    // Appends a reset record and returns it; the ring must not be full.
    Record& push() {
        assert(!full());
        Record& record = records_[tail_++ & mask_];
        record = Record{};
        return record;
    }
    void pop() {
        assert(!empty());
        ++head_;
    }

private:
    std::vector<Record> records_;
    std::size_t mask_ = 0;
    std::uint32_t limit_ = 0;
    std::uint64_t head_ = 0;
    std::uint64_t tail_ = 0;
};

}  // namespace ibnbd::fabric::sim
