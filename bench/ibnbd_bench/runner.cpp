#include "bench/ibnbd_bench/runner.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "bench/ibnbd_bench/pattern.hpp"
#include "bench/ibnbd_bench/report.hpp"

namespace ibnbd::bench {

namespace {

constexpr std::uint64_t kSecondNs = 1'000'000'000;
constexpr std::uint64_t kDrainTimeoutNs = 10 * kSecondNs;

std::string errno_text(int status) { return std::strerror(status < 0 ? -status : status); }

struct FreeDeleter {
    void operator()(std::byte* p) const { std::free(p); }
};

class Run {
public:
    Run(const Options& options, Engine& engine, CompletionList& done, Region region, const std::atomic<bool>* interrupt)
        : options_(options), engine_(engine), done_(done), region_(region), interrupt_(interrupt) {
        max_bs_ = *std::max_element(options.block_sizes.begin(), options.block_sizes.end());
        const std::size_t slots = std::size_t{options.numjobs} * options.iodepth;
        buffers_.reset(static_cast<std::byte*>(std::aligned_alloc(4096, slots * max_bs_)));
        std::memset(buffers_.get(), 0x5a, slots * max_bs_);
        for (std::uint32_t j = 0; j < options.numjobs; ++j) {
            jobs_.push_back({Workload(options, region, j), std::vector<Slot>(options.iodepth)});
            for (std::uint32_t s = 0; s < options.iodepth; ++s) {
                jobs_.back().slots[s].buffer = buffers_.get() + (std::size_t{j} * options.iodepth + s) * max_bs_;
            }
        }
        done_.reserve(slots);
        result_.region = region;
    }

    Expected<RunResult, std::string> execute() {
        // Reads may come before any write of their block: the region needs the pattern first.
        if (options_.verify && options_.prefill) {
            if (auto filled = prefill(); !filled) return unexpected(filled.error());
            if (result_.io_errors != 0) return result_;
        }
        if (auto measured = measure(); !measured) return unexpected(measured.error());
        return result_;
    }

private:
    struct Slot {
        IoSpec io;
        std::byte* buffer = nullptr;
        std::uint64_t start_ns = 0;
        bool busy = false;
    };
    struct Job {
        Workload workload;
        std::vector<Slot> slots;
    };
    enum class Phase { prefill, measure };

    Status<std::string> prefill() {
        phase_ = Phase::prefill;
        prefill_cursor_ = region_.start;
        for (std::uint32_t j = 0; j < jobs_.size(); ++j) {
            for (std::uint32_t s = 0; s < jobs_[j].slots.size(); ++s) issue_prefill(j, s);
        }
        std::uint64_t next_tick = now_ns() + kSecondNs;
        const std::uint64_t start = now_ns();
        while (inflight_ > 0) {
            engine_.poll(true);
            handle_completions();
            check_interrupt(now_ns());
            if (!options_.quiet && now_ns() >= next_tick) {
                next_tick += kSecondNs;
                std::fprintf(stderr, "ibnbd-bench: prefill %3.0f%% (%s of %s)\n",
                             100.0 * static_cast<double>(prefill_cursor_ - region_.start) / static_cast<double>(region_.length),
                             format_size(prefill_cursor_ - region_.start).c_str(), format_size(region_.length).c_str());
            }
            if (now_ns() - start > 3600 * kSecondNs) return unexpected(std::string("prefill did not finish in an hour"));
        }
        return {};
    }

    void issue_prefill(std::uint32_t j, std::uint32_t s) {
        const std::uint64_t end = region_.start + region_.length;
        if (stop_ || prefill_cursor_ >= end) return;
        IoSpec io{true, prefill_cursor_, static_cast<std::uint32_t>(std::min<std::uint64_t>(max_bs_, end - prefill_cursor_))};
        prefill_cursor_ += io.length;
        result_.prefill_bytes += io.length;
        issue(j, s, io);
    }

