// Typed checking of control requests (control_server.hpp). Each daemon declares its commands and
// their fields once; a request is checked against that before any handler reads it, so handlers
// may use Json::value() on the declared fields without a json::type_error ever escaping (which
// would abort the daemon). Errors name the field and say what it must be, limits included:
//   "unknown command 'foo' (commands: list, stats, force_close)"
//   "'session' must be a string, not a number"       "'force_close' needs 'device_id' (...)"
//   "'device' is 300 bytes long; at most 254 (the RNBD device name)"
// Fields a command does not declare are ignored (the CLI sends some to every command).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ibnbd/daemon/control_server.hpp"

namespace ibnbd::daemon {

enum class FieldType : std::uint8_t {
    string,       // a JSON string; `limit`: most bytes (0: any)
    boolean,      // true or false
    count,        // a JSON integer in [0, limit]
    string_list,  // an array of strings; `limit`: most items (0: any)
};

struct FieldSpec {
    std::string_view name;
    FieldType type = FieldType::string;
    bool required = false;         // required strings must not be empty either
    std::uint64_t limit = 0;       // see FieldType
    std::string_view limit_of{};   // what the limit comes from, said with it ("the RNBD device name")
};

struct CommandSpec {
    std::string_view name;
    std::vector<FieldSpec> fields;
};

// nullopt: `request` is an object whose "cmd" names one of `commands` and whose declared fields
// have their types and fit their limits. Otherwise the error response (-EINVAL) saying why.
std::optional<Json> check_request(const Json& request, std::span<const CommandSpec> commands);

// At most `max` bytes of `text` for a message, cut at a UTF-8 character boundary (a cut inside a
// character would make the answer invalid JSON), with "..." when cut.
std::string excerpt(std::string_view text, std::size_t max = 64);

}  // namespace ibnbd::daemon
