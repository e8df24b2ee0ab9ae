// Per-request keys of one server path's chunks (always_invalidate, docs/protocol.md §1.7.5), as
// the kernel's rtrs-server does them with a fast-registration MR per chunk:
//   - each chunk is a region of its own, registered for local access and window binds only, so
//     that no key but its window's reaches it, and a window's key reaches that chunk only (rxe
//     checks window accesses against the region, not the window's range);
//   - each chunk has a fabric-wide window (verbs type 1): the client may send a chunk's next
//     request on any connection of the path, so its key cannot belong to one connection;
//   - a request's arrival revokes its chunk's key (a zero-length bind), and the request starts
//     only once the revocation has executed: nothing the client writes afterwards, through any
//     key it holds for the chunk on this path, reaches the chunk while the server works on it;
//   - the response binds the window again, which gives it the next key, and carries that key to
//     the client (RKEY_RSP) in a send posted after the bind on the same connection.
// Closing the path destroys the windows at once: a path declared dead reaches no chunk again.
//
// LIMITS
//     Keys are fabric-wide (the verbs protection domain), as the kernel's MRs are: rotation stops
//     stale keys and writes into a chunk during its request on this path. Another path of the
//     session holds its own key of the same chunk, valid while that path is idle on it, and a peer
//     that guesses another path's current key can use it (as with the kernel's server).
//     A window's keys repeat after 256 binds (verbs' 8-bit key counter): a key older than 256
//     requests on its chunk is valid again.
// The IO path allocates nothing: every table is sized by init().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/ibtrs/registered_buffer.hpp"
#include "core/wire/rtrs.hpp"
#include "fabric/expected.hpp"
#include "fabric/fabric.hpp"

namespace ibnbd::ibtrs {

class ChunkKeys {
public:
    // What the client may do with a chunk's key on this path.
    enum class State : std::uint8_t {
        unbound,   // before setup, or after close: no key reaches the chunk
        bound,     // the bind of the current key is posted, and the INFO_RSP or RKEY_RSP that
                   // carries it after it: the chunk waits for a request
        revoking,  // a request arrived; its revocation is posted, the request waits for it
        revoked,   // the request runs; no key reaches the chunk until its response
    };

    // Registers `count` chunks of `chunk_size` bytes at `chunks` and allocates their windows, and
    // a buffer for their RKEY_RSP messages. Errors: -EOPNOTSUPP (the fabric has no fabric-wide
    // windows), -ENOMEM (a registration or allocation failed).
    Status<int> init(fabric::Fabric& fabric, std::span<std::byte> chunks, std::uint32_t chunk_size,
                     std::uint32_t count);
    // Whether init() was called: the path rotates keys (its chunks have no other key).
    bool active() const { return !regions_.empty(); }
    std::uint32_t count() const { return static_cast<std::uint32_t>(states_.size()); }
    State state(std::uint32_t chunk) const { return states_[chunk]; }

    // Binds every chunk's window on `endpoint` (bind contexts: `context`), and writes the chunks'
    // descriptors - address, new key, chunk size - into `descs` (count() entries). The INFO_RSP
    // that carries them must be posted after, on the same endpoint. Fails with the post error.
    Status<fabric::Errc> bind_all(fabric::Endpoint& endpoint, std::uint64_t context, std::span<wire::SgDesc> descs);
    // A request arrived for `chunk` (state bound): revokes its key. The request waits for the
    // bind's completion (revocation_done()).
    Status<fabric::Errc> revoke(fabric::Endpoint& endpoint, std::uint64_t context, std::uint32_t chunk);
    // The revocation of `chunk` has executed: the request may start. False if none was pending
    // (the path was closed meanwhile).
    bool revocation_done(std::uint32_t chunk);
    // The response of `chunk` (state revoked or bound: a request failed before it started):
    // binds the next key and writes its RKEY_RSP; returns the entry to send after the bind.
    // Errors: the post's, and not_connected after close().
    Expected<fabric::Sge, fabric::Errc> rotate(fabric::Endpoint& endpoint, std::uint64_t context, std::uint32_t chunk);
    // A local entry of `length` bytes at `offset` in `chunk`, for a READ's data.
    fabric::Sge data_sge(std::uint32_t chunk, std::uint32_t offset, std::uint32_t length) const {
        return regions_[chunk].sge(offset, length);
    }
    // The request that waits for its chunk's revocation: its immediate payload and connection.
    void park(std::uint32_t chunk, std::uint16_t cid, std::uint32_t payload) {
        parked_[chunk] = Parked{cid, payload};
    }
    std::uint16_t parked_cid(std::uint32_t chunk) const { return parked_[chunk].cid; }
    std::uint32_t parked_payload(std::uint32_t chunk) const { return parked_[chunk].payload; }
    // Destroys the windows (every key dies at once). The regions stay until destruction, as
    // storage may still use the chunks.
    void close();

private:
    struct Parked {
        std::uint16_t cid = 0;
        std::uint32_t payload = 0;
    };
    void set_state(std::uint32_t chunk, State to);

    std::uint32_t chunk_size_ = 0;
    std::vector<RegisteredBuffer> regions_;
    std::vector<std::unique_ptr<fabric::MemoryWindow>> windows_;
    std::vector<State> states_;
    std::vector<Parked> parked_;
    RegisteredBuffer key_responses_;  // one RKEY_RSP per chunk
};

}  // namespace ibnbd::ibtrs
