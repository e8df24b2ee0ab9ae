// The fabric conformance suite: one set of tests, run against the backend named on the command
// line: test_fabric_conformance -- --backend=sim-verbs|sim-tcp|ofi-tcp
// A backend that cannot run on this machine makes the program print why and exit with 77, which
// ctest counts as skipped.
#define BOOST_TEST_MODULE fabric_conformance
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <iostream>
#include <string_view>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

namespace {

std::string& selected_backend() {
    static std::string backend = "sim-verbs";
    return backend;
}

void read_backend_argument() {
    const auto& suite = boost::unit_test::framework::master_test_suite();
    constexpr std::string_view prefix = "--backend=";
    for (int i = 1; i < suite.argc; ++i) {
        const std::string_view argument = suite.argv[i];
        if (argument.substr(0, prefix.size()) == prefix) selected_backend() = argument.substr(prefix.size());
    }
}

struct BackendCheck {
    BackendCheck() {
        read_backend_argument();
        std::string why_not;
        if (!make_harness(backend_name(), why_not)) {
            std::cout << "SKIPPED: " << backend_name() << ": " << why_not << std::endl;
            std::exit(77);
        }
        BOOST_TEST_MESSAGE("fabric conformance on backend " << backend_name());
    }
};

}  // namespace

const std::string& backend_name() {
    return selected_backend();
}

std::unique_ptr<Harness> open_harness() {
    std::string why_not;
    auto harness = make_harness(backend_name(), why_not);
    BOOST_REQUIRE_MESSAGE(harness != nullptr, "harness " << backend_name() << ": " << why_not);
    return harness;
}

BOOST_TEST_GLOBAL_FIXTURE(BackendCheck);

}  // namespace ibnbd::fabric::test
