#include "core/wire/name_field.hpp"

#include <algorithm>
#include <cassert>

#include "core/wire/endian.hpp"

namespace ibnbd::wire {

Status<Error> store_name(std::span<std::byte> out, std::size_t off, std::size_t field_size,
                         std::string_view name) {
    assert(off <= out.size() && out.size() - off >= field_size);
    if (name.size() >= field_size) return unexpected(Error::name_too_long);
    if (name.find('\0') != std::string_view::npos) return unexpected(Error::bad_value);
    for (std::size_t i = 0; i < name.size(); ++i)
        store_u8(out, off + i, static_cast<std::uint8_t>(name[i]));
    store_zero(out, off + name.size(), field_size - name.size());
    return {};
}

Result<std::string> load_name(std::span<const std::byte> in, std::size_t off,
                              std::size_t field_size) {
    assert(off <= in.size() && in.size() - off >= field_size);
    const auto field = in.subspan(off, field_size);
    const auto nul = std::find(field.begin(), field.end(), std::byte{0});
    if (nul == field.end()) return unexpected(Error::unterminated);
    std::string name;
    name.reserve(static_cast<std::size_t>(nul - field.begin()));
    for (auto it = field.begin(); it != nul; ++it)
        name.push_back(static_cast<char>(std::to_integer<unsigned char>(*it)));
    return name;
}

}  // namespace ibnbd::wire
