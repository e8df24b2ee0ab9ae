// A rogue client on its own node: it speaks RTRS/RNBD by hand over the raw fabric and sends what
// a correct client never would, one attack every `period` (docs/protocol.md §4.3). Legitimate
// sessions on the same server must not notice: the run's oracles and expectations check them.
//
// ATTACKS
//   handshake  connect requests with garbage private data, a bad magic or version, cid >= cid_num,
//              cid_num 0 or too large, an unknown session without first_conn, and a first
//              connection that never continues (a half-open handshake)
//   requests   on a rogue session it sets up (service + one IO connection, INFO exchange):
//              immediates naming chunks or offsets that do not exist, unknown RTRS message
//              types, RNBD garbage, IO for device ids it never opened, OPEN of paths that escape
//              the search path, and OPEN read-write of the devices the victims have mapped; if
//              such an OPEN ever succeeded it writes garbage there (the data oracle would see it)
//   mixed      either, at random
//   keys       on a rogue session: a request on a chunk, and once its response came, a write into
//              that chunk through the key the request used - stale, since the response gave the
//              next key (always_invalidate). The server must refuse it (remote access error, the
//              rogue's connection cut) and nothing may land; with fixed keys (always_invalidate
//              off) it lands, and the oracle says so. The write waits for the response because one
//              that reaches the server between the request and its revocation lands, harmlessly:
//              the server reads the request only once the revocation executed (a core test checks
//              that a write during the request's storage IO is refused)
// The rogue's IO connection takes 8-byte receives, so a response that carries a chunk's next key
// (RKEY_RSP) arrives; the rogue uses the newest key of each chunk for its other attacks.
// Every draw comes from the rogue node's random stream (deterministic).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/ibtrs/registered_buffer.hpp"
#include "core/wire/rtrs.hpp"
#include "fabric/fabric.hpp"
#include "sim-scenarios/runner/spec.hpp"

namespace ibnbd::scenario {

struct RogueStats {
    std::uint64_t attacks = 0;
    std::uint64_t rejected = 0;         // connect requests the server rejected
    std::uint64_t sessions = 0;         // rogue sessions that completed the INFO exchange
    std::uint64_t closed_by_server = 0; // rogue connections the server closed
    std::uint64_t responses = 0;        // IO responses received
    std::uint64_t opens_granted = 0;    // OPENs of victim devices that succeeded (must stay 0)
    std::uint64_t stale_writes = 0;         // keys: writes through a request's (revoked or stale) key
    std::uint64_t stale_writes_refused = 0;  // ... that failed with a remote access error
    std::uint64_t stale_writes_landed = 0;   // ... that completed (must stay 0 with always_invalidate)
};

class RogueClient final : private fabric::TimerHandler {
public:
    // `victims`: device names the victims map read-write (relative to the search path).
    RogueClient(fabric::Fabric& node, std::string source, std::string destination, RogueMode mode, Nanos period,
                std::vector<std::string> victims);
    ~RogueClient() override;
    RogueClient(const RogueClient&) = delete;
    RogueClient& operator=(const RogueClient&) = delete;

    void start();
    // Stops attacking and drops every connection (without callbacks).
    void stop();
    const RogueStats& stats() const { return stats_; }

private:
    struct Conn;
    enum class Stage : std::uint8_t { none, service, io, info, ready };

    void on_timer(std::uint64_t cookie) override;
    void attack();
    void handshake_attack();
    void request_attack();
    void key_attack();
    void on_key_response(const fabric::Completion& completion);
    // RNBD IO for a device this session never opened: answered with an error, no storage work.
    void send_unopened_io(std::uint32_t chunk);
    Conn* connect(std::span<const std::byte> private_data);
    void on_event(Conn& conn, const fabric::CmEvent& event);
    void on_completion(Conn& conn, const fabric::Completion& completion);
    void begin_session();
    void send_info();
    void on_info(std::uint32_t length);
    void reset_session();
    // Puts `usr` + an RTRS message at `offset` of chunk `chunk` and sends `imm`.
    void send(std::uint32_t chunk, std::uint32_t offset, std::span<const std::byte> bytes, std::uint32_t imm);
    void send_write(std::uint32_t chunk, std::span<const std::byte> usr, std::uint32_t data_len);
    void send_open(std::uint32_t chunk, const std::string& name);
    wire::ConnReq request(std::uint16_t cid, std::uint16_t cid_num, bool first);
    std::uint64_t draw(std::uint64_t bound) { return node_.random_u64() % bound; }

    fabric::Fabric& node_;
    std::string source_;
    std::string destination_;
    RogueMode mode_;
    Nanos period_;
    std::vector<std::string> victims_;
    fabric::TimerId timer_ = 0;
    bool running_ = false;
    std::vector<std::unique_ptr<Conn>> strays_;  // handshake attacks, oldest first
    std::unique_ptr<Conn> service_, io_;
    Stage stage_ = Stage::none;
    wire::Uuid paths_uuid_{}, sess_uuid_{};
    std::uint32_t queue_depth_ = 0;
    std::uint32_t chunk_size_ = 0;
    std::vector<wire::RemoteChunk> chunks_;
    ibtrs::RegisteredBuffer buffer_;
    std::uint32_t open_chunk_ = UINT32_MAX;  // chunk of an OPEN in flight
    std::uint32_t granted_device_ = UINT32_MAX;
    std::uint32_t session_number_ = 0;
    std::uint32_t key_chunk_ = UINT32_MAX;  // keys: the chunk of the request whose key goes stale
    bool key_answered_ = false;             // keys: that request's response arrived
    std::uint32_t key_waits_ = 0;           // keys: attacks spent waiting for that response
    wire::RemoteChunk stale_key_{};
    RogueStats stats_;
};

}  // namespace ibnbd::scenario
