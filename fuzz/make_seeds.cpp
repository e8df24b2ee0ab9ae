// Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/) from the project's own
// encoders: one valid message of every kind, so that fuzzing starts past the length and type
// checks. Run by scripts/fuzz.sh --seeds; the output is committed.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/wire/rnbd.hpp"
#include "core/wire/rtrs.hpp"
#include "core/wire/rtrs_imm.hpp"
#include "ibnbd/nbd/nbd_protocol.hpp"

using namespace ibnbd;
using namespace ibnbd::wire;
using Bytes = std::vector<std::byte>;

namespace {

std::filesystem::path root;

void save(const std::string& target, const std::string& name, const Bytes& bytes) {
    std::filesystem::create_directories(root / target);
    std::ofstream out(root / target / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The selector byte the targets read first, then the message.
template <class Encode>
Bytes selected(std::uint8_t selector, std::size_t room, const Encode& encode) {
    Bytes out(1 + room);
    out[0] = std::byte{selector};
    const auto written = encode(std::span<std::byte>(out).subspan(1));
    out.resize(1 + written.value());
    return out;
}

void rtrs_seeds() {
    const std::string t = "rtrs_messages";
    ConnReq req;
    req.cid_num = 2;
    req.first_conn = true;
    save(t, "conn_req", selected(0, kConnReqSize, [&](auto out) { return encode_conn_req(req, out); }));
    ConnRsp rsp;
    rsp.queue_depth = 512;
    rsp.max_io_size = 126976;
    rsp.max_hdr_size = 4096;
    save(t, "conn_rsp", selected(1, kConnRspSize, [&](auto out) { return encode_conn_rsp(rsp, out); }));
    save(t, "info_req", selected(2, kInfoReqSize, [](auto out) { return encode_info_req({"client-server"}, out); }));
    const std::vector<SgDesc> descs{{0x10000, 7, 32 * 131072}, {0x500000, 8, 32 * 131072}};
    Bytes info = selected(3, info_rsp_size(2), [&](auto out) { return encode_info_rsp(descs, out); });
    for (std::uint8_t b : {64, 0, 17, 0, 0, 0}) info.push_back(std::byte{b});  // queue depth 64, 128 KiB
    save(t, "info_rsp", info);
    save(t, "rdma_write", selected(4, kRdmaWriteSize, [](auto out) { return encode_rdma_write({24}, out); }));
    save(t, "rdma_read", selected(5, rdma_read_size(2), [&](auto out) {
             return encode_rdma_read(264, kReadNeedInvalFlag, descs, out);
         }));
    save(t, "rkey_rsp", selected(6, kRkeyRspSize, [](auto out) { return encode_rkey_rsp({3, 0xabcd}, out); }));
}

void imm_seeds() {
    const std::uint32_t values[] = {io_rsp_imm(17, -5, true).value(), kHbMsgImm, io_req_payload(9, 17, 4096).value()};
    for (std::size_t i = 0; i < std::size(values); ++i) {
        Bytes bytes(9);
        std::memcpy(bytes.data(), &values[i], 4);
        const std::uint32_t chunk = 9u << 8 | 0x40;
        std::memcpy(bytes.data() + 4, &chunk, 4);
        bytes[8] = std::byte{17};
        save("rtrs_imm", "imm" + std::to_string(i), bytes);
    }
}

void rnbd_seeds() {
    const std::string t = "rnbd_messages";
    save(t, "sess_info", selected(1, kRnbdSessInfoSize, [](auto out) { return encode_rnbd_sess_info({2}, out); }));
    save(t, "sess_info_rsp",
         selected(2, kRnbdSessInfoRspSize, [](auto out) { return encode_rnbd_sess_info_rsp({2}, out); }));
    save(t, "open", selected(3, kRnbdOpenSize, [](auto out) { return encode_rnbd_open({AccessMode::rw, "vol0"}, out); }));
    RnbdOpenRsp open_rsp;
    open_rsp.nsectors = 2048;
    open_rsp.logical_block_size = open_rsp.physical_block_size = 512;
    save(t, "open_rsp", selected(4, kRnbdOpenRspSize, [&](auto out) { return encode_rnbd_open_rsp(open_rsp, out); }));
    save(t, "close", selected(5, kRnbdCloseSize, [](auto out) { return encode_rnbd_close({1}, out); }));
    const RnbdIo io{1, 8, rnbd_rw(RnbdOp::write, kRnbdFlagFua), 4096, 0};
    save(t, "io", selected(6, kRnbdIoSize, [&](auto out) { return encode_rnbd_io(io, out); }));
    Bytes typed = selected(0, kRnbdIoSize, [&](auto out) { return encode_rnbd_io(io, out); });
    save(t, "type", typed);
}

// An NBD client: flags, then options (INFO, GO), then a few commands of each kind.
class NbdScript {
public:
    void u16(std::uint16_t v) { put(v, 2); }
    void u32(std::uint32_t v) { put(v, 4); }
    void u64(std::uint64_t v) { put(v, 8); }
    void option(std::uint32_t option, const std::string& data) {
        u64(nbd::kOptsMagic);
        u32(option);
        u32(static_cast<std::uint32_t>(data.size()));
        for (char c : data) bytes.push_back(std::byte(c));
    }
    void command(std::uint16_t flags, std::uint16_t type, std::uint64_t offset, std::uint32_t length) {
        u32(nbd::kRequestMagic);
        u16(flags);
        u16(type);
        u64(++handle_);
        u64(offset);
        u32(length);
        if (type == nbd::cmd_write) bytes.resize(bytes.size() + length, std::byte{0x5a});
    }
    Bytes bytes;

private:
    void put(std::uint64_t v, int size) {
        for (int i = size - 1; i >= 0; --i) bytes.push_back(std::byte(v >> (8 * i)));
    }
    std::uint64_t handle_ = 0;
};

std::string name_data(const std::string& name) {
    std::string data(4, '\0');
    data[3] = static_cast<char>(name.size());
    data += name;
    return data + std::string(2, '\0');  // no info requests
}

void nbd_seeds() {
    NbdScript go;
    go.u32(nbd::kClientFixedNewstyle | nbd::kClientNoZeroes);
    go.option(nbd::opt_list, "");
    go.option(nbd::opt_info, name_data("disk"));
    go.option(nbd::opt_go, name_data("disk"));
    go.command(0, nbd::cmd_write, 4096, 4096);
    go.command(nbd::kCmdFlagFua, nbd::cmd_write, 0, 512);
    go.command(0, nbd::cmd_read, 0, 8192);
    go.command(0, nbd::cmd_flush, 0, 0);
    go.command(0, nbd::cmd_trim, 65536, 65536);
    go.command(nbd::kCmdFlagNoHole, nbd::cmd_write_zeroes, 131072, 4096);
    go.command(0, nbd::cmd_cache, 0, 4096);
    go.command(0, nbd::cmd_disc, 0, 0);
    save("nbd_session", "go_and_commands", go.bytes);
    NbdScript old;
    old.u32(nbd::kClientFixedNewstyle);
    old.option(nbd::opt_export_name, "disk");
    old.command(0, nbd::cmd_read, 512, 512);
    save("nbd_session", "export_name", old.bytes);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SEEDS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    rtrs_seeds();
    imm_seeds();
    rnbd_seeds();
    nbd_seeds();
    return 0;
}
