// Maps backend names to harness factories.
#include <string>

#include "tests/fabric/harness.hpp"

namespace ibnbd::fabric::test {

std::unique_ptr<Harness> make_verbs_harness(std::string& why_not);  // harness_verbs.cpp

std::unique_ptr<Harness> make_harness(std::string_view backend, std::string& why_not) {
    if (backend == "sim-verbs") return make_sim_harness(true, why_not);
    if (backend == "sim-tcp") return make_sim_harness(false, why_not);
    if (backend == "ofi-tcp") return make_ofi_harness("tcp", true, why_not);
    // Transmit-complete: sends and writes complete once handed to the socket (what the daemons use).
    if (backend == "ofi-tcp-tc") return make_ofi_harness("tcp", false, why_not);
    if (backend == "verbs") return make_verbs_harness(why_not);
    why_not = "unknown backend '" + std::string(backend) + "' (known: sim-verbs, sim-tcp, ofi-tcp, ofi-tcp-tc, verbs)";
    return nullptr;
}

}  // namespace ibnbd::fabric::test
