// The runner, the workload and the verify pattern against an in-memory engine: no network, so the
// checks are exact (every read is verified, a planted corruption must be found).
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include "bench/ibnbd_bench/pattern.hpp"
#include "bench/ibnbd_bench/runner.hpp"
#include "tests/support/alloc_hook.hpp"

using namespace ibnbd::bench;
using ibnbd::Expected;

namespace {

// A device in memory that completes each IO on the next poll(), optionally failing one.
class MemoryEngine : public Engine {
public:
    MemoryEngine(CompletionList& done, std::size_t size) : done_(done), data_(size) { pending_.reserve(1024); }
    Expected<Geometry, std::string> open(const EngineSetup&) override {
        return Geometry{data_.size(), 512, 1u << 20, 64, "memory"};
    }
    int submit(std::uint32_t job, std::uint32_t slot, const IoSpec& io, std::byte* buffer) override {
        ++submitted;
        if (io.write) {
            std::memcpy(data_.data() + io.offset, buffer, io.length);
            if (track_writes) writes.insert(io.offset);
        } else {
            std::memcpy(buffer, data_.data() + io.offset, io.length);
        }
        pending_.push_back({job, slot, submitted == fail_at ? -EIO : 0});
        return 0;
    }
    void poll(bool) override {
        for (const auto& p : pending_) done_.push(p.job, p.slot, p.status);
        pending_.clear();
    }
    void close() override {}
    std::vector<std::byte>& data() { return data_; }

