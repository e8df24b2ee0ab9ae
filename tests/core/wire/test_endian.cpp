#define BOOST_TEST_MODULE core_wire
#include <boost/test/unit_test.hpp>

#include <string>

#include "bytes.hpp"
#include "core/wire/endian.hpp"
#include "core/wire/error.hpp"

using namespace ibnbd::wire;
using namespace ibnbd::wire::test;

BOOST_AUTO_TEST_SUITE(endian)

BOOST_AUTO_TEST_CASE(little_endian_loads_read_lowest_byte_first) {
    const Bytes in = bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09});
    BOOST_TEST(load_u8(in, 8) == 0x09u);
    BOOST_TEST(load_le16(in, 0) == 0x0201u);
    BOOST_TEST(load_le16(in, 7) == 0x0908u);  // unaligned offsets are fine
    BOOST_TEST(load_le32(in, 1) == 0x05040302u);
    BOOST_TEST(load_le64(in, 0) == 0x0807060504030201ull);
    BOOST_TEST(load_le64(in, 1) == 0x0908070605040302ull);
}

BOOST_AUTO_TEST_CASE(big_endian_load_reads_highest_byte_first) {
    const Bytes in = bytes({0xAA, 0x00, 0x28, 0x10, 0x20});
    BOOST_TEST(load_be32(in, 1) == 0x00281020u);
}

BOOST_AUTO_TEST_CASE(stores_write_the_expected_bytes) {
    Bytes out(19, std::byte{0xEE});
    store_le16(out, 0, 0xBEEF);
    store_le32(out, 2, 0x11223344);
    store_le64(out, 6, 0x0102030405060708ull);
    store_be32(out, 14, 0xCAFEBABE);
    store_u8(out, 18, 0x7F);
    const Bytes expected = bytes({0xEF, 0xBE, 0x44, 0x33, 0x22, 0x11, 0x08, 0x07, 0x06, 0x05,
                                  0x04, 0x03, 0x02, 0x01, 0xCA, 0xFE, 0xBA, 0xBE, 0x7F});
    BOOST_TEST(values(out) == values(expected), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(store_zero_clears_only_its_range) {
    Bytes out(6, std::byte{0xEE});
    store_zero(out, 1, 3);
    BOOST_TEST(values(out) == values(bytes({0xEE, 0, 0, 0, 0xEE, 0xEE})),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(loads_invert_stores_for_extreme_values) {
    Bytes buf(8);
    for (std::uint64_t v : {0ull, 1ull, 0x8000000000000000ull, ~0ull, 0x0123456789ABCDEFull}) {
        store_le64(buf, 0, v);
        BOOST_TEST(load_le64(buf, 0) == v);
        store_be32(buf, 0, static_cast<std::uint32_t>(v));
        BOOST_TEST(load_be32(buf, 0) == static_cast<std::uint32_t>(v));
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(error)

BOOST_AUTO_TEST_CASE(every_error_has_a_distinct_description) {
    const Error all[] = {Error::too_short,   Error::buffer_too_small, Error::bad_magic,
                         Error::bad_version, Error::bad_type,         Error::bad_value,
                         Error::out_of_range, Error::unterminated,    Error::name_too_long};
    for (Error a : all) {
        BOOST_TEST(to_string(a) != "unknown wire error");
        for (Error b : all)
            if (a != b) BOOST_TEST(to_string(a) != to_string(b));
    }
    BOOST_TEST(to_string(Error::too_short) == "input too short");
    BOOST_TEST(to_string(static_cast<Error>(200)) == "unknown wire error");
}

BOOST_AUTO_TEST_SUITE_END()
