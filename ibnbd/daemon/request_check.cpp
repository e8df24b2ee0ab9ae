#include "ibnbd/daemon/request_check.hpp"

#include <cerrno>

namespace ibnbd::daemon {

namespace {

// What a value is, for "must be X, not Y".
std::string describe(const Json& value) {
    if (value.is_number()) return value.dump();  // numbers print safely, and say what was wrong
    if (value.is_string()) return "a string";
    if (value.is_boolean()) return "a boolean";
    if (value.is_array()) return "a list";
    if (value.is_object()) return "an object";
    return "null";
}

std::string quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

std::string expected_of(const FieldSpec& field) {
    switch (field.type) {
        case FieldType::string: return "a string";
        case FieldType::boolean: return "true or false";
        case FieldType::count: return "an integer from 0 to " + std::to_string(field.limit);
        case FieldType::string_list: return "a list of strings";
    }
    return "?";
}

std::string limit_text(const FieldSpec& field) {
    std::string text = "at most " + std::to_string(field.limit);
    if (!field.limit_of.empty()) text += " (" + std::string(field.limit_of) + ")";
    return text;
}

std::optional<std::string> check_string(const FieldSpec& field, const Json& value) {
    const auto& text = value.get_ref<const std::string&>();
    if (field.required && text.empty()) return quoted(field.name) + " must not be empty";
    if (field.limit != 0 && text.size() > field.limit) {
        return quoted(field.name) + " is " + std::to_string(text.size()) + " bytes long; " + limit_text(field);
    }
    return std::nullopt;
}

std::optional<std::string> check_list(const FieldSpec& field, const Json& value) {
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) {
            return quoted(field.name) + " must be a list of strings; item " + std::to_string(i) + " is " +
                   describe(value[i]);
        }
    }
    if (field.limit != 0 && value.size() > field.limit) {
        return quoted(field.name) + " has " + std::to_string(value.size()) + " items; " + limit_text(field);
    }
    return std::nullopt;
}

// The problem with one present field, if any.
std::optional<std::string> check_field(const FieldSpec& field, const Json& value) {
    const std::string wrong = quoted(field.name) + " must be " + expected_of(field) + ", not " + describe(value);
    switch (field.type) {
        case FieldType::string:
            if (!value.is_string()) return wrong;
            return check_string(field, value);
        case FieldType::boolean:
            if (!value.is_boolean()) return wrong;
            return std::nullopt;
        case FieldType::count:
            // JSON integers that fit in 64 bits parse as unsigned when not negative; anything
            // else (negative, fractional, 1e300, 2^64) is some other number type.
            if (!value.is_number_unsigned() || value.get<std::uint64_t>() > field.limit) return wrong;
            return std::nullopt;
        case FieldType::string_list:
            if (!value.is_array()) return wrong;
            return check_list(field, value);
    }
    return wrong;
}

std::string command_names(std::span<const CommandSpec> commands) {
    std::string names;
    for (const CommandSpec& command : commands) names += (names.empty() ? "" : ", ") + std::string(command.name);
    return names;
}

}  // namespace

std::string excerpt(std::string_view text, std::size_t max) {
    if (text.size() <= max) return std::string(text);
    std::size_t cut = max;
    // Back up over continuation bytes (10xxxxxx) to the start of the character cut into.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(text.substr(0, cut)) + "...";
}

std::optional<Json> check_request(const Json& request, std::span<const CommandSpec> commands) {
    const auto refuse = [](const std::string& message) { return error_response(-EINVAL, message); };
    if (!request.is_object() || !request.contains("cmd")) {
        return refuse("the request is not a JSON object with a 'cmd' (e.g. {\"cmd\": \"list\"})");
    }
    const Json& cmd = request["cmd"];
    if (!cmd.is_string()) return refuse("'cmd' must be a string (a command name), not " + describe(cmd));
    const auto& name = cmd.get_ref<const std::string&>();
    const CommandSpec* command = nullptr;
    for (const CommandSpec& known : commands) {
        if (known.name == name) command = &known;
    }
    if (command == nullptr) {
        return refuse("unknown command '" + excerpt(name) + "' (commands: " + command_names(commands) + ")");
    }
    for (const FieldSpec& field : command->fields) {
        const auto found = request.find(field.name);
        if (found == request.end()) {
            if (!field.required) continue;
            return refuse(quoted(command->name) + " needs " + quoted(field.name) + " (" + expected_of(field) + ")");
        }
        if (auto problem = check_field(field, *found)) return refuse(*problem);
    }
    return std::nullopt;
}

}  // namespace ibnbd::daemon