    Status<std::string> measure() {
        phase_ = Phase::measure;
        start_ns_ = now_ns();
        ramp_end_ns_ = start_ns_ + static_cast<std::uint64_t>(options_.ramp_s * 1e9);
        end_ns_ = ramp_end_ns_ + static_cast<std::uint64_t>(options_.runtime_s * 1e9);
        next_tick_ns_ = start_ns_ + kSecondNs;
        for (std::uint32_t j = 0; j < jobs_.size(); ++j) {
            for (std::uint32_t s = 0; s < jobs_[j].slots.size(); ++s) issue_next(j, s);
        }
        // One clock read per round: on a busy-polled fabric the loop runs millions of times.
        for (std::uint64_t now = now_ns(); inflight_ > 0 || (!stop_ && now < end_ns_); now = now_ns()) {
            engine_.poll(true);
            handle_completions();
            tick(now);
            check_interrupt(now);
            if (now > end_ns_ + kDrainTimeoutNs) {
                return unexpected(std::to_string(inflight_) + " IOs still in flight 10 s after the end of the run");
            }
        }
        // The window is [ramp end, end], cut short where an error or an interrupt stopped the run.
        const std::uint64_t until = std::min(stop_ ? stopped_ns_ : now_ns(), end_ns_);
        result_.measured_s = static_cast<double>(until - std::min(until, ramp_end_ns_)) / 1e9;
        return {};
    }

    void issue_next(std::uint32_t j, std::uint32_t s) {
        const std::uint64_t now = now_ns();
        if (stop_ || now >= end_ns_) return;
        IoSpec io = jobs_[j].workload.next();
        issue(j, s, io, now);
    }

    // `now` is the IO's start time unless verify has to fill the buffer first.
    void issue(std::uint32_t j, std::uint32_t s, const IoSpec& io, std::uint64_t now = 0) {
        Slot& slot = jobs_[j].slots[s];
        slot.io = io;
        if (io.write && options_.verify) {
            fill_pattern({slot.buffer, io.length}, io.offset, options_.seed);
            now = 0;
        }
        slot.busy = true;
        ++inflight_;
        slot.start_ns = now != 0 ? now : now_ns();
        if (const int status = engine_.submit(j, s, io, slot.buffer); status != 0) {
            slot.busy = false;
            --inflight_;
            fail_io(slot, status, "could not start");
        }
    }

    void fail_io(const Slot& slot, int status, const char* what) {
        ++result_.io_errors;
        if (result_.first_error.empty()) {
            result_.first_error = std::string(slot.io.write ? "write" : "read") + " of " + std::to_string(slot.io.length) +
                                  " bytes at " + std::to_string(slot.io.offset) + " " + what + ": " + errno_text(status);
        }
        if (!stop_) stopped_ns_ = now_ns();
        stop_ = true;  // as fio: the first error ends the run
    }

    void check_interrupt(std::uint64_t now) {
        if (interrupt_ == nullptr || !interrupt_->load(std::memory_order_relaxed) || result_.interrupted) return;
        result_.interrupted = true;
        if (!stop_) stopped_ns_ = now;
        stop_ = true;
    }

    void handle_completions() {
        for (const Completed& c : done_.items()) complete(c);
        done_.clear();
    }

    void complete(const Completed& c) {
        Slot& slot = jobs_[c.job].slots[c.slot];
        slot.busy = false;
        --inflight_;
        if (c.status != 0) return fail_io(slot, c.status, "failed");
        if (!slot.io.write && options_.verify) verify(slot);
        if (phase_ == Phase::prefill) return issue_prefill(c.job, c.slot);
        record(slot, c.end_ns);
        issue_next(c.job, c.slot);
    }

    void verify(const Slot& slot) {
        ++result_.verified_ios;
        const std::size_t bad = check_pattern({slot.buffer, slot.io.length}, slot.io.offset, options_.seed);
        if (bad == slot.io.length) return;
        ++result_.verify_mismatches;
        if (result_.first_mismatch.empty()) {
            result_.first_mismatch = "read of " + std::to_string(slot.io.length) + " bytes at " +
                                     std::to_string(slot.io.offset) + ": first wrong byte at device offset " +
                                     std::to_string(slot.io.offset + bad);
        }
    }

