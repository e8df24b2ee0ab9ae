// rnbd.hpp - RNBD 2.2 block protocol messages (docs/protocol.md §3.2-§3.7).
//
// Every RNBD message is the user message of one RTRS request; every one starts with the 4-byte
// header {le16 type, le16 padding}. Conventions as in rtrs.hpp: little-endian, reserved bytes
// written as zero and ignored when read; encode_*(msg, out) returns the bytes written or
// buffer_too_small / out_of_range / name_too_long / bad_value; decode_*(in) reads the message at
// the start of `in`, ignores trailing bytes and fails with too_short or bad_type plus what each
// function lists. Decoders do not apply server policy (device ids, access rules, op support).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/wire/error.hpp"

namespace ibnbd::wire {

inline constexpr std::uint8_t kRnbdVersionMajor = 2;
inline constexpr std::uint8_t kRnbdVersionMinor = 2;
inline constexpr std::uint16_t kRnbdDefaultPort = 1234;  // RTRS_PORT of rnbd-proto.h

inline constexpr std::size_t kRnbdHdrSize = 4;
inline constexpr std::size_t kRnbdSessInfoSize = 36;
inline constexpr std::size_t kRnbdSessInfoRspSize = 36;
inline constexpr std::size_t kRnbdOpenSize = 264;
inline constexpr std::size_t kRnbdOpenRspSize = 56;
inline constexpr std::size_t kRnbdCloseSize = 8;
inline constexpr std::size_t kRnbdIoSize = 32;        // as sent, with tail padding
inline constexpr std::size_t kRnbdIoMinSize = 24;     // IBNBD 1.0 layout, without prio
inline constexpr std::size_t kDevNameFieldSize = 255;  // NAME_MAX
inline constexpr std::size_t kMaxDevNameLen = kDevNameFieldSize - 1;

enum class RnbdMsgType : std::uint16_t {
    sess_info = 0,
    sess_info_rsp = 1,
    open = 2,
    open_rsp = 3,
    io = 4,
    close = 5,
};

// The header's type. Errors: too_short; bad_type when the value names no RNBD message (the
// server answers those with -EINVAL).
Result<RnbdMsgType> decode_rnbd_type(std::span<const std::byte> in);

// ---- SESS_INFO / SESS_INFO_RSP (§3.3) --------------------------------------------------------

// ver: the sender's protocol major version (we send kRnbdVersionMajor); any value decodes.
struct RnbdSessInfo {
    std::uint8_t ver = kRnbdVersionMajor;
    bool operator==(const RnbdSessInfo&) const = default;
};

EncodeResult encode_rnbd_sess_info(const RnbdSessInfo& msg, std::span<std::byte> out);
Result<RnbdSessInfo> decode_rnbd_sess_info(std::span<const std::byte> in);
EncodeResult encode_rnbd_sess_info_rsp(const RnbdSessInfo& msg, std::span<std::byte> out);
Result<RnbdSessInfo> decode_rnbd_sess_info_rsp(std::span<const std::byte> in);

// ---- OPEN / OPEN_RSP (§3.4, §3.5) ------------------------------------------------------------

enum class AccessMode : std::uint8_t {
    ro = 0,
    rw = 1,
    migration = 2,
};

// dev_name: path relative to the server's dev_search_path, at most kMaxDevNameLen bytes, no NUL.
struct RnbdOpen {
    AccessMode access_mode = AccessMode::ro;
    std::string dev_name;
    bool operator==(const RnbdOpen&) const = default;
};

// Errors: out_of_range (access_mode > 2), name_too_long, bad_value (dev_name holds a NUL).
EncodeResult encode_rnbd_open(const RnbdOpen& msg, std::span<std::byte> out);
// Errors: too_short, bad_type, out_of_range (access_mode > 2), unterminated (no NUL in the
// 255-byte dev_name field).
Result<RnbdOpen> decode_rnbd_open(std::span<const std::byte> in);

inline constexpr std::uint8_t kRnbdCacheFua = 1u << 0;        // cache_policy bit 0
inline constexpr std::uint8_t kRnbdCacheWriteback = 1u << 1;  // cache_policy bit 1

// The device's attributes. The codec accepts any values; the client must refuse
// logical_block_size == 0 (as the kernel does).
struct RnbdOpenRsp {
    std::uint32_t device_id = 0;
    std::uint64_t nsectors = 0;  // 512-byte sectors
    std::uint32_t max_hw_sectors = 0;
    std::uint32_t max_write_zeroes_sectors = 0;
    std::uint32_t max_discard_sectors = 0;
    std::uint32_t discard_granularity = 0;  // bytes
    std::uint32_t discard_alignment = 0;    // bytes
    std::uint16_t physical_block_size = 0;
    std::uint16_t logical_block_size = 0;
    std::uint16_t max_segments = 0;
    std::uint16_t secure_discard = 0;      // boolean
    std::uint8_t obsolete_rotational = 0;  // unused by current peers
    std::uint8_t cache_policy = 0;         // kRnbdCacheFua | kRnbdCacheWriteback
    bool operator==(const RnbdOpenRsp&) const = default;
};

EncodeResult encode_rnbd_open_rsp(const RnbdOpenRsp& msg, std::span<std::byte> out);
Result<RnbdOpenRsp> decode_rnbd_open_rsp(std::span<const std::byte> in);

// ---- CLOSE (§3.7) ----------------------------------------------------------------------------

struct RnbdClose {
    std::uint32_t device_id = 0;
    bool operator==(const RnbdClose&) const = default;
};

EncodeResult encode_rnbd_close(const RnbdClose& msg, std::span<std::byte> out);
Result<RnbdClose> decode_rnbd_close(std::span<const std::byte> in);

// ---- IO (§3.6) -------------------------------------------------------------------------------

enum class RnbdOp : std::uint8_t {
    read = 0,
    write = 1,
    flush = 2,
    discard = 3,
    secure_erase = 4,
    write_zeroes = 5,
};

inline constexpr unsigned kRnbdOpBits = 8;
inline constexpr std::uint32_t kRnbdOpMask = (1u << kRnbdOpBits) - 1;
inline constexpr std::uint32_t kRnbdFlagSync = 1u << 8;
inline constexpr std::uint32_t kRnbdFlagFua = 1u << 9;
inline constexpr std::uint32_t kRnbdFlagPreflush = 1u << 10;  // RNBD 2.1
inline constexpr std::uint32_t kRnbdFlagNoUnmap = 1u << 11;   // RNBD 2.2, WRITE_ZEROES only
inline constexpr std::uint32_t kRnbdKnownFlags =
    kRnbdFlagSync | kRnbdFlagFua | kRnbdFlagPreflush | kRnbdFlagNoUnmap;

// rw = op | flags. Flag bits inside the op byte are dropped.
constexpr std::uint32_t rnbd_rw(RnbdOp op, std::uint32_t flags) {
    return static_cast<std::uint32_t>(op) | (flags & ~kRnbdOpMask);
}
constexpr std::uint8_t rnbd_rw_op(std::uint32_t rw) {
    return static_cast<std::uint8_t>(rw & kRnbdOpMask);
}
constexpr std::uint32_t rnbd_rw_flags(std::uint32_t rw) { return rw & ~kRnbdOpMask; }
constexpr bool rnbd_has_unknown_flags(std::uint32_t rw) {
    return (rnbd_rw_flags(rw) & ~kRnbdKnownFlags) != 0;
}

// The op of an rw field. Errors: bad_value when the op byte is >= 6. Unknown flag bits are not an
// error (current peers ignore them); see rnbd_has_unknown_flags().
Result<RnbdOp> rnbd_checked_op(std::uint32_t rw);

struct RnbdIo {
    std::uint32_t device_id = 0;
    std::uint64_t sector = 0;  // 512-byte units
    std::uint32_t rw = 0;      // rnbd_rw(op, flags)
    std::uint32_t bi_size = 0;  // request length in bytes
    std::uint16_t prio = 0;
    bool operator==(const RnbdIo&) const = default;
};

// Writes kRnbdIoSize bytes (prio and the zeroed tail padding included).
EncodeResult encode_rnbd_io(const RnbdIo& msg, std::span<std::byte> out);
// Accepts kRnbdIoMinSize bytes or more; prio is read only when at least kRnbdIoSize bytes are
// given (as the kernel server does) and is 0 otherwise. rw is not checked: see rnbd_checked_op().
Result<RnbdIo> decode_rnbd_io(std::span<const std::byte> in);

}  // namespace ibnbd::wire
