#include "sim-scenarios/runner/workload.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/core.h>

namespace ibnbd::scenario {

namespace {

enum TimerCookie : std::uint64_t { start_timer, retry_timer, pace_timer };

constexpr Nanos kFirstRetry = 100 * kMicrosecond;
constexpr Nanos kLastRetry = 10 * kMs;
constexpr std::uint32_t kReadbackMax = 128 << 10;

std::uint32_t max_block(const WorkloadSpec& spec) {
    std::uint32_t largest = 0;
    for (const auto& size : spec.block_sizes) largest = std::max(largest, size.bytes);
    return largest;
}

}  // namespace

std::string_view to_string(IoKind kind) {
    switch (kind) {
        case IoKind::read: return "read";
        case IoKind::write: return "write";
        case IoKind::write_fua: return "write+fua";
        case IoKind::flush: return "flush";
    }
    return "?";
}

Workload::Workload(fabric::Fabric& node, block::BlockDevice& device, DataModel& model, Options options,
                   RunObserver& observer)
    : node_(node), device_(device), model_(model), options_(std::move(options)), observer_(observer),
      rng_(options_.seed), slots_(options_.spec.queue_depth) {
    const std::uint32_t max_io = std::max<std::uint32_t>(device.info().max_io_bytes / 4096 * 4096, 4096);
    readback_size_ = static_cast<std::uint32_t>(std::min<std::uint64_t>({kReadbackMax, max_io, options_.region}));
    const std::uint32_t buffer = std::max(max_block(options_.spec), readback_size_);
    for (Slot& slot : slots_) {
        slot.buffer.resize(buffer);
        slot.ticket.floors.reserve(buffer / kSector);
    }
    for (const auto& size : options_.spec.block_sizes) total_weight_ += size.weight;
    for (std::size_t shard = 1; shard < device.shard_count(); ++shard) copies_.push_back(device.shard_copy(shard));
}

// With IO shards, consecutive requests go to the device's faces in turn, as NBD connections
// handed to the reactors would.
block::DeviceIo& Workload::face(std::uint64_t issued) {
    const std::uint64_t pick = issued % (copies_.size() + 1);
    return pick == 0 ? static_cast<block::DeviceIo&>(device_) : *copies_[pick - 1];
}

Workload::~Workload() {
    if (timer_ != 0) node_.cancel_timer(timer_);
}

void Workload::start() {
    const WorkloadSpec& spec = options_.spec;
    stop_at_ = node_.now() + spec.start + spec.duration;
    if (spec.start == 0) {
        started_ = true;
        started_at_ = node_.now();
        pump();
        return;
    }
    timer_ = node_.start_timer(spec.start, *this, start_timer);
}

bool Workload::may_issue() const {
    if (!started_ || readback_started_) return false;
    const WorkloadSpec& spec = options_.spec;
    return spec.ios != 0 ? stats_.issued < spec.ios : node_.now() < stop_at_;
}

bool Workload::main_done() const { return started_ && !may_issue() && outstanding_ == 0; }

void Workload::readback() {
    readback_started_ = true;
    readback_next_ = 0;
    pump();
}

void Workload::on_timer(std::uint64_t cookie) {
    timer_ = 0;
    if (cookie == start_timer) {
        started_ = true;
        started_at_ = node_.now();
    }
    pump();
}

// With a rate, IO number k may start at k / rate after the start; until then a timer waits.
bool Workload::paced() {
    const std::uint64_t rate = options_.spec.rate;
    if (rate == 0) return false;
    const auto due = started_at_ + static_cast<Nanos>(static_cast<unsigned __int128>(stats_.issued) * kSec / rate);
    const Nanos now = node_.now();
    if (due <= now) return false;
    timer_ = node_.start_timer(due - now, *this, pace_timer);
    return true;
}

void Workload::schedule_retry() {
    if (timer_ != 0) return;
    retry_delay_ = retry_delay_ == 0 ? kFirstRetry : std::min(retry_delay_ * 2, kLastRetry);
    timer_ = node_.start_timer(retry_delay_, *this, retry_timer);
}

std::uint32_t Workload::free_slot() const {
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].busy) return i;
    }
    return UINT32_MAX;
}

