// Memory registration on a simulated node: the rkey registry, the MemoryRegion and the
// MemoryWindow it hands out.
//
// Keys are 32-bit, deterministic, and not guessable from each other: key n is a keyed bijection
// of the counter n (so distinct counters give distinct keys), keyed from the node's seeded
// stream. remote_key().addr is the buffer's virtual address, so offsets computed by peers are
// plain pointer arithmetic, as with FI_MR_VIRT_ADDR / verbs.
// Deregistration (destroying the MemoryRegion) and a node crash invalidate keys at once.
//
// Windows are modelled on verbs type-2B memory windows: a window owns the 256 keys of one block
// (key >> 8, as an rxe window's pool index); a bind moves its key to the next value of the low
// 8 bits (ibv_inc_rkey), so a window's keys come back after 256 binds, as on verbs. Region keys
// are never reused within a run, and no region key ever falls into a window's block, so a stale
// key can only come back to life through its own window's wrap-around.
// A bound window is tied to the connection that bound it: only requests arriving on that
// connection resolve through it, and only that connection (or its peer's send with invalidate
// arriving on it) can invalidate it. A fabric-wide window (verbs type 1) is tied to no connection:
// it resolves for requests arriving on any connection of the node, may be bound while bound (the
// old key dies), is revoked by a zero-length bind (its key stays, valid for nothing), and cannot be
// invalidated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "fabric/fabric.hpp"
#include "fabric/sim/rng.hpp"

namespace ibnbd::fabric::sim {

// A keyed permutation of the 32-bit integers (xor, odd multiply and xorshift steps, each a
// bijection).
class KeyPermutation {
public:
    explicit KeyPermutation(Rng& stream);
    std::uint32_t operator()(std::uint32_t x) const;

private:
    std::uint32_t xor_in_;
    std::uint32_t multiplier_a_;
    std::uint32_t multiplier_b_;
    std::uint32_t xor_out_;
};

// What a bind makes valid: `length` bytes at `base`, inside the region of key `region`, with
// `access`, for requests arriving on connection `connection` (a world-unique connection id).
struct WindowBinding {
    std::uint32_t region = 0;
    std::byte* base = nullptr;
    std::uint64_t length = 0;
    std::uint32_t access = 0;
    std::uint64_t connection = 0;
};

// The ibv_inc_rkey of `key`: the same block, the next value of the low 8 bits.
constexpr std::uint32_t next_window_key(std::uint32_t key) {
    return (key & ~0xFFu) | ((key + 1) & 0xFFu);
}

class MemoryRegistry {
public:
    explicit MemoryRegistry(Rng key_stream) : permutation_(key_stream) {}

    // Records a registration and returns its fresh rkey.
    std::uint32_t add(std::byte* base, std::size_t size, std::uint32_t access);
    // Forgets `rkey`; unknown keys (already dropped by a crash) are ignored. No window may be bound
    // over the region any more (asserted; without assertions such windows are unbound).
    void remove(std::uint32_t rkey);
    // Forgets every registration and window (node crash). Keys stay unused for the rest of the run.
    void clear();
    std::size_t size() const { return records_.size(); }

    // A fresh, free window; returns its initial key (its first bind takes the next one).
    std::uint32_t add_window(bool fabric_wide);
    // Forgets the window that owns `key`'s block; unknown ones are ignored.
    void remove_window(std::uint32_t key) { windows_.erase(key >> 8); }
    // Executes a bind of the window owning `key`'s block to `binding`, with `key` as its key.
    // False (and nothing changes) if the window is gone or bound (unless fabric-wide), or the
    // region is gone or does not cover the range. A zero-length binding revokes a fabric-wide
    // window.
    bool bind_window(std::uint32_t key, const WindowBinding& binding);
    // Executes an invalidation: true if `key` is a connection window's current key, bound over
    // `connection`; the window is free afterwards. False (nothing changes) for any other key.
    bool invalidate(std::uint32_t key, std::uint64_t connection);

    // The local address of `length` bytes at remote address `addr` under `rkey` for a request
    // arriving on `connection`, if the key is registered (or a window's current key, bound over
    // that connection or fabric-wide, and not revoked), the range lies inside its buffer (window
    // range) and it grants `needed` access; nullptr otherwise. A zero-length range needs a valid
    // key and an in-bounds address.
    std::byte* resolve(std::uint32_t rkey, std::uint64_t addr, std::uint64_t length,
                       std::uint32_t needed, std::uint64_t connection) const;

private:
    struct Record {
        std::byte* base;
        std::size_t size;
        std::uint32_t access;
    };
    struct Window {
        std::uint32_t key = 0;  // the current key while bound
        bool bound = false;
        bool fabric_wide = false;
        WindowBinding binding;  // length 0: a revoked fabric-wide window
    };

    std::uint32_t draw_key();

    // Looked up only by key, never iterated: its hash order cannot leak into a run.
    std::unordered_map<std::uint32_t, Record> records_;
    // By block; iterated (in block order) only when a region goes.
    std::map<std::uint32_t, Window> windows_;
    // Blocks (key >> 8) ever handed out, for regions and for windows: membership tests only.
    std::unordered_set<std::uint32_t> region_blocks_;
    std::unordered_set<std::uint32_t> window_blocks_;
    KeyPermutation permutation_;
    std::uint32_t next_counter_ = 1;
};

class SimMemoryRegion final : public MemoryRegion {
public:
    SimMemoryRegion(MemoryRegistry& registry, std::byte* data, std::size_t size, std::uint32_t access)
        : registry_(registry), data_(data), size_(size), access_(access),
          rkey_(registry.add(data, size, access)) {}
    ~SimMemoryRegion() override { registry_.remove(rkey_); }
    SimMemoryRegion(const SimMemoryRegion&) = delete;
    SimMemoryRegion& operator=(const SimMemoryRegion&) = delete;

    std::byte* data() const override { return data_; }
    std::size_t size() const override { return size_; }
    std::uint32_t access() const override { return access_; }
    RemoteKey remote_key() const override {
        return RemoteKey{reinterpret_cast<std::uint64_t>(data_), rkey_};
    }
    const MemoryRegistry& registry() const { return registry_; }

private:
    MemoryRegistry& registry_;
    std::byte* data_;
    std::size_t size_;
    std::uint32_t access_;
    std::uint32_t rkey_;
};

class SimMemoryWindow final : public MemoryWindow {
public:
    SimMemoryWindow(MemoryRegistry& registry, bool fabric_wide)
        : registry_(registry), key_(registry.add_window(fabric_wide)), fabric_wide_(fabric_wide) {}
    ~SimMemoryWindow() override { registry_.remove_window(key_); }
    SimMemoryWindow(const SimMemoryWindow&) = delete;
    SimMemoryWindow& operator=(const SimMemoryWindow&) = delete;

    std::uint32_t rkey() const override { return bound_once_ ? key_ : 0; }
    const MemoryRegistry& registry() const { return registry_; }
    bool fabric_wide() const { return fabric_wide_; }
    // The key a revocation keeps (the newest bind's).
    std::uint32_t current_key() const { return key_; }
    // The key the next bind gets.
    std::uint32_t next_key() const { return next_window_key(key_); }
    // A bind with `key` (next_key()) was posted.
    void bind_posted(std::uint32_t key) {
        key_ = key;
        bound_once_ = true;
    }

private:
    MemoryRegistry& registry_;
    std::uint32_t key_;  // the newest bind's key; before the first, the window's initial key
    bool fabric_wide_;
    bool bound_once_ = false;
};

}  // namespace ibnbd::fabric::sim
