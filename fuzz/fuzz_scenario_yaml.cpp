// The scenario YAML reader on arbitrary text. Properties: no crash (yaml-cpp exceptions and bad
// values become error lists), and a scenario that parses is written out (scenario_writer) as text
// that parses again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_check.hpp"
#include "sim-scenarios/runner/parse.hpp"
#include "sim-scenarios/runner/scenario_writer.hpp"

using namespace ibnbd::scenario;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const ParseResult parsed = parse_scenario_text(text, "fuzz.yaml");
    if (!parsed) {
        FUZZ_CHECK(!parsed.error().empty());
        return 0;
    }
    const ParseResult again = parse_scenario_text(write_scenario(*parsed), "rewritten.yaml");
    FUZZ_CHECK(again.has_value());
    return 0;
}
