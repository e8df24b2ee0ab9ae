#include "ibnbd/storage/memory/memory_store.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace ibnbd::storage::memory {

namespace {

// splitmix64: the crash's coin flips, a pure function of the seed.
std::uint64_t next_random(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

bool power_of_two(std::uint32_t value) { return value != 0 && (value & (value - 1)) == 0; }

bool overlaps(const ByteRange& range, std::uint64_t offset, std::uint64_t length) {
    return offset < range.offset + range.length && range.offset < offset + length;
}

// Large enough for any request, in whole logical blocks, and no larger than the store.
std::uint32_t op_limit_sectors(std::uint64_t size_bytes, std::uint32_t logical_block_size) {
    std::uint64_t sectors = std::min<std::uint64_t>(UINT32_MAX >> 9, size_bytes >> 9);
    sectors &= ~std::uint64_t{logical_block_size / 512 - 1};
    return static_cast<std::uint32_t>(sectors);
}

}  // namespace

MemoryStore::MemoryStore(Identity identity, std::uint64_t size_bytes, StoreOptions options)
    : identity_(identity), size_bytes_(size_bytes), options_(options) {
    assert(power_of_two(options_.logical_block_size));
    assert(options_.logical_block_size >= 512 && options_.logical_block_size <= kBlockSize);
    assert(size_bytes_ % options_.logical_block_size == 0);
}

Geometry MemoryStore::geometry(bool writable) const {
    Geometry geometry;
    geometry.size_bytes = size_bytes_;
    geometry.logical_block_size = options_.logical_block_size;
    geometry.physical_block_size = options_.physical_block_size;
    geometry.max_hw_sectors = options_.max_hw_sectors;
    const std::uint32_t limit = op_limit_sectors(size_bytes_, options_.logical_block_size);
    if (options_.discard) {
        geometry.max_discard_sectors = limit;
        geometry.discard_granularity = std::max(kBlockSize, options_.logical_block_size);
    }
    geometry.max_write_zeroes_sectors = options_.write_zeroes ? limit : 0;
    geometry.secure_discard = options_.secure_erase && options_.discard;
    geometry.volatile_write_cache = options_.volatile_cache;
    geometry.fua = options_.fua;
    geometry.read_only = !writable || options_.read_only;
    return geometry;
}

void MemoryStore::inject_error(int error, std::uint32_t count, std::optional<Op> op,
                               std::optional<ByteRange> range) {
    assert(error < 0);
    if (count == 0) return;
    error_rules_.push_back({error, count, op, range});
}

void MemoryStore::set_latency(fabric::Nanos fixed, fabric::Nanos jitter) {
    options_.latency = fixed;
    options_.jitter = jitter;
}

bool MemoryStore::matches(const ErrorRule& rule, const Request& request) const {
    if (rule.op && *rule.op != request.op) return false;
    if (!rule.range) return true;
    return request.op != Op::flush && overlaps(*rule.range, request.offset, request.length);
}

int MemoryStore::take_injected_error(const Request& request) {
    for (auto rule = error_rules_.begin(); rule != error_rules_.end(); ++rule) {
        if (!matches(*rule, request)) continue;
        const int error = rule->error;
        if (rule->remaining != kAlways && --rule->remaining == 0) error_rules_.erase(rule);
        return error;
    }
    return 0;
}

// ---- durability ----

std::uint64_t MemoryStore::begin_flush() {
    ++pending_flushes_;
    last_flush_mark_ = completed_seq_;
    return completed_seq_;
}

// Makes the newest content that the flush with `mark` covers the durable one.
void MemoryStore::settle(Dirty& dirty, std::uint64_t mark) const {
    auto newest_covered = dirty.covered.end();
    for (auto version = dirty.covered.begin(); version != dirty.covered.end(); ++version) {
        if (version->seq <= mark) newest_covered = version;
    }
    if (newest_covered == dirty.covered.end()) return;
    dirty.durable = newest_covered->content;
    dirty.covered.erase(dirty.covered.begin(), newest_covered + 1);
}

void MemoryStore::end_flush(std::uint64_t mark, bool durable) {
    assert(pending_flushes_ > 0);
    --pending_flushes_;
    for (auto entry = dirty_.begin(); entry != dirty_.end();) {
        Dirty& dirty = entry->second;
        if (durable && dirty.latest_seq <= mark) {
            entry = dirty_.erase(entry);
            continue;
        }
        if (durable) settle(dirty, mark);
        // With no flush pending, no older content can become durable any more.
        if (pending_flushes_ == 0) dirty.covered.clear();
        ++entry;
    }
}

void MemoryStore::note_write(std::uint64_t sector, std::uint64_t seq, bool durable_now) {
    auto entry = dirty_.find(sector);
    if (durable_now) {
        if (entry != dirty_.end()) dirty_.erase(entry);
        return;
    }
    if (entry == dirty_.end()) {
        Dirty dirty;
        dirty.durable = sector_content(sector);
        dirty.latest_seq = seq;
        dirty_.emplace(sector, std::move(dirty));
        return;
    }
    Dirty& dirty = entry->second;
    // The content being overwritten completed before a pending flush began: that flush must
    // still be able to make it durable.
    if (pending_flushes_ > 0 && dirty.latest_seq <= last_flush_mark_) {
        dirty.covered.push_back({dirty.latest_seq, sector_content(sector)});
    }
    dirty.latest_seq = seq;
}

void MemoryStore::write(std::uint64_t offset, std::span<const std::byte> data, bool fua) {
    assert(offset % kSectorSize == 0 && data.size() % kSectorSize == 0);
    assert(offset + data.size() <= size_bytes_);
    const std::uint64_t seq = ++completed_seq_;
    const bool durable_now = fua || !options_.volatile_cache;
    for (std::uint64_t at = offset; at < offset + data.size(); at += kSectorSize) {
        note_write(at / kSectorSize, seq, durable_now);
    }
    store_bytes(offset, data);
}

void MemoryStore::zero(std::uint64_t offset, std::uint64_t length, bool unmap, bool fua) {
    assert(offset % kSectorSize == 0 && length % kSectorSize == 0);
    assert(offset + length <= size_bytes_);
    const std::uint64_t seq = ++completed_seq_;
    const bool durable_now = fua || !options_.volatile_cache;
    for (std::uint64_t at = offset; at < offset + length; at += kSectorSize) {
        note_write(at / kSectorSize, seq, durable_now);
    }
    zero_bytes(offset, length, unmap);
}

void MemoryStore::crash(std::uint64_t seed) {
    std::uint64_t state = seed;
    for (const auto& [sector, dirty] : dirty_) {
        const bool reverts = (next_random(state) & 1) != 0;
        if (reverts) store_bytes(sector * kSectorSize, dirty.durable);
    }
    dirty_.clear();
    pending_flushes_ = 0;
    ++epoch_;
}

// ---- contents ----

MemoryStore::Sector MemoryStore::sector_content(std::uint64_t sector) const {
    Sector content{};
    peek(sector * kSectorSize, content);
    return content;
}

void MemoryStore::peek(std::uint64_t offset, std::span<std::byte> out) const {
    assert(offset <= size_bytes_ && out.size() <= size_bytes_ - offset);
    std::size_t done = 0;
    while (done < out.size()) {
        const std::uint64_t at = offset + done;
        const std::uint64_t index = at / kBlockSize;
        const std::size_t within = at % kBlockSize;
        const std::size_t chunk = std::min<std::size_t>(kBlockSize - within, out.size() - done);
        const auto block = blocks_.find(index);
        if (block == blocks_.end()) {
            std::memset(out.data() + done, 0, chunk);
        } else {
            std::memcpy(out.data() + done, block->second->data() + within, chunk);
        }
        done += chunk;
    }
}

void MemoryStore::peek_durable(std::uint64_t offset, std::span<std::byte> out) const {
    peek(offset, out);
    const std::uint64_t end = offset + out.size();
    for (auto entry = dirty_.lower_bound(offset / kSectorSize);
         entry != dirty_.end() && entry->first * kSectorSize < end; ++entry) {
        const std::uint64_t sector_start = entry->first * kSectorSize;
        const std::uint64_t from = std::max(sector_start, offset);
        const std::uint64_t to = std::min(sector_start + kSectorSize, end);
        std::memcpy(out.data() + (from - offset), entry->second.durable.data() + (from - sector_start), to - from);
    }
}

void MemoryStore::store_bytes(std::uint64_t offset, std::span<const std::byte> data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const std::uint64_t at = offset + done;
        const std::size_t within = at % kBlockSize;
        const std::size_t chunk = std::min<std::size_t>(kBlockSize - within, data.size() - done);
        auto& block = blocks_[at / kBlockSize];
        if (!block) block = std::make_unique<Block>();  // value-initialised: zeros
        std::memcpy(block->data() + within, data.data() + done, chunk);
        done += chunk;
    }
}

void MemoryStore::zero_bytes(std::uint64_t offset, std::uint64_t length, bool unmap) {
    std::uint64_t done = 0;
    while (done < length) {
        const std::uint64_t at = offset + done;
        const std::size_t within = at % kBlockSize;
        const std::size_t chunk = std::min<std::uint64_t>(kBlockSize - within, length - done);
        const std::uint64_t index = at / kBlockSize;
        const auto block = blocks_.find(index);
        if (unmap && chunk == kBlockSize) {
            if (block != blocks_.end()) blocks_.erase(block);
        } else if (block != blocks_.end()) {
            std::memset(block->second->data() + within, 0, chunk);
        } else if (!unmap) {
            blocks_[index] = std::make_unique<Block>();  // nounmap: the range stays allocated
        }
        done += chunk;
    }
}

}  // namespace ibnbd::storage::memory
