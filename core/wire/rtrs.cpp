// RTRS message codecs. Offsets are those of docs/protocol.md §1.4-§1.7.
#include "core/wire/rtrs.hpp"

#include <cassert>
#include <limits>

#include "core/wire/endian.hpp"
#include "core/wire/name_field.hpp"

namespace ibnbd::wire {

namespace {

constexpr std::uint8_t kFirstConnBit = 1u << 0;
constexpr std::size_t kConnReqFirstConnOffset = 44;
constexpr std::size_t kPathnameOffset = 2;
constexpr std::size_t kMaxSgCnt = std::numeric_limits<std::uint16_t>::max();

constexpr std::uint16_t type_value(MsgType type) { return static_cast<std::uint16_t>(type); }

// Checks the output size and zeroes it, so that reserved bytes go out as zero.
Status<Error> prepare_output(std::span<std::byte> out, std::size_t size) {
    if (out.size() < size) return unexpected(Error::buffer_too_small);
    store_zero(out, 0, size);
    return {};
}

Status<Error> check_input(std::span<const std::byte> in, std::size_t size, MsgType type) {
    if (in.size() < size) return unexpected(Error::too_short);
    if (load_le16(in, 0) != type_value(type)) return unexpected(Error::bad_type);
    return {};
}

void store_uuid(std::span<std::byte> out, std::size_t off, const Uuid& uuid) {
    for (std::size_t i = 0; i < uuid.size(); ++i) store_u8(out, off + i, uuid[i]);
}

Uuid load_uuid(std::span<const std::byte> in, std::size_t off) {
    Uuid uuid{};
    for (std::size_t i = 0; i < uuid.size(); ++i) uuid[i] = load_u8(in, off + i);
    return uuid;
}

void store_sg_desc(std::span<std::byte> out, std::size_t off, const SgDesc& desc) {
    store_le64(out, off, desc.addr);
    store_le32(out, off + 8, desc.key);
    store_le32(out, off + 12, desc.len);
}

SgDesc load_sg_desc(std::span<const std::byte> in, std::size_t off) {
    return SgDesc{load_le64(in, off), load_le32(in, off + 8), load_le32(in, off + 12)};
}

void store_sg_descs(std::span<std::byte> out, std::size_t off, std::span<const SgDesc> descs) {
    for (const SgDesc& desc : descs) {
        store_sg_desc(out, off, desc);
        off += kSgDescSize;
    }
}

bool major_version_ok(std::uint16_t version) { return version >> 8 == kRtrsVersionMajor; }

}  // namespace

// ---- CM private data -------------------------------------------------------------------------

EncodeResult encode_conn_req(const ConnReq& req, std::span<std::byte> out) {
    if (auto ok = prepare_output(out, kConnReqSize); !ok) return unexpected(ok.error());
    // Bytes 0 and 1 (__cma_version, __ip_version) stay zero: RDMA-CM owns them.
    store_le16(out, 2, req.magic);
    store_le16(out, 4, req.version);
    store_le16(out, 6, req.cid);
    store_le16(out, 8, req.cid_num);
    store_le16(out, 10, req.recon_cnt);
    store_uuid(out, 12, req.sess_uuid);
    store_uuid(out, 28, req.paths_uuid);
    store_u8(out, kConnReqFirstConnOffset, req.first_conn ? kFirstConnBit : 0);
    return kConnReqSize;
}

Result<ConnReq> decode_conn_req(std::span<const std::byte> in) {
    if (in.size() < kConnReqSize) return unexpected(Error::too_short);
    ConnReq req;
    req.magic = load_le16(in, 2);
    req.version = load_le16(in, 4);
    req.cid = load_le16(in, 6);
    req.cid_num = load_le16(in, 8);
    req.recon_cnt = load_le16(in, 10);
    req.sess_uuid = load_uuid(in, 12);
    req.paths_uuid = load_uuid(in, 28);
    req.first_conn = (load_u8(in, kConnReqFirstConnOffset) & kFirstConnBit) != 0;
    return req;
}

Status<Error> check_conn_req(const ConnReq& req) {
    if (req.magic != kRtrsMagic) return unexpected(Error::bad_magic);
    if (!major_version_ok(req.version)) return unexpected(Error::bad_version);
    if (req.cid_num == 0 || req.cid_num > kMaxCidNum) return unexpected(Error::out_of_range);
    if (req.cid >= req.cid_num) return unexpected(Error::out_of_range);
    return {};
}

EncodeResult encode_conn_rsp(const ConnRsp& rsp, std::span<std::byte> out) {
    if (auto ok = prepare_output(out, kConnRspSize); !ok) return unexpected(ok.error());
    store_le16(out, 0, rsp.magic);
    store_le16(out, 2, rsp.version);
    store_le16(out, 4, static_cast<std::uint16_t>(rsp.status));
    store_le16(out, 6, rsp.queue_depth);
    store_le32(out, 8, rsp.max_io_size);
    store_le32(out, 12, rsp.max_hdr_size);
    store_le32(out, 16, rsp.flags);
    return kConnRspSize;
}

Result<ConnRsp> decode_conn_rsp(std::span<const std::byte> in) {
    if (in.size() < kConnRspSize) return unexpected(Error::too_short);
    ConnRsp rsp;
    rsp.magic = load_le16(in, 0);
    rsp.version = load_le16(in, 2);
    rsp.status = static_cast<std::int16_t>(load_le16(in, 4));
    rsp.queue_depth = load_le16(in, 6);
    rsp.max_io_size = load_le32(in, 8);
    rsp.max_hdr_size = load_le32(in, 12);
    rsp.flags = load_le32(in, 16);
    return rsp;
}

Status<Error> check_conn_rsp(const ConnRsp& rsp) {
    if (rsp.magic != kRtrsMagic) return unexpected(Error::bad_magic);
    if (!major_version_ok(rsp.version)) return unexpected(Error::bad_version);
    return {};
}

// ---- INFO exchange ---------------------------------------------------------------------------

EncodeResult encode_info_req(const InfoReq& req, std::span<std::byte> out) {
    if (auto ok = prepare_output(out, kInfoReqSize); !ok) return unexpected(ok.error());
    store_le16(out, 0, type_value(MsgType::info_req));
    if (auto ok = store_name(out, kPathnameOffset, kPathnameFieldSize, req.pathname); !ok)
        return unexpected(ok.error());
    return kInfoReqSize;
}

Result<InfoReq> decode_info_req(std::span<const std::byte> in) {
    if (auto ok = check_input(in, kInfoReqSize, MsgType::info_req); !ok)
        return unexpected(ok.error());
    auto name = load_name(in, kPathnameOffset, kPathnameFieldSize);
    if (!name) return unexpected(name.error());
    return InfoReq{std::move(name).value()};
}

EncodeResult encode_info_rsp(std::span<const SgDesc> descs, std::span<std::byte> out) {
    if (descs.size() > kMaxSgCnt) return unexpected(Error::out_of_range);
    const std::size_t size = info_rsp_size(descs.size());
    if (auto ok = prepare_output(out, size); !ok) return unexpected(ok.error());
    store_le16(out, 0, type_value(MsgType::info_rsp));
    store_le16(out, 2, static_cast<std::uint16_t>(descs.size()));
    store_sg_descs(out, kInfoRspHdrSize, descs);
    return size;
}

Status<Error> decode_info_rsp(std::span<const std::byte> in, std::vector<SgDesc>& descs) {
    descs.clear();
    if (auto ok = check_input(in, kInfoRspHdrSize, MsgType::info_rsp); !ok) return ok;
    const std::uint16_t sg_cnt = load_le16(in, 2);
    if (in.size() < info_rsp_size(sg_cnt)) return unexpected(Error::too_short);
    descs.reserve(sg_cnt);
    for (std::size_t i = 0; i < sg_cnt; ++i)
        descs.push_back(load_sg_desc(in, kInfoRspHdrSize + i * kSgDescSize));
    return {};
}

// ---- IO path ---------------------------------------------------------------------------------

Result<std::uint16_t> peek_type(std::span<const std::byte> in, std::size_t offset) {
    if (offset > in.size() || in.size() - offset < 2) return unexpected(Error::too_short);
    return load_le16(in, offset);
}

EncodeResult encode_rdma_write(const RdmaWrite& msg, std::span<std::byte> out) {
    if (out.size() < kRdmaWriteSize) return unexpected(Error::buffer_too_small);
    store_le16(out, 0, type_value(MsgType::write));
    store_le16(out, 2, msg.usr_len);
    return kRdmaWriteSize;
}

Result<RdmaWrite> decode_rdma_write(std::span<const std::byte> in) {
    if (auto ok = check_input(in, kRdmaWriteSize, MsgType::write); !ok)
        return unexpected(ok.error());
    return RdmaWrite{load_le16(in, 2)};
}

EncodeResult encode_rdma_read(std::uint16_t usr_len, std::uint16_t flags,
                              std::span<const SgDesc> descs, std::span<std::byte> out) {
    if (descs.size() > kMaxSgCnt) return unexpected(Error::out_of_range);
    const std::size_t size = rdma_read_size(descs.size());
    if (out.size() < size) return unexpected(Error::buffer_too_small);
    store_le16(out, 0, type_value(MsgType::read));
    store_le16(out, 2, usr_len);
    store_le16(out, 4, flags);
    store_le16(out, 6, static_cast<std::uint16_t>(descs.size()));
    store_sg_descs(out, kRdmaReadHdrSize, descs);
    return size;
}

SgDesc RdmaRead::desc(std::size_t index) const {
    assert(index < sg_cnt);
    return load_sg_desc(desc_bytes, index * kSgDescSize);
}

Result<RdmaRead> decode_rdma_read(std::span<const std::byte> in) {
    if (auto ok = check_input(in, kRdmaReadHdrSize, MsgType::read); !ok)
        return unexpected(ok.error());
    RdmaRead msg;
    msg.usr_len = load_le16(in, 2);
    msg.flags = load_le16(in, 4);
    msg.sg_cnt = load_le16(in, 6);
    if (in.size() < msg.size()) return unexpected(Error::too_short);
    msg.desc_bytes = in.subspan(kRdmaReadHdrSize, kSgDescSize * msg.sg_cnt);
    return msg;
}

EncodeResult encode_rkey_rsp(const RkeyRsp& msg, std::span<std::byte> out) {
    if (out.size() < kRkeyRspSize) return unexpected(Error::buffer_too_small);
    store_le16(out, 0, type_value(MsgType::rkey_rsp));
    store_le16(out, 2, msg.buf_id);
    store_le32(out, 4, msg.rkey);
    return kRkeyRspSize;
}

Result<RkeyRsp> decode_rkey_rsp(std::span<const std::byte> in) {
    if (auto ok = check_input(in, kRkeyRspSize, MsgType::rkey_rsp); !ok)
        return unexpected(ok.error());
    return RkeyRsp{load_le16(in, 2), load_le32(in, 4)};
}

}  // namespace ibnbd::wire
