#include "sim-scenarios/runner/data_model.hpp"

#include <algorithm>
#include <cassert>
#include <fmt/core.h>

namespace ibnbd::scenario {

DataModel::DataModel(std::uint64_t sectors, std::uint64_t device_tag)
    : pattern_(device_tag), floor_(sectors, 0), durable_(sectors, 0), crash_floor_(sectors, 0),
      writing_(sectors, 0) {}

bool DataModel::write_free(std::uint64_t first, std::uint32_t count) const {
    assert(first + count <= sectors());
    for (std::uint64_t s = first; s < first + count; ++s) {
        if (writing_[s]) return false;
    }
    return true;
}

std::uint32_t DataModel::begin_write(std::uint64_t first, std::uint32_t count, std::span<std::byte> buffer) {
    assert(write_free(first, count));
    assert(buffer.size() == std::size_t{count} * kSector);
    const std::uint32_t version = next_version_++;
    assert(next_version_ != 0);  // 2^32 writes per device run
    pattern_.fill(first, version, buffer);
    std::fill(writing_.begin() + static_cast<std::ptrdiff_t>(first),
              writing_.begin() + static_cast<std::ptrdiff_t>(first + count), std::uint8_t{1});
    return version;
}

void DataModel::end_write(std::uint64_t first, std::uint32_t count, std::uint32_t version, bool ok, bool fua,
                          std::uint64_t crashes_at_issue) {
    ok = ok && crashes_at_issue == crashes_;
    for (std::uint64_t s = first; s < first + count; ++s) {
        assert(writing_[s]);
        writing_[s] = 0;
        if (ok) floor_[s] = std::max(floor_[s], version);
    }
    if (!ok) return;
    ++completed_writes_;
    if (fua) {
        make_durable(first, count, version);
        return;
    }
    if (unflushed_.size() == kMaxUnflushed) unflushed_.pop_front();
    unflushed_.push_back({first, count, version, completed_writes_});
}

void DataModel::begin_read(ReadTicket& ticket, std::uint64_t first, std::uint32_t count) const {
    assert(first + count <= sectors());
    ticket.first = first;
    ticket.count = count;
    ticket.crashes_at_issue = crashes_;
    ticket.floors.assign(floor_.begin() + static_cast<std::ptrdiff_t>(first),
                         floor_.begin() + static_cast<std::ptrdiff_t>(first + count));
}

std::optional<DataModel::Violation> DataModel::end_read(const ReadTicket& ticket, std::span<const std::byte> data) {
    assert(data.size() == std::size_t{ticket.count} * kSector);
    const std::uint64_t crashes_since = crashes_ - ticket.crashes_at_issue;
    for (std::uint32_t i = 0; i < ticket.count; ++i) {
        const std::uint64_t sector = ticket.first + i;
        std::uint32_t low = ticket.floors[i];
        if (crashes_since == 1) low = std::min(low, crash_floor_[sector]);
        if (crashes_since > 1) low = 0;
        const std::byte* bytes = data.data() + std::size_t{i} * kSector;
        if (auto violation = check_sector(sector, low, bytes, crashes_since == 0)) return violation;
    }
    return std::nullopt;
}

std::optional<DataModel::Violation> DataModel::check_sector(std::uint64_t sector, std::uint32_t low,
                                                            const std::byte* bytes, bool raise) {
    const SectorContent content = pattern_.decode(sector, bytes);
    switch (content.kind) {
        case SectorContent::Kind::foreign:
            return Violation{sector, "holds data no write to this sector produced (torn, misdirected or garbage)"};
        case SectorContent::Kind::zeros:
            if (low == 0) return std::nullopt;
            return Violation{sector, fmt::format("reads back as zeros, but version {} was visible before the read began "
                                                 "(a lost write)", low)};
        case SectorContent::Kind::version:
            if (content.version > last_version()) {
                return Violation{sector, fmt::format("holds version {}, which was never written", content.version)};
            }
            if (content.version < low) {
                return Violation{sector, fmt::format("holds version {}, but version {} was visible before the read "
                                                     "began (a stale write landed late, or a lost write)",
                                                     content.version, low)};
            }
            // Linearizability: once seen, never older again.
            if (raise) floor_[sector] = std::max(floor_[sector], content.version);
            return std::nullopt;
    }
    return std::nullopt;
}

void DataModel::make_durable(std::uint64_t first, std::uint32_t count, std::uint32_t version) {
    for (std::uint64_t s = first; s < first + count; ++s) durable_[s] = std::max(durable_[s], version);
}

void DataModel::end_flush(std::uint64_t mark, bool ok, std::uint64_t crashes_at_issue) {
    if (!ok || crashes_at_issue != crashes_) return;
    while (!unflushed_.empty() && unflushed_.front().seq <= mark) {
        const Unflushed& record = unflushed_.front();
        make_durable(record.first, record.count, record.version);
        unflushed_.pop_front();
    }
}

void DataModel::crash() {
    ++crashes_;
    for (std::uint64_t s = 0; s < floor_.size(); ++s) {
        floor_[s] = durable_[s];
        crash_floor_[s] = durable_[s];
    }
    unflushed_.clear();
}

}  // namespace ibnbd::scenario
