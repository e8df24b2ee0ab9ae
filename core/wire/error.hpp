// error.hpp - the error values of the wire codecs.
//
// Every decoder in core/wire returns Expected<T, wire::Error> and every encoder returns the number
// of bytes written or a wire::Error. Decoders never assert and never read past their input: any
// byte string yields a value or one of these errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fabric/expected.hpp"

namespace ibnbd::wire {

enum class Error : std::uint8_t {
    too_short = 1,     // decode: input shorter than the message (or than its declared length)
    buffer_too_small,  // encode: the caller's output span cannot hold the message
    bad_magic,         // RTRS magic is not kRtrsMagic
    bad_version,       // RTRS major version is not 2
    bad_type,          // the 16-bit message type does not name the message being decoded
    bad_value,         // a field holds a value the protocol forbids (zero length, ...)
    out_of_range,      // a number does not fit its wire field or exceeds a protocol limit
    unterminated,      // decode: a name field has no NUL inside its fixed-size field
    name_too_long,     // encode: a name longer than its field allows (kMaxPathnameLen, ...)
};

std::string_view to_string(Error error);

template <class T>
using Result = Expected<T, Error>;

// Encoders return the number of bytes written into the caller's span.
using EncodeResult = Expected<std::size_t, Error>;

}  // namespace ibnbd::wire
