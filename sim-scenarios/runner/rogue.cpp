#include "sim-scenarios/runner/rogue.hpp"

#include <cstring>

#include "core/wire/rnbd.hpp"
#include "core/wire/rtrs_imm.hpp"

namespace ibnbd::scenario {

namespace {

constexpr std::size_t kBufferSize = 64 << 10;
constexpr std::size_t kStaging = 0;            // 8 rotating 1 KiB slots for outgoing bytes
constexpr std::size_t kInfoReq = 8 << 10;
constexpr std::size_t kInfoRsp = 12 << 10;
constexpr std::size_t kOpenRsp = 16 << 10;
constexpr std::size_t kKeyRecvs = 20 << 10;    // kReceives 8-byte receives of the IO connection
constexpr std::size_t kMaxStrays = 8;
constexpr std::uint32_t kReceives = 64;
constexpr std::uint64_t kInfoContext = 1;
constexpr std::uint64_t kEmptyRecv = 2;
constexpr std::uint64_t kStaleWrite = 12;
constexpr std::uint64_t kKeyRecv = 100;  // + the receive's index

}  // namespace

struct RogueClient::Conn final : fabric::EndpointHandler {
    explicit Conn(RogueClient& owner) : owner(owner) {}
    void on_completion(const fabric::Completion& completion) override { owner.on_completion(*this, completion); }
    void on_cm_event(const fabric::CmEvent& event) override { owner.on_event(*this, event); }
    RogueClient& owner;
    std::unique_ptr<fabric::Endpoint> endpoint;
    bool established = false;
    bool gone = false;
};

RogueClient::RogueClient(fabric::Fabric& node, std::string source, std::string destination, RogueMode mode,
                         Nanos period, std::vector<std::string> victims)
    : node_(node), source_(std::move(source)), destination_(std::move(destination)), mode_(mode), period_(period),
      victims_(std::move(victims)) {}

RogueClient::~RogueClient() { stop(); }

void RogueClient::start() {
    if (running_) return;
    running_ = true;
    if (!buffer_.valid()) {
        auto buffer = ibtrs::RegisteredBuffer::create(node_, kBufferSize,
                                                      fabric::access_local_write | fabric::access_remote_write);
        if (buffer) buffer_ = std::move(buffer.value());
    }
    timer_ = node_.start_timer(period_, *this, 0);
}

void RogueClient::stop() {
    running_ = false;
    if (timer_ != 0) node_.cancel_timer(timer_);
    timer_ = 0;
    // Destroying an endpoint disconnects it without callbacks.
    strays_.clear();
    service_.reset();
    io_.reset();
    stage_ = Stage::none;
}

void RogueClient::on_timer(std::uint64_t) {
    timer_ = 0;
    if (!running_) return;
    // Connections that ended are dropped here, never inside their own callbacks.
    std::erase_if(strays_, [](const auto& conn) { return conn->gone; });
    if ((service_ && service_->gone) || (io_ && io_->gone)) reset_session();
    attack();
    timer_ = node_.start_timer(period_, *this, 0);
}

void RogueClient::attack() {
    ++stats_.attacks;
    const bool handshake = mode_ == RogueMode::handshake || (mode_ == RogueMode::mixed && draw(3) == 0);
    if (handshake || !buffer_.valid()) return handshake_attack();
    if (mode_ == RogueMode::keys) return key_attack();
    request_attack();
}

wire::ConnReq RogueClient::request(std::uint16_t cid, std::uint16_t cid_num, bool first) {
    wire::ConnReq req;
    req.cid = cid;
    req.cid_num = cid_num;
    req.recon_cnt = 1;
    req.first_conn = first;
    req.paths_uuid = paths_uuid_;
    req.sess_uuid = sess_uuid_;
    return req;
}

RogueClient::Conn* RogueClient::connect(std::span<const std::byte> private_data) {
    auto conn = std::make_unique<Conn>(*this);
    auto endpoint = node_.connect({destination_, 1234}, {source_, 0}, private_data, *conn, {256, 256});
    if (!endpoint) return nullptr;
    conn->endpoint = std::move(endpoint.value());
    if (strays_.size() >= kMaxStrays) strays_.erase(strays_.begin());
    strays_.push_back(std::move(conn));
    return strays_.back().get();
}

void RogueClient::handshake_attack() {
    std::array<std::byte, wire::kConnReqSize> bytes{};
    for (auto& b : paths_uuid_) b = static_cast<std::uint8_t>(draw(256));
    for (auto& b : sess_uuid_) b = static_cast<std::uint8_t>(draw(256));
    wire::ConnReq req = request(0, 1, true);
    std::size_t length = bytes.size();
    switch (draw(7)) {
        case 0:
            length = draw(bytes.size() + 1);
            for (auto& b : bytes) b = static_cast<std::byte>(draw(256));
            return (void)connect({bytes.data(), length});
        case 1: req.magic = static_cast<std::uint16_t>(draw(65536)); break;
        case 2: req.version = 0x0100; break;
        case 3: req.cid = 3; req.cid_num = 2; break;
        case 4: req.cid_num = draw(2) ? 0 : 5000; break;
        case 5: req.first_conn = false; break;
        default: req.cid_num = 2; break;  // the first of two connections; the second never comes
    }
    (void)wire::encode_conn_req(req, bytes);
    (void)connect({bytes.data(), length});
}

void RogueClient::begin_session() {
    for (auto& b : paths_uuid_) b = static_cast<std::uint8_t>(draw(256));
    for (auto& b : sess_uuid_) b = static_cast<std::uint8_t>(draw(256));
    std::array<std::byte, wire::kConnReqSize> bytes{};
    (void)wire::encode_conn_req(request(0, 2, true), bytes);
    Conn* conn = connect(bytes);
    if (!conn) return;
    service_ = std::move(strays_.back());
    strays_.pop_back();
    stage_ = Stage::service;
}

void RogueClient::reset_session() {
    service_.reset();
    io_.reset();
    chunks_.clear();
    stage_ = Stage::none;
    open_chunk_ = UINT32_MAX;
    granted_device_ = UINT32_MAX;
    key_chunk_ = UINT32_MAX;
}

void RogueClient::on_event(Conn& conn, const fabric::CmEvent& event) {
    using fabric::CmEventType;
    if (event.type == CmEventType::rejected) ++stats_.rejected;
    if (event.type == CmEventType::disconnected && conn.established) ++stats_.closed_by_server;
    if (event.type != CmEventType::established) {
        conn.gone = true;
        return;
    }
    conn.established = true;
    if (&conn == service_.get() && stage_ == Stage::service) {
        const auto rsp = wire::decode_conn_rsp(event.private_data);
        if (!rsp || rsp->queue_depth == 0) return (void)(conn.gone = true);
        queue_depth_ = rsp->queue_depth;
        chunk_size_ = static_cast<std::uint32_t>(wire::chunk_size_of(*rsp));
        std::array<std::byte, wire::kConnReqSize> bytes{};
        (void)wire::encode_conn_req(request(1, 2, true), bytes);
        if (Conn* io = connect(bytes)) {
            io_ = std::move(strays_.back());
            strays_.pop_back();
            (void)io;
            stage_ = Stage::io;
        }
    } else if (&conn == io_.get() && stage_ == Stage::io) {
        send_info();
    }
}

void RogueClient::send_info() {
    const fabric::Sge rsp = buffer_.sge(kInfoRsp, 4096);
    (void)service_->endpoint->post_recv(kInfoContext, {&rsp, 1});
    for (std::uint32_t i = 0; i < kReceives; ++i) {
        (void)service_->endpoint->post_recv(kEmptyRecv, {});
        const fabric::Sge key = buffer_.sge(kKeyRecvs + i * wire::kRkeyRspSize, wire::kRkeyRspSize);
        (void)io_->endpoint->post_recv(kKeyRecv + i, {&key, 1});
    }
    const auto written = wire::encode_info_req({"rogue" + std::to_string(session_number_++)},
                                               buffer_.span().subspan(kInfoReq, 4096));
    if (!written) return;
    const fabric::Sge req = buffer_.sge(kInfoReq, static_cast<std::uint32_t>(*written));
    (void)service_->endpoint->post_send(3, {&req, 1});
    stage_ = Stage::info;
}

void RogueClient::on_info(std::uint32_t length) {
    std::vector<wire::SgDesc> descs;
    if (!wire::decode_info_rsp(buffer_.span().subspan(kInfoRsp, length), descs)) return;
    if (!wire::build_chunk_table(descs, queue_depth_, chunk_size_, chunks_)) return;
    stage_ = Stage::ready;
    ++stats_.sessions;
}

void RogueClient::on_completion(Conn& conn, const fabric::Completion& completion) {
    if (completion.context == kStaleWrite && completion.status != fabric::WcStatus::flushed) {
        ++(completion.status == fabric::WcStatus::success ? stats_.stale_writes_landed : stats_.stale_writes_refused);
        return;
    }
    if (completion.status != fabric::WcStatus::success) return;
    if (&conn == service_.get() && completion.context == kInfoContext && stage_ == Stage::info) {
        on_info(completion.byte_len);
        return;
    }
    if (completion.opcode == fabric::Opcode::recv_rdma_with_imm || completion.opcode == fabric::Opcode::recv) {
        if (completion.context >= kKeyRecv && completion.context < kKeyRecv + kReceives) {
            on_key_response(completion);
        } else if (completion.recv_consumed || completion.opcode == fabric::Opcode::recv) {
            (void)conn.endpoint->post_recv(kEmptyRecv, {});
        }
        const wire::Imm imm = wire::imm_decode(completion.imm);
        if (imm.type != wire::ImmType::io_rsp && imm.type != wire::ImmType::io_rsp_w_inv) return;
        ++stats_.responses;
        const wire::IoRsp rsp = wire::io_rsp_decode(imm.payload);
        if (rsp.msg_id == key_chunk_) key_answered_ = true;
        if (rsp.msg_id != open_chunk_) return;
        open_chunk_ = UINT32_MAX;
        if (rsp.status != 0) return;
        if (auto opened = wire::decode_rnbd_open_rsp(buffer_.span().subspan(kOpenRsp, wire::kRnbdOpenRspSize))) {
            ++stats_.opens_granted;
            granted_device_ = opened->device_id;
        }
    }
}

void RogueClient::send(std::uint32_t chunk, std::uint32_t offset, std::span<const std::byte> bytes, std::uint32_t imm) {
    if (!io_ || !io_->established || chunks_.empty()) return;
    const std::size_t slot = kStaging + (stats_.attacks % 8) * 1024;
    const std::size_t length = std::min<std::size_t>(bytes.size(), 1024);
    if (length != 0) std::memcpy(buffer_.data() + slot, bytes.data(), length);
    const fabric::Sge sge = buffer_.sge(slot, static_cast<std::uint32_t>(length));
    const wire::RemoteChunk& target = chunks_[chunk % chunks_.size()];
    if (length != 0) (void)io_->endpoint->post_write(10, {&sge, 1}, {target.addr + offset, target.rkey});
    (void)io_->endpoint->post_write(11, {}, {}, &imm);
}

void RogueClient::send_write(std::uint32_t chunk, std::span<const std::byte> usr, std::uint32_t data_len) {
    std::vector<std::byte> message(data_len + usr.size() + wire::kRdmaWriteSize);
    for (std::uint32_t i = 0; i < data_len; ++i) message[i] = static_cast<std::byte>(draw(256));
    if (!usr.empty()) std::memcpy(message.data() + data_len, usr.data(), usr.size());
    (void)wire::encode_rdma_write({static_cast<std::uint16_t>(usr.size())},
                                  std::span(message).subspan(data_len + usr.size()));
    const auto payload = wire::io_req_payload(chunk, wire::mem_bits(queue_depth_),
                                              static_cast<std::uint32_t>(data_len + usr.size()));
    if (!payload) return;
    send(chunk, 0, message, wire::imm_encode(wire::ImmType::io_req, *payload));
}

void RogueClient::send_open(std::uint32_t chunk, const std::string& name) {
    std::array<std::byte, wire::kRnbdOpenSize> usr{};
    if (!wire::encode_rnbd_open({wire::AccessMode::rw, name}, usr)) return;
    const fabric::RemoteKey key = buffer_.mr()->remote_key();
    const wire::SgDesc desc{key.addr + kOpenRsp, key.rkey, static_cast<std::uint32_t>(wire::kRnbdOpenRspSize)};
    std::vector<std::byte> message(usr.size() + wire::rdma_read_size(1));
    std::memcpy(message.data(), usr.data(), usr.size());
    (void)wire::encode_rdma_read(static_cast<std::uint16_t>(usr.size()), 0, {&desc, 1},
                                 std::span(message).subspan(usr.size()));
    const auto payload = wire::io_req_payload(chunk, wire::mem_bits(queue_depth_), static_cast<std::uint32_t>(usr.size()));
    if (!payload) return;
    open_chunk_ = chunk;
    send(chunk, 0, message, wire::imm_encode(wire::ImmType::io_req, *payload));
}

void RogueClient::request_attack() {
    if (stage_ == Stage::none) return begin_session();
    if (stage_ != Stage::ready) return;
    const auto chunk = static_cast<std::uint32_t>(draw(chunks_.size()));
    const unsigned bits = wire::mem_bits(queue_depth_);
    switch (draw(granted_device_ != UINT32_MAX ? 8 : 7)) {
        case 0:  // an offset past the chunk: the trailer cannot fit
            return send(chunk, 0, {}, wire::imm_encode(wire::ImmType::io_req, (chunk << bits) | ((1u << bits) - 1)));
        case 1: {  // an unknown RTRS message type
            const std::array<std::byte, 4> bytes{std::byte{9}, std::byte{0}, std::byte{0}, std::byte{0}};
            return send(chunk, 64, bytes, wire::imm_encode(wire::ImmType::io_req, (chunk << bits) | 64));
        }
        case 2: {  // RNBD garbage
            std::vector<std::byte> usr(draw(33));
            for (auto& b : usr) b = static_cast<std::byte>(draw(256));
            return send_write(chunk, usr, static_cast<std::uint32_t>(draw(513)));
        }
        case 3: return send_unopened_io(chunk);
        case 4: return send_open(chunk, draw(2) ? "../../etc/passwd" : "/etc/shadow");
        case 5:
            if (victims_.empty()) return;
            return send_open(chunk, victims_[draw(victims_.size())]);
        case 6: {  // a READ whose buffer key is wrong: the server's RDMA write fails
            const wire::SgDesc desc{0x1000, static_cast<std::uint32_t>(draw(1u << 31)), 512};
            std::array<std::byte, wire::kRnbdIoSize> usr{};
            (void)wire::encode_rnbd_io({0, 0, wire::rnbd_rw(wire::RnbdOp::read, 0), 512, 0}, usr);
            std::vector<std::byte> message(usr.size() + wire::rdma_read_size(1));
            std::memcpy(message.data(), usr.data(), usr.size());
            (void)wire::encode_rdma_read(static_cast<std::uint16_t>(usr.size()), 0, {&desc, 1},
                                         std::span(message).subspan(usr.size()));
            const auto payload = wire::io_req_payload(chunk, bits, static_cast<std::uint32_t>(usr.size()));
            if (payload) send(chunk, 0, message, wire::imm_encode(wire::ImmType::io_req, *payload));
            return;
        }
        default: {  // garbage into a victim's device that an OPEN wrongly granted
            std::array<std::byte, wire::kRnbdIoSize> usr{};
            (void)wire::encode_rnbd_io({granted_device_, draw(64) * 8, wire::rnbd_rw(wire::RnbdOp::write, 0), 512, 0}, usr);
            return send_write(chunk, usr, 512);
        }
    }
}

void RogueClient::send_unopened_io(std::uint32_t chunk) {
    std::array<std::byte, wire::kRnbdIoSize> usr{};
    (void)wire::encode_rnbd_io({static_cast<std::uint32_t>(draw(4)), draw(64), wire::rnbd_rw(wire::RnbdOp::write, 0),
                                512, 0},
                               usr);
    send_write(chunk, usr, 512);
}

// A receive of the IO connection: re-posted as it was; a response that carries a chunk's next key
// (RKEY_RSP) gives the rogue that key, as a client would use it.
void RogueClient::on_key_response(const fabric::Completion& completion) {
    const auto index = static_cast<std::uint32_t>(completion.context - kKeyRecv);
    const std::size_t offset = kKeyRecvs + std::size_t{index} * wire::kRkeyRspSize;
    const fabric::Sge key = buffer_.sge(offset, wire::kRkeyRspSize);
    (void)io_->endpoint->post_recv(completion.context, {&key, 1});
    if (completion.opcode != fabric::Opcode::recv || completion.byte_len != wire::kRkeyRspSize) return;
    const auto message = wire::decode_rkey_rsp(buffer_.span().subspan(offset, wire::kRkeyRspSize));
    if (message && message->buf_id < chunks_.size()) chunks_[message->buf_id].rkey = message->rkey;
}

// One attack request, then, once it was answered, one write through its key: stale, since the
// response gave the chunk's next key.
void RogueClient::key_attack() {
    if (stage_ == Stage::none) return begin_session();
    if (stage_ != Stage::ready || !io_ || !io_->established) return;
    if (key_chunk_ == UINT32_MAX) {
        key_chunk_ = static_cast<std::uint32_t>(draw(chunks_.size()));
        stale_key_ = chunks_[key_chunk_];
        key_answered_ = false;
        key_waits_ = 0;
        return send_unopened_io(key_chunk_);
    }
    constexpr std::uint32_t kMaxKeyWaits = 8;  // a request the server dropped is never answered
    if (!key_answered_) {
        if (++key_waits_ == kMaxKeyWaits) key_chunk_ = UINT32_MAX;
        return;
    }
    const std::size_t slot = kStaging + (stats_.attacks % 8) * 1024;
    std::memset(buffer_.data() + slot, 0xA5, 256);
    const fabric::Sge sge = buffer_.sge(slot, 256);
    if (io_->endpoint->post_write(kStaleWrite, {&sge, 1}, {stale_key_.addr, stale_key_.rkey})) ++stats_.stale_writes;
    key_chunk_ = UINT32_MAX;
}

}  // namespace ibnbd::scenario
