// Memory registration on a simulated node: the rkey registry and the MemoryRegion it hands out.
//
// Keys are 32-bit, deterministic, never reused within a run, and not guessable from each other:
// key n is a keyed bijection of the counter n (so distinct counters give distinct keys), keyed
// from the node's seeded stream. remote_key().addr is the buffer's virtual address, so offsets
// computed by peers are plain pointer arithmetic, as with FI_MR_VIRT_ADDR / verbs.
// Deregistration (destroying the MemoryRegion) and a node crash invalidate keys at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

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

class MemoryRegistry {
public:
    explicit MemoryRegistry(Rng key_stream) : permutation_(key_stream) {}

    // Records a registration and returns its fresh rkey.
    std::uint32_t add(std::byte* base, std::size_t size, std::uint32_t access);
    // Forgets `rkey`; unknown keys (already dropped by a crash) are ignored.
    void remove(std::uint32_t rkey) { records_.erase(rkey); }
    // Forgets every registration (node crash). Keys stay unused for the rest of the run.
    void clear() { records_.clear(); }
    std::size_t size() const { return records_.size(); }

    // The local address of `length` bytes at remote address `addr` under `rkey`, if the key is
    // registered, the range lies inside its buffer and the registration grants `needed` access;
    // nullptr otherwise. A zero-length range needs a valid key and an in-bounds address.
    std::byte* resolve(std::uint32_t rkey, std::uint64_t addr, std::uint64_t length,
                       std::uint32_t needed) const;

private:
    struct Record {
        std::byte* base;
        std::size_t size;
        std::uint32_t access;
    };

    // Looked up only by key, never iterated: its hash order cannot leak into a run.
    std::unordered_map<std::uint32_t, Record> records_;
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

private:
    MemoryRegistry& registry_;
    std::byte* data_;
    std::size_t size_;
    std::uint32_t access_;
    std::uint32_t rkey_;
};

}  // namespace ibnbd::fabric::sim
