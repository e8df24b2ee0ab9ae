// RNBD message codecs. Offsets are those of docs/protocol.md §3.2-§3.7.
#include "core/wire/rnbd.hpp"

#include "core/wire/endian.hpp"
#include "core/wire/name_field.hpp"

namespace ibnbd::wire {

namespace {

constexpr std::size_t kSessInfoVerOffset = 4;
constexpr std::size_t kAccessModeOffset = 4;
constexpr std::size_t kDevNameOffset = 6;
constexpr std::uint8_t kMaxAccessMode = static_cast<std::uint8_t>(AccessMode::migration);
constexpr std::uint8_t kMaxOp = static_cast<std::uint8_t>(RnbdOp::write_zeroes);

// Checks the size, zeroes the message (reserved bytes and padding go out as zero) and writes the
// header.
Status<Error> begin_message(std::span<std::byte> out, std::size_t size, RnbdMsgType type) {
    if (out.size() < size) return unexpected(Error::buffer_too_small);
    store_zero(out, 0, size);
    store_le16(out, 0, static_cast<std::uint16_t>(type));
    return {};
}

Status<Error> check_message(std::span<const std::byte> in, std::size_t size, RnbdMsgType type) {
    if (in.size() < size) return unexpected(Error::too_short);
    if (load_le16(in, 0) != static_cast<std::uint16_t>(type)) return unexpected(Error::bad_type);
    return {};
}

EncodeResult encode_sess_info_as(RnbdMsgType type, const RnbdSessInfo& msg,
                                 std::span<std::byte> out) {
    if (auto ok = begin_message(out, kRnbdSessInfoSize, type); !ok) return unexpected(ok.error());
    store_u8(out, kSessInfoVerOffset, msg.ver);
    return kRnbdSessInfoSize;
}

Result<RnbdSessInfo> decode_sess_info_as(RnbdMsgType type, std::span<const std::byte> in) {
    if (auto ok = check_message(in, kRnbdSessInfoSize, type); !ok) return unexpected(ok.error());
    return RnbdSessInfo{load_u8(in, kSessInfoVerOffset)};
}

}  // namespace

Result<RnbdMsgType> decode_rnbd_type(std::span<const std::byte> in) {
    if (in.size() < kRnbdHdrSize) return unexpected(Error::too_short);
    const std::uint16_t type = load_le16(in, 0);
    if (type > static_cast<std::uint16_t>(RnbdMsgType::close)) return unexpected(Error::bad_type);
    return static_cast<RnbdMsgType>(type);
}

EncodeResult encode_rnbd_sess_info(const RnbdSessInfo& msg, std::span<std::byte> out) {
    return encode_sess_info_as(RnbdMsgType::sess_info, msg, out);
}

Result<RnbdSessInfo> decode_rnbd_sess_info(std::span<const std::byte> in) {
    return decode_sess_info_as(RnbdMsgType::sess_info, in);
}

EncodeResult encode_rnbd_sess_info_rsp(const RnbdSessInfo& msg, std::span<std::byte> out) {
    return encode_sess_info_as(RnbdMsgType::sess_info_rsp, msg, out);
}

Result<RnbdSessInfo> decode_rnbd_sess_info_rsp(std::span<const std::byte> in) {
    return decode_sess_info_as(RnbdMsgType::sess_info_rsp, in);
}

EncodeResult encode_rnbd_open(const RnbdOpen& msg, std::span<std::byte> out) {
    const auto mode = static_cast<std::uint8_t>(msg.access_mode);
    if (mode > kMaxAccessMode) return unexpected(Error::out_of_range);
    if (auto ok = begin_message(out, kRnbdOpenSize, RnbdMsgType::open); !ok)
        return unexpected(ok.error());
    store_u8(out, kAccessModeOffset, mode);
    if (auto ok = store_name(out, kDevNameOffset, kDevNameFieldSize, msg.dev_name); !ok)
        return unexpected(ok.error());
    return kRnbdOpenSize;
}

Result<RnbdOpen> decode_rnbd_open(std::span<const std::byte> in) {
    if (auto ok = check_message(in, kRnbdOpenSize, RnbdMsgType::open); !ok)
        return unexpected(ok.error());
    const std::uint8_t mode = load_u8(in, kAccessModeOffset);
    if (mode > kMaxAccessMode) return unexpected(Error::out_of_range);
    auto name = load_name(in, kDevNameOffset, kDevNameFieldSize);
    if (!name) return unexpected(name.error());
    return RnbdOpen{static_cast<AccessMode>(mode), std::move(name).value()};
}

EncodeResult encode_rnbd_open_rsp(const RnbdOpenRsp& msg, std::span<std::byte> out) {
    if (auto ok = begin_message(out, kRnbdOpenRspSize, RnbdMsgType::open_rsp); !ok)
        return unexpected(ok.error());
    store_le32(out, 4, msg.device_id);
    store_le64(out, 8, msg.nsectors);
    store_le32(out, 16, msg.max_hw_sectors);
    store_le32(out, 20, msg.max_write_zeroes_sectors);
    store_le32(out, 24, msg.max_discard_sectors);
    store_le32(out, 28, msg.discard_granularity);
    store_le32(out, 32, msg.discard_alignment);
    store_le16(out, 36, msg.physical_block_size);
    store_le16(out, 38, msg.logical_block_size);
    store_le16(out, 40, msg.max_segments);
    store_le16(out, 42, msg.secure_discard);
    store_u8(out, 44, msg.obsolete_rotational);
    store_u8(out, 45, msg.cache_policy);
    return kRnbdOpenRspSize;
}

Result<RnbdOpenRsp> decode_rnbd_open_rsp(std::span<const std::byte> in) {
    if (auto ok = check_message(in, kRnbdOpenRspSize, RnbdMsgType::open_rsp); !ok)
        return unexpected(ok.error());
    RnbdOpenRsp msg;
    msg.device_id = load_le32(in, 4);
    msg.nsectors = load_le64(in, 8);
    msg.max_hw_sectors = load_le32(in, 16);
    msg.max_write_zeroes_sectors = load_le32(in, 20);
    msg.max_discard_sectors = load_le32(in, 24);
    msg.discard_granularity = load_le32(in, 28);
    msg.discard_alignment = load_le32(in, 32);
    msg.physical_block_size = load_le16(in, 36);
    msg.logical_block_size = load_le16(in, 38);
    msg.max_segments = load_le16(in, 40);
    msg.secure_discard = load_le16(in, 42);
    msg.obsolete_rotational = load_u8(in, 44);
    msg.cache_policy = load_u8(in, 45);
    return msg;
}

EncodeResult encode_rnbd_close(const RnbdClose& msg, std::span<std::byte> out) {
    if (auto ok = begin_message(out, kRnbdCloseSize, RnbdMsgType::close); !ok)
        return unexpected(ok.error());
    store_le32(out, 4, msg.device_id);
    return kRnbdCloseSize;
}

Result<RnbdClose> decode_rnbd_close(std::span<const std::byte> in) {
    if (auto ok = check_message(in, kRnbdCloseSize, RnbdMsgType::close); !ok)
        return unexpected(ok.error());
    return RnbdClose{load_le32(in, 4)};
}

Result<RnbdOp> rnbd_checked_op(std::uint32_t rw) {
    const std::uint8_t op = rnbd_rw_op(rw);
    if (op > kMaxOp) return unexpected(Error::bad_value);
    return static_cast<RnbdOp>(op);
}

EncodeResult encode_rnbd_io(const RnbdIo& msg, std::span<std::byte> out) {
    if (auto ok = begin_message(out, kRnbdIoSize, RnbdMsgType::io); !ok)
        return unexpected(ok.error());
    store_le32(out, 4, msg.device_id);
    store_le64(out, 8, msg.sector);
    store_le32(out, 16, msg.rw);
    store_le32(out, 20, msg.bi_size);
    store_le16(out, 24, msg.prio);
    return kRnbdIoSize;
}

Result<RnbdIo> decode_rnbd_io(std::span<const std::byte> in) {
    if (auto ok = check_message(in, kRnbdIoMinSize, RnbdMsgType::io); !ok)
        return unexpected(ok.error());
    RnbdIo msg;
    msg.device_id = load_le32(in, 4);
    msg.sector = load_le64(in, 8);
    msg.rw = load_le32(in, 16);
    msg.bi_size = load_le32(in, 20);
    msg.prio = in.size() >= kRnbdIoSize ? load_le16(in, 24) : 0;
    return msg;
}

}  // namespace ibnbd::wire
