// name_field.hpp - fixed-size, NUL-padded name fields (RTRS info_req pathname, RNBD open dev_name).
//
// A field of N bytes holds a name of at most N-1 bytes followed by NUL padding up to N. Names may
// not contain NUL themselves (the peer would see a shorter name).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "core/wire/error.hpp"

namespace ibnbd::wire {

// Writes `name` NUL-padded into out[off, off+field_size). Errors: name_too_long when
// name.size() >= field_size, bad_value when name contains a NUL byte. Writes nothing on error.
Status<Error> store_name(std::span<std::byte> out, std::size_t off, std::size_t field_size,
                         std::string_view name);

// Reads the name in in[off, off+field_size) up to its first NUL. Errors: unterminated when the
// field holds no NUL. The caller has checked that the field lies inside `in`.
Result<std::string> load_name(std::span<const std::byte> in, std::size_t off,
                              std::size_t field_size);

}  // namespace ibnbd::wire
