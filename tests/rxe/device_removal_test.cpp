// verbs_device_removal: RDMA_CM_EVENT_DEVICE_REMOVAL on the verbs backend, inside the SoftRoCE VM.
// A connected pair of endpoints (two fabrics in this process, like the conformance harness) has
// receives posted on both sides; then `rdma link delete` removes the rxe device under them. Both
// sides must complete their receives as flushed, in post order, and report disconnected once and
// last. The removal itself finishes only when this process exits (librdmacm keeps its device
// contexts open for the life of the process); scripts/rxe/run-rxe-tests.sh checks that it did.
//
// It destroys the device, so it runs only where RXE_VM_RDMA_DEV names an rxe device (the VM sets
// it; scripts/rxe/run-rxe-tests.sh runs this program last) and exits with 77 elsewhere.
#define BOOST_TEST_MODULE verbs_device_removal
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include <sys/wait.h>

#include "tests/fabric/conformance/conformance.hpp"

namespace ibnbd::fabric::test {

std::unique_ptr<Harness> make_verbs_harness(std::string& why_not);  // tests/fabric/harness_verbs.cpp

// The conformance support code (recorders, pairs) needs these; this program has one harness.
const std::string& backend_name() {
    static const std::string name = "verbs";
    return name;
}

std::unique_ptr<Harness> open_harness() {
    std::string why_not;
    auto harness = make_verbs_harness(why_not);
    BOOST_REQUIRE_MESSAGE(harness != nullptr, why_not);
    return harness;
}

namespace {

int run_command(const std::string& command) {
    const int status = std::system(command.c_str());
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string rxe_device() {
    const char* device = std::getenv("RXE_VM_RDMA_DEV");
    return device && std::string(device).rfind("rxe", 0) == 0 ? device : "";
}

struct VmOnly {
    VmOnly() {
        std::string why_not;
        if (rxe_device().empty() || !make_verbs_harness(why_not)) {
            std::cout << "SKIPPED: removes the RDMA device: runs only inside the SoftRoCE VM (RXE_VM_RDMA_DEV=rxe*) "
                      << why_not << std::endl;
            std::exit(77);
        }
    }
};

BOOST_TEST_GLOBAL_FIXTURE(VmOnly);

void check_flushed_then_disconnected(const Recorder& recorder, std::uint64_t first_context, std::size_t count) {
    BOOST_REQUIRE(recorder.completions.size() == count);
    for (std::size_t i = 0; i < count; ++i) {
        BOOST_TEST(recorder.completions[i].context == first_context + i);
        BOOST_TEST(recorder.completions[i].status == WcStatus::flushed);
    }
    BOOST_TEST(recorder.count(CmEventType::disconnected) == 1u);
    BOOST_TEST(recorder.first(CmEventType::disconnected)->completions_before == count);
}

}  // namespace

BOOST_AUTO_TEST_CASE(device_removal_flushes_and_disconnects_both_sides) {
    auto harness = open_harness();
    Pair pair(*harness);
    BOOST_REQUIRE(pair.connect());
    Region server_buffers(harness->server(), 4 * 64, access_local_write);
    Region client_buffers(harness->client(), 4 * 64, access_local_write);
    for (std::uint64_t i = 0; i < 4; ++i) {
        const Sge server_sge = server_buffers.sge(i * 64, 64);
        const Sge client_sge = client_buffers.sge(i * 64, 64);
        BOOST_REQUIRE(pair.server().post_recv(10 + i, {&server_sge, 1}).has_value());
        BOOST_REQUIRE(pair.client().post_recv(20 + i, {&client_sge, 1}).has_value());
    }
    // In the background: `rdma link delete` returns only once the device is gone.
    BOOST_REQUIRE_EQUAL(run_command("(timeout 60 rdma link delete " + rxe_device() + " &)"), 0);
    BOOST_REQUIRE(pair.run_until(
        [&] {
            return pair.client_events.has(CmEventType::disconnected) && pair.server_events.has(CmEventType::disconnected);
        },
        10'000 * kMillisecond));
    harness->run_for(100 * kMillisecond);
    check_flushed_then_disconnected(pair.server_events, 10, 4);
    check_flushed_then_disconnected(pair.client_events, 20, 4);
    BOOST_TEST(!pair.client().connected());
    const Sge sge = client_buffers.sge(0, 64);
    BOOST_TEST(fails_with(pair.client().post_recv(30, {&sge, 1}), Errc::not_connected));
}

}  // namespace ibnbd::fabric::test