    void record(const Slot& slot, std::uint64_t end) {
        const std::uint64_t latency = end - slot.start_ns;
        IntervalStats& interval = slot.io.write ? interval_write_ : interval_read_;
        ++interval.ios;
        interval.bytes += slot.io.length;
        interval.latency_sum_ns += latency;
        if (slot.start_ns < ramp_end_ns_ || end > end_ns_) return;
        DirectionStats& stats = slot.io.write ? result_.write : result_.read;
        ++stats.ios;
        stats.bytes += slot.io.length;
        stats.latency_ns.record(latency);
    }

    void tick(std::uint64_t now) {
        if (now < next_tick_ns_) return;
        if (!options_.quiet) {
            const char* phase = now <= ramp_end_ns_ ? "ramp" : now <= end_ns_ ? "run" : "drain";
            const double at = static_cast<double>(now - start_ns_) / 1e9;
            const double interval = static_cast<double>(now - (next_tick_ns_ - kSecondNs)) / 1e9;
            std::fputs(progress_line(at, phase, interval_read_, interval_write_, interval).c_str(), stderr);
        }
        interval_read_ = {};
        interval_write_ = {};
        next_tick_ns_ = now + kSecondNs;
    }

    const Options& options_;
    Engine& engine_;
    CompletionList& done_;
    Region region_;
    const std::atomic<bool>* interrupt_;
    std::uint32_t max_bs_ = 0;
    std::unique_ptr<std::byte[], FreeDeleter> buffers_;
    std::vector<Job> jobs_;
    RunResult result_;
    Phase phase_ = Phase::measure;
    std::uint64_t prefill_cursor_ = 0;
    std::uint64_t inflight_ = 0;
    bool stop_ = false;
    std::uint64_t stopped_ns_ = 0;
    std::uint64_t start_ns_ = 0, ramp_end_ns_ = 0, end_ns_ = 0, next_tick_ns_ = 0;
    IntervalStats interval_read_, interval_write_;
};

}  // namespace

Expected<Region, std::string> plan_region(const Options& options, const Geometry& geometry) {
    if (options.offset >= geometry.size) {
        return unexpected("--offset " + std::to_string(options.offset) + " is beyond the device (" +
                          std::to_string(geometry.size) + " bytes)");
    }
    const std::uint64_t length = options.size != 0 ? options.size : geometry.size - options.offset;
    if (options.offset + length > geometry.size) {
        return unexpected("--offset + --size (" + std::to_string(options.offset + length) + ") exceed the device (" +
                          std::to_string(geometry.size) + " bytes)");
    }
    for (std::uint32_t bs : options.block_sizes) {
        if (bs % geometry.block_size != 0) {
            return unexpected("block size " + std::to_string(bs) + " is not a multiple of the device's " +
                              std::to_string(geometry.block_size) + "-byte blocks");
        }
        if (geometry.max_io != 0 && bs > geometry.max_io) {
            return unexpected("block size " + std::to_string(bs) + " exceeds the target's largest IO (" +
                              std::to_string(geometry.max_io) + " bytes)");
        }
        if (bs > length) return unexpected("block size " + std::to_string(bs) + " exceeds the region");
    }
    if (options.offset % geometry.block_size != 0 || length % geometry.block_size != 0) {
        return unexpected("--offset and --size must be multiples of the device's " +
                          std::to_string(geometry.block_size) + "-byte blocks");
    }
    const std::uint64_t inflight = std::uint64_t{options.iodepth} * options.numjobs;
    if (geometry.max_inflight != 0 && inflight > geometry.max_inflight) {
        return unexpected("iodepth × numjobs = " + std::to_string(inflight) + " exceeds the " +
                          std::to_string(geometry.max_inflight) +
                          " IOs the session can hold (2 × the server's queue depth); lower --iodepth or raise "
                          "ibnbd-server --queue-depth");
    }
    return Region{options.offset, length};
}

Expected<RunResult, std::string> run_benchmark(const Options& options, Engine& engine, CompletionList& done,
                                               const Geometry& geometry, const std::atomic<bool>* interrupt) {
    auto region = plan_region(options, geometry);
    if (!region) return unexpected(region.error());
    Run run(options, engine, done, *region, interrupt);
    return run.execute();
}

}  // namespace ibnbd::bench
