// The control-socket request parser of both daemons (control_server.hpp, request_check.hpp) on
// arbitrary lines: each line is parsed as the control server parses it and checked against the
// client's and the server's command tables. Properties: nothing throws; a refused request gets a
// well-formed error answer that serialises; an accepted one lets a handler read every declared
// field with its declared type (what handlers rely on to never throw json::type_error).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "ibnbd/daemon/client_router.hpp"
#include "ibnbd/daemon/request_check.hpp"
#include "ibnbd/daemon/server_control.hpp"

using namespace ibnbd::daemon;

namespace {

void read_declared_fields(const Json& request, std::span<const CommandSpec> commands) {
    const std::string cmd = request.at("cmd").get<std::string>();
    for (const CommandSpec& command : commands) {
        if (command.name != cmd) continue;
        for (const FieldSpec& field : command.fields) {
            const std::string name(field.name);
            switch (field.type) {
                case FieldType::string: (void)request.value(name, std::string()); break;
                case FieldType::boolean: (void)request.value(name, false); break;
                case FieldType::count: FUZZ_CHECK(request.value(name, std::uint64_t{0}) <= field.limit); break;
                case FieldType::string_list: (void)request.value(name, std::vector<std::string>()); break;
            }
        }
        return;
    }
    FUZZ_CHECK(!"an accepted request names a declared command");
}

void check_line(std::string_view line, std::span<const CommandSpec> commands) {
    const Json request = Json::parse(line, nullptr, false);
    if (request.is_discarded()) return;  // the control server answers that itself
    if (const auto refused = check_request(request, commands)) {
        FUZZ_CHECK(refused->is_object() && refused->value("ok", true) == false);
        FUZZ_CHECK(refused->value("errno", 0) != 0 && !refused->value("error", std::string()).empty());
        (void)refused->dump(-1, ' ', false, Json::error_handler_t::replace);
        return;
    }
    read_declared_fields(request, commands);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    while (!input.empty()) {
        const std::size_t end = input.find('\n');
        const std::string_view line = input.substr(0, end);
        check_line(line, client_commands());
        check_line(line, server_commands());
        if (end == std::string_view::npos) break;
        input.remove_prefix(end + 1);
    }
    return 0;
}
