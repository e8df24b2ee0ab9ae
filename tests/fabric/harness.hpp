// The conformance suite runs against any backend through this harness. A harness owns two
// fabrics (a passive "server" side and an active "client" side) that can reach each other, and
// knows how to drive them: virtual time on the simulator, polling with a wall-clock bound on real
// backends.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "fabric/fabric.hpp"

namespace ibnbd::fabric::test {

class Harness {
public:
    virtual ~Harness() = default;
    virtual std::string name() const = 0;
    virtual Fabric& server() = 0;
    virtual Fabric& client() = 0;
    // A second fabric on the server's host, as another reactor of a server has; run_until() and
    // run_for() drive it too. Connect requests detached on server() are accepted on it.
    virtual Fabric& server_sibling() = 0;
    // Where the server side should listen (a fresh port per call on real backends).
    virtual Address listen_address() = 0;
    // Drives all fabrics until `done()` holds or `timeout` passes (virtual or wall time).
    // Returns done().
    virtual bool run_until(const std::function<bool()>& done, Nanos timeout) = 0;
    // Drives all fabrics for `duration`, delivering whatever happens meanwhile.
    virtual void run_for(Nanos duration) = 0;
    // Silent death of the server node: no event reaches the client. Returns false (and the test
    // skips) where the backend cannot do this.
    virtual bool kill_server_silently() = 0;
};

// Registered backends: "sim-verbs", "sim-tcp" (simulator in both IMM modes), "ofi-tcp".
// Returns nullptr and sets `why_not` when the backend cannot run on this machine.
std::unique_ptr<Harness> make_harness(std::string_view backend, std::string& why_not);

// Backend factories used by make_harness (harness_registry.cpp).
std::unique_ptr<Harness> make_sim_harness(bool imm_consumes_recv, std::string& why_not);  // harness_sim.cpp
// delivery_complete: OfiConfig::delivery_complete (false: completions once handed to the socket).
std::unique_ptr<Harness> make_ofi_harness(std::string_view provider, bool delivery_complete,
                                          std::string& why_not);  // harness_ofi.cpp

}  // namespace ibnbd::fabric::test
