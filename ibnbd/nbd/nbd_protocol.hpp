// The NBD protocol constants this export speaks (the "newstyle fixed" handshake, simple replies)
// and big-endian helpers. Everything on the NBD wire is big-endian.
#pragma once

#include <cstdint>
#include <span>

namespace ibnbd::nbd {

inline constexpr std::uint64_t kNbdMagic = 0x4e42444d41474943ULL;     // "NBDMAGIC"
inline constexpr std::uint64_t kOptsMagic = 0x49484156454f5054ULL;    // "IHAVEOPT"
inline constexpr std::uint64_t kReplyMagic = 0x0003e889045565a9ULL;   // option replies
inline constexpr std::uint32_t kRequestMagic = 0x25609513;
inline constexpr std::uint32_t kSimpleReplyMagic = 0x67446698;

// Handshake flags (server) and client flags.
inline constexpr std::uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr std::uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr std::uint32_t kClientFixedNewstyle = 1 << 0;
inline constexpr std::uint32_t kClientNoZeroes = 1 << 1;

enum Option : std::uint32_t {
    opt_export_name = 1,
    opt_abort = 2,
    opt_list = 3,
    opt_starttls = 5,
    opt_info = 6,
    opt_go = 7,
    opt_structured_reply = 8,
    opt_list_meta_context = 9,
    opt_set_meta_context = 10,
};

enum Reply : std::uint32_t {
    rep_ack = 1,
    rep_server = 2,
    rep_info = 3,
    rep_err_unsup = 0x80000001,
    rep_err_policy = 0x80000002,
    rep_err_invalid = 0x80000003,
    rep_err_unknown = 0x80000006,
    rep_err_too_big = 0x8000000a,
};

enum Info : std::uint16_t { info_export = 0, info_name = 1, info_description = 2, info_block_size = 3 };

// Transmission flags.
inline constexpr std::uint16_t kHasFlags = 1 << 0;
inline constexpr std::uint16_t kReadOnly = 1 << 1;
inline constexpr std::uint16_t kSendFlush = 1 << 2;
inline constexpr std::uint16_t kSendFua = 1 << 3;
inline constexpr std::uint16_t kSendTrim = 1 << 5;
inline constexpr std::uint16_t kSendWriteZeroes = 1 << 6;
inline constexpr std::uint16_t kCanMultiConn = 1 << 8;

enum Command : std::uint16_t {
    cmd_read = 0,
    cmd_write = 1,
    cmd_disc = 2,
    cmd_flush = 3,
    cmd_trim = 4,
    cmd_cache = 5,
    cmd_write_zeroes = 6,
};

inline constexpr std::uint16_t kCmdFlagFua = 1 << 0;
inline constexpr std::uint16_t kCmdFlagNoHole = 1 << 1;

// NBD error values (the protocol's own numbering).
inline constexpr std::uint32_t kEperm = 1, kEio = 5, kEnomem = 12, kEinval = 22, kEnospc = 28,
                               kEoverflow = 75, kEnotsup = 95, kEshutdown = 108;

// Maps a negative errno to the closest NBD error.
std::uint32_t to_nbd_error(int status);

inline std::uint16_t load_be16(const std::byte* p) {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) << 8 | std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t load_be32(const std::byte* p) {
    return std::uint32_t{load_be16(p)} << 16 | load_be16(p + 2);
}
inline std::uint64_t load_be64(const std::byte* p) { return std::uint64_t{load_be32(p)} << 32 | load_be32(p + 4); }
inline void store_be16(std::byte* p, std::uint16_t v) {
    p[0] = static_cast<std::byte>(v >> 8);
    p[1] = static_cast<std::byte>(v);
}
inline void store_be32(std::byte* p, std::uint32_t v) {
    store_be16(p, static_cast<std::uint16_t>(v >> 16));
    store_be16(p + 2, static_cast<std::uint16_t>(v));
}
inline void store_be64(std::byte* p, std::uint64_t v) {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

}  // namespace ibnbd::nbd
