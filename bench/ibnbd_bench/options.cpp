#include "bench/ibnbd_bench/options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ibnbd::bench {

namespace {

constexpr std::uint32_t kMaxBlock = 16u << 20;

struct ModeName {
    RwMode mode;
    std::string_view name;
};
constexpr ModeName kModes[] = {{RwMode::read, "read"},   {RwMode::write, "write"},   {RwMode::randread, "randread"},
                               {RwMode::randwrite, "randwrite"}, {RwMode::rw, "rw"}, {RwMode::randrw, "randrw"}};

std::optional<RwMode> parse_mode(std::string_view text) {
    if (text == "readwrite") return RwMode::rw;  // fio's other name for rw
    for (const auto& entry : kModes) {
        if (entry.name == text) return entry.mode;
    }
    return std::nullopt;
}

void add_workload_options(CLI::App& app, Options& o, std::string& rw, std::string& bs, std::string& size,
                          std::string& offset, bool& no_prefill) {
    app.add_option("--rw", rw, "read|write|randread|randwrite|rw|randrw (default randread)");
    app.add_option("--rwmixread", o.rwmixread, "percent reads for rw/randrw (default 50)")->check(CLI::Range(0, 100));
    app.add_option("--bs", bs, "block size(s), e.g. 4k or 4k,64k (each IO picks one at random; default 4k)");
    app.add_option("--iodepth", o.iodepth, "IOs in flight per job (default 1)")->check(CLI::Range(1, 4096));
    app.add_option("--numjobs", o.numjobs, "independent IO streams (default 1)")->check(CLI::Range(1, 64));
    app.add_option("--runtime", o.runtime_s, "measured seconds (default 5)")->check(CLI::Range(0.1, 86400.0));
    app.add_option("--ramp", o.ramp_s, "seconds of IO before measuring (default 0)")->check(CLI::Range(0.0, 3600.0));
    app.add_option("--size", size, "region length (default: to the end of the device)");
    app.add_option("--offset", offset, "region start (default 0)");
    app.add_option("--seed", o.seed, "seed of offsets and of the verify pattern (default 1)");
    app.add_flag("--verify", o.verify, "writes carry a pattern of (offset, seed); reads check it");
    app.add_flag("--no-prefill", no_prefill, "with --verify: do not write the region first (check what an earlier run wrote)");
}

void add_output_options(CLI::App& app, Options& o) {
    app.add_flag("--json", o.json, "print the result as JSON on stdout");
    app.add_flag("-q,--quiet", o.quiet, "no progress lines on stderr");
}

void add_fabric_options(CLI::App& app, Options& o) {
    app.add_option("--fabric", o.fabric, "ibnbd://: ofi|verbs (default ofi)")->check(CLI::IsMember({"ofi", "verbs"}));
    app.add_option("--provider", o.provider, "ibnbd:// over ofi: libfabric provider (default tcp)");
    app.add_option("--mp-policy", o.mp_policy, "ibnbd://: round-robin|min-inflight|min-latency (default min-inflight)")
        ->check(CLI::IsMember({"round-robin", "min-inflight", "min-latency"}));
    app.add_option("--io-connections", o.io_connections, "ibnbd://: IO connections per path (default 1)")
        ->check(CLI::Range(1, 16));
    app.add_option("--connect-timeout", o.connect_timeout_s, "seconds to connect and open (default 10)")
        ->check(CLI::Range(0.1, 600.0));
}

std::string check_region(const std::string& offset, const std::string& size, Options& out) {
    if (!offset.empty()) {
        auto value = parse_size(offset);
        if (!value) return "bad --offset '" + offset + "' (a size such as 0, 1m, 4096)";
        out.offset = *value;
    }
    if (!size.empty()) {
        auto value = parse_size(size);
        if (!value || *value == 0) return "bad --size '" + size + "' (a non-zero size such as 64m)";
        out.size = *value;
    }
    if (out.offset % 512 != 0 || out.size % 512 != 0) return "--offset and --size must be multiples of 512";
    const std::uint32_t largest = *std::max_element(out.block_sizes.begin(), out.block_sizes.end());
    if (out.size != 0 && out.size < largest) return "--size is smaller than the largest block size";
    return {};
}

std::string validate(Options& o, const std::string& rw, const std::string& bs, const std::string& offset,
                     const std::string& size, bool no_prefill) {
    auto mode = parse_mode(rw);
    if (!mode) return "bad --rw '" + rw + "' (read, write, randread, randwrite, rw, randrw)";
    o.rw = *mode;
    std::string error;
    auto sizes = parse_block_sizes(bs, error);
    if (!sizes) return error;
    o.block_sizes = *sizes;
    if (no_prefill && !o.verify) return "--no-prefill only makes sense with --verify";
    o.prefill = !no_prefill;
    if (auto bad = check_region(offset, size, o); !bad.empty()) return bad;
    auto target = parse_target(o.target_text);
    if (!target) return target.error();
    o.target = std::move(target.value());
    return {};
}

}  // namespace

