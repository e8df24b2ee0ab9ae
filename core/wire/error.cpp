#include "core/wire/error.hpp"

namespace ibnbd::wire {

std::string_view to_string(Error error) {
    switch (error) {
        case Error::too_short: return "input too short";
        case Error::buffer_too_small: return "output buffer too small";
        case Error::bad_magic: return "bad magic";
        case Error::bad_version: return "unsupported protocol version";
        case Error::bad_type: return "unexpected message type";
        case Error::bad_value: return "invalid field value";
        case Error::out_of_range: return "value out of range";
        case Error::unterminated: return "name not NUL-terminated";
        case Error::name_too_long: return "name too long";
    }
    return "unknown wire error";
}

}  // namespace ibnbd::wire
