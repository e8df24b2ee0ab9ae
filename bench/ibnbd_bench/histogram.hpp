// A log-linear latency histogram (HDR-style): values below 128 ns have a bucket each; above,
// every power of two is split into 64 equal buckets, so a reported percentile is within 1/64
// (about 1.6%) of the true sample. Fixed size, no allocation after construction, mergeable.
#pragma once

#include <array>
#include <cstdint>

namespace ibnbd::bench {

class Histogram {
public:
    static constexpr unsigned kSubBits = 6;                       // 64 buckets per power of two
    static constexpr std::uint64_t kSub = 1u << kSubBits;
    static constexpr std::size_t kBuckets = (64 - kSubBits) * kSub + kSub;

    void record(std::uint64_t value);
    void merge(const Histogram& other);
    void clear();

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const;
    // The value at or below which `fraction` (0..1) of the samples lie: the midpoint of the
    // bucket holding that rank, clamped to [min, max]. 0 when empty.
    std::uint64_t percentile(double fraction) const;

    static std::size_t bucket_of(std::uint64_t value);
    static std::uint64_t bucket_low(std::size_t index);
    static std::uint64_t bucket_high(std::size_t index);

private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t min_ = ~std::uint64_t{0};
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

}  // namespace ibnbd::bench
