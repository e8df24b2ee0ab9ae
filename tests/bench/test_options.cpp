#define BOOST_TEST_MODULE ibnbd_bench
#include <boost/test/unit_test.hpp>

#include "bench/ibnbd_bench/options.hpp"

using namespace ibnbd::bench;

namespace {

ParseResult parse(std::vector<std::string> args) { return parse_options(args); }

// Bad input: no options, exit code 2, and a message that contains `words`.
void expect_refused(std::vector<std::string> args, const std::string& words) {
    const ParseResult result = parse(std::move(args));
    BOOST_TEST(!result.options.has_value());
    BOOST_TEST(result.exit_code == 2);
    BOOST_TEST(result.message.find(words) != std::string::npos, "message '" << result.message << "' lacks '" << words << "'");
}

const std::string kTarget = "ibnbd://s1/vol0?path=127.0.0.1:4000";

}  // namespace

BOOST_AUTO_TEST_SUITE(options)

BOOST_AUTO_TEST_CASE(defaults_are_fio_like) {
    const ParseResult result = parse({kTarget});
    BOOST_REQUIRE(result.options.has_value());
    const Options& o = *result.options;
    BOOST_TEST((o.rw == RwMode::randread));
    BOOST_TEST(o.block_sizes == std::vector<std::uint32_t>{4096});
    BOOST_TEST(o.iodepth == 1u);
    BOOST_TEST(o.numjobs == 1u);
    BOOST_TEST(o.runtime_s == 5.0);
    BOOST_TEST(!o.verify);
    BOOST_TEST(o.fabric == "ofi");
    BOOST_TEST(o.provider == "tcp");
}

BOOST_AUTO_TEST_CASE(every_option_is_read) {
    const ParseResult result = parse({"--rw", "randrw", "--rwmixread", "70", "--bs", "4k,64KiB,1m", "--iodepth", "32",
                                      "--numjobs", "4", "--runtime", "2.5", "--ramp", "1", "--size", "64m", "--offset",
                                      "1m", "--verify", "--no-prefill", "--seed", "9", "--json", "-q", "--mp-policy",
                                      "round-robin", "--io-connections", "2", kTarget});
    BOOST_REQUIRE_MESSAGE(result.options.has_value(), result.message);
    const Options& o = *result.options;
    BOOST_TEST((o.rw == RwMode::randrw));
    BOOST_TEST(o.rwmixread == 70u);
    BOOST_TEST(o.block_sizes == (std::vector<std::uint32_t>{4096, 65536, 1048576}));
    BOOST_TEST(o.iodepth == 32u);
    BOOST_TEST(o.numjobs == 4u);
    BOOST_TEST(o.runtime_s == 2.5);
    BOOST_TEST(o.ramp_s == 1.0);
    BOOST_TEST(o.size == 64u << 20);
    BOOST_TEST(o.offset == 1u << 20);
    BOOST_TEST(o.verify);
    BOOST_TEST(!o.prefill);
    BOOST_TEST(o.seed == 9u);
    BOOST_TEST(o.json);
    BOOST_TEST(o.quiet);
    BOOST_TEST(o.mp_policy == "round-robin");
    BOOST_TEST(o.io_connections == 2u);
}

