// A latency histogram with bounded relative error (log-linear buckets: 32 sub-buckets per power
// of two, so quantiles are within ~3% of the true value). Fixed size; recording never allocates.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace ibnbd::scenario {

class Histogram {
public:
    static constexpr unsigned kSubBits = 5;
    static constexpr unsigned kSub = 1u << kSubBits;
    static constexpr unsigned kBuckets = (64 - kSubBits + 1) * kSub;

    void record(std::uint64_t value) {
        ++counts_[index(value)];
        ++count_;
        max_ = std::max(max_, value);
        sum_ += value;
    }
    void merge(const Histogram& other) {
        for (unsigned i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
        count_ += other.count_;
        max_ = std::max(max_, other.max_);
        sum_ += other.sum_;
    }
    std::uint64_t count() const { return count_; }
    std::uint64_t max() const { return max_; }
    std::uint64_t mean() const { return count_ ? sum_ / count_ : 0; }

    // The q-quantile (0..1): the upper bound of the bucket holding it (the maximum for q = 1).
    std::uint64_t quantile(double q) const {
        if (count_ == 0) return 0;
        if (q >= 1) return max_;
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (unsigned i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(upper(i), max_);
        }
        return max_;
    }

private:
    static unsigned index(std::uint64_t value) {
        if (value < kSub) return static_cast<unsigned>(value);
        const unsigned exponent = 63 - static_cast<unsigned>(std::countl_zero(value));  // >= kSubBits
        const unsigned shift = exponent - kSubBits;
        const auto mantissa = static_cast<unsigned>((value >> shift) & (kSub - 1));
        return (shift + 1) * kSub + mantissa;
    }
    static std::uint64_t upper(unsigned i) {
        if (i < kSub) return i;
        const unsigned shift = i / kSub - 1;
        const std::uint64_t mantissa = (i % kSub) | kSub;
        return ((mantissa + 1) << shift) - 1;
    }

    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
};

}  // namespace ibnbd::scenario