    std::uint64_t submitted = 0;
    std::uint64_t fail_at = 0;  // 1-based IO number to fail with -EIO; 0: none
    bool track_writes = true;  // off where allocations are counted
    std::set<std::uint64_t> writes;

private:
    struct Pending {
        std::uint32_t job, slot;
        int status;
    };
    CompletionList& done_;
    std::vector<std::byte> data_;
    std::vector<Pending> pending_;  // reserved: the engine itself allocates nothing per IO
};

Options options(RwMode rw, double runtime = 0.2) {
    Options o;
    o.rw = rw;
    o.runtime_s = runtime;
    o.iodepth = 4;
    o.numjobs = 2;
    o.quiet = true;
    o.seed = 5;
    return o;
}

RunResult run(const Options& o, MemoryEngine& engine, CompletionList& done) {
    auto geometry = engine.open({o.numjobs, o.iodepth, true});
    auto result = run_benchmark(o, engine, done, *geometry);
    BOOST_REQUIRE_MESSAGE(result.has_value(), (result ? "" : result.error()));
    return *result;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pattern)

BOOST_AUTO_TEST_CASE(pattern_depends_on_offset_and_seed) {
    std::vector<std::byte> a(4096), b(4096);
    fill_pattern(a, 8192, 1);
    BOOST_TEST(check_pattern(a, 8192, 1) == a.size());
    BOOST_TEST(check_pattern(a, 8192, 2) == 0u);      // another seed: wrong from the first byte
    BOOST_TEST(check_pattern(a, 12288, 1) == 0u);     // another place: wrong too
    fill_pattern(b, 8192 + 512, 1);                  // overlapping fills agree where they overlap
    BOOST_TEST(std::memcmp(a.data() + 512, b.data(), 4096 - 512) == 0);
    a[1000] ^= std::byte{1};
    BOOST_TEST(check_pattern(a, 8192, 1) == 1000u);
    std::vector<std::byte> zeros(4096);
    BOOST_TEST(check_pattern(zeros, 0, 1) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(workload)

BOOST_AUTO_TEST_CASE(random_offsets_are_aligned_and_inside_the_region) {
    Options o = options(RwMode::randrw);
    o.block_sizes = {4096, 65536};
    o.rwmixread = 70;
    Workload w(o, {1 << 20, 8 << 20}, 0);
    std::size_t reads = 0, small = 0;
    for (int i = 0; i < 10000; ++i) {
        const IoSpec io = w.next();
        BOOST_TEST_REQUIRE(io.offset % io.length == 0u);
        BOOST_TEST_REQUIRE(io.offset >= (1u << 20));
        BOOST_TEST_REQUIRE(io.offset + io.length <= (9u << 20));
        reads += !io.write;
        small += io.length == 4096;
    }
    BOOST_TEST(reads > 6700u);
    BOOST_TEST(reads < 7300u);
    BOOST_TEST(small > 4700u);
    BOOST_TEST(small < 5300u);
}

BOOST_AUTO_TEST_CASE(sequential_jobs_start_apart_and_wrap) {
    Options o = options(RwMode::read);
    o.block_sizes = {4096};
    Workload first(o, {0, 64 * 1024}, 0), second(o, {0, 64 * 1024}, 1);
    BOOST_TEST(first.next().offset == 0u);
    BOOST_TEST(second.next().offset == 32u * 1024);
    for (int i = 0; i < 14; ++i) (void)first.next();
    BOOST_TEST(first.next().offset == 60u * 1024);
    BOOST_TEST(first.next().offset == 0u);  // wrapped
}

BOOST_AUTO_TEST_CASE(same_seed_same_stream) {
    const Options o = options(RwMode::randwrite);
    Workload a(o, {0, 1 << 24}, 3), b(o, {0, 1 << 24}, 3), c(o, {0, 1 << 24}, 4);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        const IoSpec x = a.next(), y = b.next(), z = c.next();
        BOOST_TEST_REQUIRE(x.offset == y.offset);
        differs |= x.offset != z.offset;
    }
    BOOST_TEST(differs);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(runner)

BOOST_AUTO_TEST_CASE(verified_mixed_run_finds_no_mismatch) {
    CompletionList done;
    MemoryEngine engine(done, 4 << 20);
    Options o = options(RwMode::randrw);
    o.verify = true;
    const RunResult r = run(o, engine, done);
    BOOST_TEST(r.prefill_bytes == 4u << 20);
    BOOST_TEST(r.read.ios > 100u);
    BOOST_TEST(r.write.ios > 100u);
    BOOST_TEST(r.read.latency_ns.count() == r.read.ios);
    BOOST_TEST(r.verified_ios >= r.read.ios);
    BOOST_TEST(r.verify_mismatches == 0u);
    BOOST_TEST(r.io_errors == 0u);
    BOOST_TEST(r.measured_s > 0.15);
    // After the run the whole region carries the pattern.
    BOOST_TEST(check_pattern(engine.data(), 0, o.seed) == engine.data().size());
}

BOOST_AUTO_TEST_CASE(planted_corruption_is_found) {
    CompletionList done;
    MemoryEngine engine(done, 1 << 20);
    Options o = options(RwMode::randread);
    o.verify = true;
    o.prefill = false;
    fill_pattern(engine.data(), 0, o.seed);
    engine.data()[123456] ^= std::byte{0x40};
    const RunResult r = run(o, engine, done);
    BOOST_TEST(r.verify_mismatches > 0u);
    BOOST_TEST(r.verify_mismatches < r.verified_ios);
    BOOST_TEST(r.first_mismatch.find("device offset 123456") != std::string::npos, r.first_mismatch);
}

BOOST_AUTO_TEST_CASE(data_of_another_seed_is_found) {
    CompletionList done;
    MemoryEngine engine(done, 1 << 20);
    Options o = options(RwMode::read);
    o.verify = true;
    o.prefill = false;
    fill_pattern(engine.data(), 0, o.seed + 1);
    const RunResult r = run(o, engine, done);
    BOOST_TEST(r.verified_ios > 0u);
    BOOST_TEST(r.verify_mismatches == r.verified_ios);
}

BOOST_AUTO_TEST_CASE(an_io_error_stops_the_run_and_is_reported) {
    CompletionList done;
    MemoryEngine engine(done, 1 << 20);
    engine.fail_at = 50;
    const RunResult r = run(options(RwMode::randwrite, 5.0), engine, done);
    BOOST_TEST(r.io_errors == 1u);
    BOOST_TEST(r.first_error.find("write of 4096 bytes") != std::string::npos, r.first_error);
    BOOST_TEST(r.measured_s < 1.0);  // stopped early, not after 5 s
    BOOST_TEST(engine.submitted < 60u);
}

BOOST_AUTO_TEST_CASE(an_interrupt_ends_the_run_with_a_result) {
    CompletionList done;
    MemoryEngine engine(done, 1 << 20);
    const Options o = options(RwMode::randread, 30.0);
    auto geometry = engine.open({o.numjobs, o.iodepth, false});
    std::atomic<bool> interrupt = false;
    std::thread signaller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        interrupt = true;
    });
    auto result = run_benchmark(o, engine, done, *geometry, &interrupt);
    signaller.join();
    BOOST_REQUIRE(result.has_value());
    BOOST_TEST(result->interrupted);
    BOOST_TEST(result->read.ios > 0u);
    BOOST_TEST(result->measured_s > 0.1);
    BOOST_TEST(result->measured_s < 5.0);
}

BOOST_AUTO_TEST_CASE(ramp_ios_are_not_counted) {
    CompletionList done;
    MemoryEngine engine(done, 1 << 20);
    Options o = options(RwMode::randread);
    o.ramp_s = 0.2;
    const RunResult r = run(o, engine, done);
    BOOST_TEST(r.read.ios > 0u);
    BOOST_TEST(r.read.ios < engine.submitted);
    BOOST_TEST(r.measured_s > 0.15);
    BOOST_TEST(r.measured_s < 0.3);
}

BOOST_AUTO_TEST_CASE(the_runner_allocates_nothing_per_io) {
    // Setup allocates (slots, buffers, workloads); IO must not: a run three times as long makes
    // three times the IOs and exactly as many allocations.
    auto allocations_for = [](double runtime, std::uint64_t& ios) {
        CompletionList done;
        MemoryEngine engine(done, 1 << 20);
        engine.track_writes = false;
        Options o = options(RwMode::randrw, runtime);
        o.verify = true;
        o.block_sizes = {4096, 8192};
        auto geometry = engine.open({o.numjobs, o.iodepth, true});
        const std::uint64_t before = ibnbd::test::allocation_count();
        auto result = run_benchmark(o, engine, done, *geometry);
        const std::uint64_t allocations = ibnbd::test::allocation_count() - before;
        BOOST_REQUIRE(result.has_value());
        ios = result->read.ios + result->write.ios;
        return allocations;
    };
    // Runs are timed, so on a loaded machine the IO counts vary; what matters is that they differ
    // by thousands while the allocation counts do not differ at all.
    std::uint64_t short_ios = 0, long_ios = 0;
    const std::uint64_t short_run = allocations_for(0.05, short_ios);
    const std::uint64_t long_run = allocations_for(0.4, long_ios);
    BOOST_TEST(long_ios > short_ios + 1000);
    BOOST_TEST(long_run == short_run);
}

BOOST_AUTO_TEST_CASE(the_region_must_fit_the_device) {
    const Geometry g{1 << 20, 4096, 65536, 8, "test"};
    auto error_of = [&](const Options& o) {
        auto region = plan_region(o, g);
        BOOST_TEST_REQUIRE(!region.has_value());
        return region.error();
    };
    Options o = options(RwMode::randread);
    o.iodepth = 1;
    o.offset = 1 << 20;
    BOOST_TEST(error_of(o).find("beyond the device") != std::string::npos);
    o.offset = 512 * 1024;
    o.size = 1 << 20;
    BOOST_TEST(error_of(o).find("exceed the device") != std::string::npos);
    o = options(RwMode::randread);
    o.iodepth = 1;
    o.block_sizes = {512};
    BOOST_TEST(error_of(o).find("not a multiple of the device's 4096-byte blocks") != std::string::npos);
    o.block_sizes = {131072};
    BOOST_TEST(error_of(o).find("exceeds the target's largest IO") != std::string::npos);
    o.block_sizes = {4096};
    o.iodepth = 8;
    o.numjobs = 2;
    BOOST_TEST(error_of(o).find("iodepth × numjobs = 16") != std::string::npos);
    o.iodepth = 4;
    auto region = plan_region(o, g);
    BOOST_REQUIRE(region.has_value());
    BOOST_TEST(region->length == 1u << 20);
}

BOOST_AUTO_TEST_SUITE_END()
