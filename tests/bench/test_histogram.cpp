#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "bench/ibnbd_bench/histogram.hpp"

using ibnbd::bench::Histogram;

namespace {

// The exact sample at a rank, as a sorted vector would give it.
std::uint64_t exact(std::vector<std::uint64_t> samples, double fraction) {
    std::sort(samples.begin(), samples.end());
    auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(samples.size())));
    return samples[std::clamp<std::size_t>(rank, 1, samples.size()) - 1];
}

bool within(std::uint64_t got, std::uint64_t want, double relative) {
    const double diff = std::abs(static_cast<double>(got) - static_cast<double>(want));
    return diff <= relative * static_cast<double>(want) + 1.0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(histogram)

BOOST_AUTO_TEST_CASE(empty_reports_zeros) {
    Histogram h;
    BOOST_TEST(h.count() == 0u);
    BOOST_TEST(h.min() == 0u);
    BOOST_TEST(h.max() == 0u);
    BOOST_TEST(h.percentile(0.99) == 0u);
    BOOST_TEST(h.mean() == 0.0);
}

BOOST_AUTO_TEST_CASE(small_values_are_exact) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
    BOOST_TEST(h.percentile(0.50) == 50u);
    BOOST_TEST(h.percentile(0.99) == 99u);
    BOOST_TEST(h.percentile(1.0) == 100u);
    BOOST_TEST(h.percentile(0.0) == 1u);
    BOOST_TEST(h.min() == 1u);
    BOOST_TEST(h.max() == 100u);
    BOOST_TEST(h.mean() == 50.5);
}

BOOST_AUTO_TEST_CASE(buckets_tile_the_value_range) {
    // Every bucket starts right after the previous one ends, and each value maps into its bucket.
    for (std::size_t i = 1; i < Histogram::kBuckets; ++i) {
        BOOST_TEST_REQUIRE(Histogram::bucket_low(i) == Histogram::bucket_high(i - 1) + 1, "bucket " << i);
    }
    for (std::uint64_t v : {0ull, 127ull, 128ull, 129ull, 1000ull, 123456789ull, ~0ull >> 1, ~0ull}) {
        const std::size_t b = Histogram::bucket_of(v);
        BOOST_TEST(b < Histogram::kBuckets);
        BOOST_TEST(Histogram::bucket_low(b) <= v);
        BOOST_TEST(v <= Histogram::bucket_high(b));
    }
}

BOOST_AUTO_TEST_CASE(percentiles_of_a_long_tail_are_within_two_percent) {
    // Latency-like: most around 20 us, a tail to 10 ms.
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> shape(std::log(20000.0), 0.6);
    std::vector<std::uint64_t> samples;
    Histogram h;
    for (int i = 0; i < 200000; ++i) {
        const auto v = static_cast<std::uint64_t>(shape(rng)) + (i % 1000 == 0 ? 10'000'000u : 0u);
        samples.push_back(v);
        h.record(v);
    }
    for (double p : {0.01, 0.5, 0.9, 0.99, 0.999, 0.9999}) {
        BOOST_TEST(within(h.percentile(p), exact(samples, p), 0.02), "p" << p * 100 << ": " << h.percentile(p)
                                                                          << " vs " << exact(samples, p));
    }
    BOOST_TEST(h.max() == *std::max_element(samples.begin(), samples.end()));
    BOOST_TEST(h.min() == *std::min_element(samples.begin(), samples.end()));
}

BOOST_AUTO_TEST_CASE(merge_equals_recording_everything_in_one) {
    Histogram a, b, all;
    for (std::uint64_t v = 0; v < 5000; ++v) {
        (v % 3 ? a : b).record(v * 37);
        all.record(v * 37);
    }
    a.merge(b);
    BOOST_TEST(a.count() == all.count());
    BOOST_TEST(a.min() == all.min());
    BOOST_TEST(a.max() == all.max());
    for (double p : {0.5, 0.99, 0.999}) BOOST_TEST(a.percentile(p) == all.percentile(p));
    a.clear();
    BOOST_TEST(a.count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
