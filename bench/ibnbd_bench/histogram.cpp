#include "bench/ibnbd_bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ibnbd::bench {

// Index layout: [0, 2·kSub) holds values 0..2·kSub-1 one per bucket; after that, a value whose
// top bit is at position b (b ≥ kSubBits+1) lands in row shift = b - kSubBits, column
// value >> shift, which always lies in [kSub, 2·kSub).
std::size_t Histogram::bucket_of(std::uint64_t value) {
    if (value < 2 * kSub) return static_cast<std::size_t>(value);
    const unsigned top = 63u - static_cast<unsigned>(std::countl_zero(value));
    const unsigned shift = top - kSubBits;
    return static_cast<std::size_t>(shift) * kSub + static_cast<std::size_t>(value >> shift);
}

std::uint64_t Histogram::bucket_low(std::size_t index) {
    if (index < 2 * kSub) return index;
    const std::size_t shift = index / kSub - 1;
    const std::uint64_t column = index - shift * kSub;
    return column << shift;
}

std::uint64_t Histogram::bucket_high(std::size_t index) {
    if (index < 2 * kSub) return index;
    const std::size_t shift = index / kSub - 1;
    const std::uint64_t column = index - shift * kSub;
    return ((column + 1) << shift) - 1;
}

void Histogram::record(std::uint64_t value) {
    ++counts_[bucket_of(value)];
    ++count_;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
    sum_ += static_cast<long double>(value);
}

void Histogram::merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

void Histogram::clear() { *this = Histogram{}; }

double Histogram::mean() const {
    return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

std::uint64_t Histogram::percentile(double fraction) const {
    if (count_ == 0) return 0;
    fraction = std::clamp(fraction, 0.0, 1.0);
    // The rank of the sample asked for, 1-based: p50 of 1..100 is the 50th.
    auto rank = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            const std::uint64_t low = bucket_low(i), high = bucket_high(i);
            return std::clamp(low + (high - low) / 2, min(), max_);
        }
    }
    return max_;
}

}  // namespace ibnbd::bench