void Workload::pump() {
    while (!shut_down_ && timer_ == 0 && outstanding_ < slots_.size()) {
        const std::uint32_t index = free_slot();
        assert(index != UINT32_MAX);
        if (readback_started_) {
            if (readback_next_ >= options_.region) return;
            issue_readback(slots_[index]);
        } else if (may_issue()) {
            if (paced()) return;
            issue_random(slots_[index]);
        } else {
            return;
        }
    }
}

std::uint32_t Workload::draw_size() {
    std::uint64_t roll = rng_.below(total_weight_);
    for (const auto& size : options_.spec.block_sizes) {
        if (roll < size.weight) return size.bytes;
        roll -= size.weight;
    }
    return options_.spec.block_sizes.back().bytes;
}

void Workload::issue_random(Slot& slot) {
    const auto index = static_cast<std::uint32_t>(&slot - slots_.data());
    const WorkloadSpec& spec = options_.spec;
    const auto percent = [&](double p) { return static_cast<double>(rng_.below(10000)) < p * 100; };
    if (spec.flush_percent > 0 && percent(spec.flush_percent)) return submit(index, IoKind::flush, 0, 0);
    const std::uint32_t length = draw_size();
    const std::uint32_t align = length % 4096 == 0 ? 4096 : kSector;
    const std::uint64_t positions = (options_.region - length) / align + 1;
    std::uint64_t offset = rng_.below(positions) * align;
    if (percent(spec.read_percent)) return submit(index, IoKind::read, offset, length);
    for (int attempt = 0; attempt < 8 && !model_.write_free(offset / kSector, length / kSector); ++attempt) {
        offset = rng_.below(positions) * align;
    }
    if (!model_.write_free(offset / kSector, length / kSector)) return submit(index, IoKind::read, offset, length);
    const IoKind kind = spec.fua_percent > 0 && percent(spec.fua_percent) ? IoKind::write_fua : IoKind::write;
    submit(index, kind, offset, length);
}

void Workload::issue_readback(Slot& slot) {
    const auto length = static_cast<std::uint32_t>(std::min<std::uint64_t>(readback_size_, options_.region - readback_next_));
    const std::uint64_t offset = readback_next_;
    readback_next_ += length;
    stats_.readback_sectors += length / kSector;
    submit(static_cast<std::uint32_t>(&slot - slots_.data()), IoKind::read, offset, length);
}

void Workload::submit(std::uint32_t index, IoKind kind, std::uint64_t offset, std::uint32_t length) {
    Slot& slot = slots_[index];
    slot.busy = true;
    slot.kind = kind;
    slot.first = offset / kSector;
    slot.sectors = length / kSector;
    slot.started = node_.now();
    slot.crashes = model_.crashes();
    if (outstanding_++ == 0) stall_since_ = slot.started;
    ++stats_.issued;
    const std::uint64_t cookie = index | (std::uint64_t{slot.generation} << 32);
    const std::span<std::byte> data(slot.buffer.data(), length);
    observer_.io_start(slot.started, options_.device, cookie, kind, offset, length);
    Status<int> submitted;
    block::DeviceIo& device = face(stats_.issued);
    switch (kind) {
        case IoKind::read:
            model_.begin_read(slot.ticket, slot.first, slot.sectors);
            submitted = device.read(offset, data, *this, cookie);
            break;
        case IoKind::write:
        case IoKind::write_fua:
            slot.version = model_.begin_write(slot.first, slot.sectors, data);
            submitted = device.write(offset, data, kind == IoKind::write_fua, *this, cookie);
            break;
        case IoKind::flush:
            slot.flush_mark = model_.begin_flush();
            submitted = device.flush(*this, cookie);
            break;
    }
    if (!submitted) refused(index, submitted.error());
}

