// ibtrs_rxe_e2e: IBTRS and IBNBD end to end over the verbs backend, run inside the SoftRoCE VM
// (scripts/rxe/): a server process (rxe_server) and clients in this process, on one rxe device.
//   ibtrs_cases.cpp  IBTRS sessions: every IO size verified, QPs released after TIMEWAIT, a path
//                    killed under load
//   ibnbd_cases.cpp  an IBNBD device over io_uring: verified block IO, a path killed under load
// With two addresses on the rxe netdev (RXE_VM_IP, RXE_VM_IP2) every session has two paths; a path
// is killed by deleting its address from the netdev (rxe then fails that path's work at once with
// a local QP operation error), and comes back when the address does.
//
// Outside the VM (no RDMA device, no RXE_VM_IP) the program says so and exits with 77 (skipped).
#define BOOST_TEST_MODULE ibtrs_rxe_e2e
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include "tests/rxe/rxe_support.hpp"

namespace ibnbd::rxe_test {

namespace {

struct EnvironmentCheck {
    EnvironmentCheck() {
        std::string why_not;
        auto found = rxe_environment(why_not);
        if (!found) {
            std::cout << "SKIPPED: " << why_not << std::endl;
            std::exit(77);
        }
        environment() = *found;
        BOOST_TEST_MESSAGE("rxe addresses: " << environment().addresses.size() << ", first "
                                             << environment().addresses.front());
    }
};

BOOST_TEST_GLOBAL_FIXTURE(EnvironmentCheck);

}  // namespace

RxeEnvironment& environment() {
    static RxeEnvironment value;
    return value;
}

}  // namespace ibnbd::rxe_test
