// fuzz_check.hpp - the property checks of the fuzz targets. A failed check aborts, which
// libFuzzer reports as a crash with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <span>
#include <cstddef>

#define FUZZ_CHECK(condition)                                                                   \
    do {                                                                                        \
        if (!(condition)) {                                                                     \
            std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                       \
        }                                                                                       \
    } while (0)

namespace ibnbd::fuzz {

// decode(encode(decode(input))) == decode(input) whenever the input decodes and the result
// encodes: the decoder reads nothing the encoder cannot write back.
template <class Decode, class Encode, class Bytes>
void check_round_trip(const Decode& decode, const Encode& encode, const Bytes& input, std::span<std::byte> scratch) {
    const auto decoded = decode(input);
    if (!decoded) return;
    const auto written = encode(*decoded, scratch);
    if (!written) return;
    const auto again = decode(std::span<const std::byte>(scratch.data(), *written));
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == *decoded);
}

}  // namespace ibnbd::fuzz