void Workload::refused(std::uint32_t index, int error) {
    Slot& slot = slots_[index];
    if (error == -EAGAIN) {
        // Back-pressure: as if the IO had never been issued.
        --stats_.issued;
        ++stats_.busy_retries;
        if (slot.kind == IoKind::write || slot.kind == IoKind::write_fua) {
            model_.end_write(slot.first, slot.sectors, slot.version, false, false, slot.crashes);
        }
        slot.busy = false;
        ++slot.generation;
        --outstanding_;
        schedule_retry();
        return;
    }
    finish(slot, error);
    schedule_retry();
}

void Workload::shutdown() {
    if (timer_ != 0) node_.cancel_timer(timer_);
    timer_ = 0;
    shut_down_ = true;
}

void Workload::on_block_io_complete(std::uint64_t cookie, int status) {
    if (shut_down_) return;
    const auto index = static_cast<std::uint32_t>(cookie);
    const auto generation = static_cast<std::uint32_t>(cookie >> 32);
    if (index >= slots_.size() || !slots_[index].busy || slots_[index].generation != generation) {
        violation(fmt::format("{}: a completion (status {}) for an IO that was not in flight: completed twice",
                              options_.name, status));
        return;
    }
    finish(slots_[index], status);
    if (status == 0) retry_delay_ = 0;
    pump();
}

void Workload::finish(Slot& slot, int status) {
    const Nanos now = node_.now();
    const Nanos latency = now - slot.started;
    const bool ok = status == 0;
    switch (slot.kind) {
        case IoKind::read:
            if (ok) {
                const std::span<const std::byte> data(slot.buffer.data(), std::size_t{slot.sectors} * kSector);
                if (auto bad = model_.end_read(slot.ticket, data)) {
                    violation(fmt::format("{}: read of {} bytes at offset {}: sector {} (byte {}) {}", options_.name,
                                          slot.sectors * kSector, slot.first * kSector, bad->sector,
                                          bad->sector * kSector, bad->what));
                }
            }
            break;
        case IoKind::write:
        case IoKind::write_fua:
            model_.end_write(slot.first, slot.sectors, slot.version, ok, slot.kind == IoKind::write_fua, slot.crashes);
            break;
        case IoKind::flush: model_.end_flush(slot.flush_mark, ok, slot.crashes); break;
    }
    slot.busy = false;
    ++slot.generation;
    --outstanding_;
    stats_.max_stall = std::max(stats_.max_stall, now - stall_since_);
    stall_since_ = now;
    account(slot, status, latency);
    observer_.io_done(now, options_.device, (&slot - slots_.data()) | (std::uint64_t{slot.generation - 1} << 32),
                      slot.kind, slot.sectors * kSector, status, latency);
}

void Workload::account(const Slot& slot, int status, Nanos latency) {
    ++stats_.completed;
    if (status != 0) {
        ++stats_.errors;
        if (stats_.first_error == 0) stats_.first_error = status;
        return;
    }
    const std::uint64_t bytes = std::uint64_t{slot.sectors} * kSector;
    switch (slot.kind) {
        case IoKind::read:
            ++stats_.reads;
            stats_.read_bytes += bytes;
            stats_.latency.record(latency);
            break;
        case IoKind::write_fua: ++stats_.fua_writes; [[fallthrough]];
        case IoKind::write:
            ++stats_.writes;
            stats_.write_bytes += bytes;
            stats_.latency.record(latency);
            break;
        case IoKind::flush: ++stats_.flushes; break;
    }
}

void Workload::close_stall(Nanos now) {
    if (outstanding_ > 0) stats_.max_stall = std::max(stats_.max_stall, now - stall_since_);
}

void Workload::violation(std::string what) {
    observer_.violation(node_.now(), what);
    if (violations_.size() < 16) violations_.push_back(std::move(what));
}

}  // namespace ibnbd::scenario