bool is_random(RwMode mode) { return mode == RwMode::randread || mode == RwMode::randwrite || mode == RwMode::randrw; }

bool has_reads(RwMode mode, unsigned rwmixread) {
    if (mode == RwMode::read || mode == RwMode::randread) return true;
    return (mode == RwMode::rw || mode == RwMode::randrw) && rwmixread > 0;
}

bool has_writes(RwMode mode, unsigned rwmixread) {
    if (mode == RwMode::write || mode == RwMode::randwrite) return true;
    return (mode == RwMode::rw || mode == RwMode::randrw) && rwmixread < 100;
}

std::string_view to_string(RwMode mode) {
    for (const auto& entry : kModes) {
        if (entry.mode == mode) return entry.name;
    }
    return "?";
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr == text.data()) return std::nullopt;
    std::string suffix(ptr, text.data() + text.size());
    std::transform(suffix.begin(), suffix.end(), suffix.begin(), [](unsigned char c) { return std::tolower(c); });
    static const std::pair<std::string_view, unsigned> kUnits[] = {
        {"", 0}, {"b", 0}, {"k", 10}, {"kb", 10}, {"kib", 10}, {"m", 20}, {"mb", 20}, {"mib", 20},
        {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40}, {"tb", 40}, {"tib", 40}};
    for (const auto& [name, shift] : kUnits) {
        if (suffix != name) continue;
        if (shift != 0 && value > (~std::uint64_t{0} >> shift)) return std::nullopt;
        return value << shift;
    }
    return std::nullopt;
}

std::optional<std::vector<std::uint32_t>> parse_block_sizes(std::string_view text, std::string& error) {
    std::vector<std::uint32_t> sizes;
    while (true) {
        const auto comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        auto value = parse_size(item);
        if (!value || *value == 0 || *value % 512 != 0 || *value > kMaxBlock) {
            error = "bad block size '" + std::string(item) + "' in --bs (a multiple of 512 up to 16m, e.g. 4k)";
            return std::nullopt;
        }
        sizes.push_back(static_cast<std::uint32_t>(*value));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return sizes;
}

ParseResult parse_options(const std::vector<std::string>& args) {
    CLI::App app{"ibnbd-bench: fio-like IOPS, bandwidth and latency of an ibnbd:// or nbd:// target", "ibnbd-bench"};
    Options o;
    std::string rw = "randread", bs = "4k", size, offset;
    bool no_prefill = false;
    add_workload_options(app, o, rw, bs, size, offset, no_prefill);
    add_output_options(app, o);
    add_fabric_options(app, o);
    app.add_option("target", o.target_text,
                   "ibnbd://SESSION/DEVICE?path=[SRC@]DST[:PORT][&path=...], nbd://HOST[:PORT]/EXPORT or "
                   "nbd+unix:///EXPORT?socket=PATH")
        ->required();
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        return {std::nullopt, 0, app.help()};
    } catch (const CLI::ParseError& e) {
        return {std::nullopt, 2, std::string(e.what()) + "; see --help"};
    }
    if (auto bad = validate(o, rw, bs, offset, size, no_prefill); !bad.empty()) return {std::nullopt, 2, bad};
    return {std::move(o), 0, {}};
}

}  // namespace ibnbd::bench
