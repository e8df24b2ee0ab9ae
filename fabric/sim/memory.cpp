#include "fabric/sim/memory.hpp"

namespace ibnbd::fabric::sim {

KeyPermutation::KeyPermutation(Rng& stream) {
    const std::uint64_t first = stream.next();
    const std::uint64_t second = stream.next();
    xor_in_ = static_cast<std::uint32_t>(first);
    multiplier_a_ = static_cast<std::uint32_t>(first >> 32) | 1u;  // odd: invertible mod 2^32
    multiplier_b_ = static_cast<std::uint32_t>(second) | 1u;
    xor_out_ = static_cast<std::uint32_t>(second >> 32);
}

std::uint32_t KeyPermutation::operator()(std::uint32_t x) const {
    x ^= xor_in_;
    x *= multiplier_a_;
    x ^= x >> 16;
    x *= multiplier_b_;
    x ^= x >> 15;
    return x ^ xor_out_;
}

std::uint32_t MemoryRegistry::add(std::byte* base, std::size_t size, std::uint32_t access) {
    std::uint32_t rkey = permutation_(next_counter_++);
    if (rkey == 0) rkey = permutation_(next_counter_++);  // keep 0 free: it reads as "no key"
    records_.emplace(rkey, Record{base, size, access});
    return rkey;
}

std::byte* MemoryRegistry::resolve(std::uint32_t rkey, std::uint64_t addr, std::uint64_t length,
                                   std::uint32_t needed) const {
    const auto found = records_.find(rkey);
    if (found == records_.end()) return nullptr;
    const Record& record = found->second;
    if ((record.access & needed) != needed) return nullptr;
    const auto begin = reinterpret_cast<std::uint64_t>(record.base);
    if (addr < begin) return nullptr;
    const std::uint64_t offset = addr - begin;
    if (offset > record.size || length > record.size - offset) return nullptr;
    return record.base + offset;
}

}  // namespace ibnbd::fabric::sim