BOOST_AUTO_TEST_CASE(help_is_not_an_error) {
    const ParseResult result = parse({"--help"});
    BOOST_TEST(!result.options.has_value());
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(result.message.find("--iodepth") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_workload_options_are_refused) {
    expect_refused({"--rw", "sideways", kTarget}, "bad --rw 'sideways'");
    expect_refused({"--rwmixread", "101", kTarget}, "--rwmixread");
    expect_refused({"--bs", "1000", kTarget}, "bad block size '1000'");
    expect_refused({"--bs", "4k,,8k", kTarget}, "bad block size ''");
    expect_refused({"--bs", "0", kTarget}, "bad block size '0'");
    expect_refused({"--bs", "32m", kTarget}, "bad block size '32m'");
    expect_refused({"--bs", "-4k", kTarget}, "bad block size '-4k'");
    expect_refused({"--iodepth", "0", kTarget}, "--iodepth");
    expect_refused({"--iodepth", "many", kTarget}, "--iodepth");
    expect_refused({"--numjobs", "65", kTarget}, "--numjobs");
    expect_refused({"--runtime", "0", kTarget}, "--runtime");
    expect_refused({"--size", "12q", kTarget}, "bad --size '12q'");
    expect_refused({"--size", "0", kTarget}, "bad --size '0'");
    expect_refused({"--offset", "100", kTarget}, "multiples of 512");
    expect_refused({"--size", "4k", "--bs", "8k", kTarget}, "smaller than the largest block size");
    expect_refused({"--no-prefill", kTarget}, "--no-prefill only makes sense with --verify");
}

BOOST_AUTO_TEST_CASE(bad_fabric_options_and_unknown_flags_are_refused) {
    expect_refused({"--fabric", "carrier-pigeon", kTarget}, "--fabric");
    expect_refused({"--mp-policy", "random", kTarget}, "--mp-policy");
    expect_refused({"--frobnicate", kTarget}, "frobnicate");
    expect_refused({}, "target is required");
    expect_refused({kTarget, "second-target"}, "second-target");
}

BOOST_AUTO_TEST_CASE(sizes_take_binary_suffixes) {
    BOOST_TEST(parse_size("4096").value() == 4096u);
    BOOST_TEST(parse_size("4k").value() == 4096u);
    BOOST_TEST(parse_size("4K").value() == 4096u);
    BOOST_TEST(parse_size("4KiB").value() == 4096u);
    BOOST_TEST(parse_size("128kb").value() == 131072u);
    BOOST_TEST(parse_size("2g").value() == 2ull << 30);
    BOOST_TEST(!parse_size("").has_value());
    BOOST_TEST(!parse_size("k").has_value());
    BOOST_TEST(!parse_size("1.5m").has_value());
    BOOST_TEST(!parse_size("4 k").has_value());
    BOOST_TEST(!parse_size("99999999999999999999").has_value());
    BOOST_TEST(!parse_size("17179869184g").has_value());  // overflows 64 bits
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(target_uris)

BOOST_AUTO_TEST_CASE(ibnbd_target_with_two_paths) {
    auto target = parse_target("ibnbd://mp/dir/vol1?path=198.18.1.2@198.18.1.1:4000&path=198.18.2.1");
    BOOST_REQUIRE(target.has_value());
    const auto& t = std::get<IbnbdTarget>(*target);
    BOOST_TEST(t.session == "mp");
    BOOST_TEST(t.device == "dir/vol1");
    BOOST_REQUIRE(t.paths.size() == 2u);
    BOOST_TEST(t.paths[0].source_host == "198.18.1.2");
    BOOST_TEST(t.paths[0].destination_host == "198.18.1.1");
    BOOST_TEST(t.paths[0].port == 4000u);
    BOOST_TEST(t.paths[1].source_host.empty());
    BOOST_TEST(t.paths[1].port == 1234u);  // IBNBD's default port
}

BOOST_AUTO_TEST_CASE(ibnbd_target_with_ipv6_path) {
    auto target = parse_target("ibnbd://s/v?path=[::1]:5000");
    BOOST_REQUIRE(target.has_value());
    const auto& t = std::get<IbnbdTarget>(*target);
    BOOST_TEST(t.paths[0].destination_host == "::1");
    BOOST_TEST(t.paths[0].port == 5000u);
}

BOOST_AUTO_TEST_CASE(nbd_targets) {
    auto tcp = parse_target("nbd://127.0.0.1:10810/disk");
    BOOST_REQUIRE(tcp.has_value());
    const auto& t = std::get<NbdTarget>(*tcp);
    BOOST_TEST(!t.unix_socket);
    BOOST_TEST(t.host == "127.0.0.1");
    BOOST_TEST(t.port == 10810u);
    BOOST_TEST(t.export_name == "disk");
    BOOST_TEST(t.uri == "nbd://127.0.0.1:10810/disk");
    auto default_port = parse_target("nbd://localhost");
    BOOST_REQUIRE(default_port.has_value());
    BOOST_TEST(std::get<NbdTarget>(*default_port).port == 10809u);
    auto unix_target = parse_target("nbd+unix:///vol0?socket=/run/ibnbd/s1@vol0.sock");
    BOOST_REQUIRE(unix_target.has_value());
    const auto& u = std::get<NbdTarget>(*unix_target);
    BOOST_TEST(u.unix_socket);
    BOOST_TEST(u.export_name == "vol0");
    BOOST_TEST(u.socket == "/run/ibnbd/s1@vol0.sock");
}

BOOST_AUTO_TEST_CASE(bad_targets_say_what_is_wrong) {
    auto error_of = [](std::string_view uri) {
        auto target = parse_target(uri);
        BOOST_TEST_REQUIRE(!target.has_value(), "accepted " << uri);
        return target.error();
    };
    BOOST_TEST(error_of("http://x/y").find("unknown target") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s1").find("SESSION/DEVICE") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s1/vol0").find("at least one path") != std::string::npos);
    BOOST_TEST(error_of("ibnbd:///vol0?path=1.2.3.4").find("bad session name") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://a.b/vol0?path=1.2.3.4").find("bad session name") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/?path=1.2.3.4").find("bad device name") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/../etc/passwd?path=1.2.3.4").find("bad device name") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/a//b?path=1.2.3.4").find("bad device name") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/v?path=1.2.3.4:99999").find("bad path '1.2.3.4:99999'") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/v?path=1.2.3.4:0").find("bad path") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/v?path=@1.2.3.4").find("bad path source") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/v?path=").find("bad path") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/v?path").find("bad query") != std::string::npos);
    BOOST_TEST(error_of("ibnbd://s/v?policy=rr").find("unknown ibnbd:// parameter 'policy'") != std::string::npos);
    BOOST_TEST(error_of("nbd://:10809/x").find("bad host") != std::string::npos);
    BOOST_TEST(error_of("nbd://h:port/x").find("bad host") != std::string::npos);
    BOOST_TEST(error_of("nbd://h/x?tls=on").find("no query") != std::string::npos);
    BOOST_TEST(error_of("nbd+unix:///x").find("socket=PATH") != std::string::npos);
    BOOST_TEST(error_of("nbd+unix:///x?socket=").find("non-empty socket") != std::string::npos);
    BOOST_TEST(error_of("nbd+unix://host/x?socket=/s").find("has no host") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_bad_target_on_the_command_line_exits_2) {
    expect_refused({"ibnbd://s1/vol0"}, "at least one path");
}

BOOST_AUTO_TEST_SUITE_END()
