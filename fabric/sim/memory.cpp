#include "fabric/sim/memory.hpp"

#include <cassert>

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

std::uint32_t MemoryRegistry::draw_key() { return permutation_(next_counter_++); }

std::uint32_t MemoryRegistry::add(std::byte* base, std::size_t size, std::uint32_t access) {
    std::uint32_t rkey = draw_key();
    // Keep 0 free (it reads as "no key") and windows' blocks to windows. Without windows this
    // draws exactly the keys it always did.
    while (rkey == 0 || window_blocks_.contains(rkey >> 8)) rkey = draw_key();
    records_.emplace(rkey, Record{base, size, access});
    region_blocks_.insert(rkey >> 8);
    return rkey;
}

void MemoryRegistry::remove(std::uint32_t rkey) {
    if (records_.erase(rkey) == 0) return;
    for (auto& [block, window] : windows_) {
        if (!window.bound || window.binding.region != rkey || window.binding.length == 0) continue;
        assert(!"a memory region was destroyed while a window was bound over it");
        window.bound = false;
    }
}

void MemoryRegistry::clear() {
    records_.clear();
    windows_.clear();
}

std::uint32_t MemoryRegistry::add_window(bool fabric_wide) {
    for (;;) {
        const std::uint32_t key = draw_key();
        const std::uint32_t block = key >> 8;
        if (block == 0 || region_blocks_.contains(block) || window_blocks_.contains(block)) continue;
        window_blocks_.insert(block);
        windows_.emplace(block, Window{0, false, fabric_wide, WindowBinding{}});
        return key;
    }
}

bool MemoryRegistry::bind_window(std::uint32_t key, const WindowBinding& binding) {
    const auto window = windows_.find(key >> 8);
    if (window == windows_.end() || (window->second.bound && !window->second.fabric_wide)) return false;
    const auto region = records_.find(binding.region);
    if (region == records_.end()) return false;
    if (binding.length == 0 && !window->second.fabric_wide) return false;
    const Record& record = region->second;
    if (binding.base < record.base || binding.length > record.size ||
        binding.base - record.base > static_cast<std::ptrdiff_t>(record.size - binding.length)) {
        return false;
    }
    window->second = Window{key, true, window->second.fabric_wide, binding};
    return true;
}

bool MemoryRegistry::invalidate(std::uint32_t key, std::uint64_t connection) {
    const auto window = windows_.find(key >> 8);
    if (window == windows_.end()) return false;
    Window& record = window->second;
    if (!record.bound || record.fabric_wide || record.key != key || record.binding.connection != connection) {
        return false;
    }
    record.bound = false;
    return true;
}

namespace {

// `length` bytes at `addr` inside [begin, begin + size): the offset, or nullopt-like ~0.
constexpr std::uint64_t kOutside = ~std::uint64_t{0};

std::uint64_t offset_within(std::uint64_t begin, std::uint64_t size, std::uint64_t addr,
                            std::uint64_t length) {
    if (addr < begin) return kOutside;
    const std::uint64_t offset = addr - begin;
    if (offset > size || length > size - offset) return kOutside;
    return offset;
}

}  // namespace

std::byte* MemoryRegistry::resolve(std::uint32_t rkey, std::uint64_t addr, std::uint64_t length,
                                   std::uint32_t needed, std::uint64_t connection) const {
    if (const auto found = records_.find(rkey); found != records_.end()) {
        const Record& record = found->second;
        if ((record.access & needed) != needed) return nullptr;
        const std::uint64_t offset =
            offset_within(reinterpret_cast<std::uint64_t>(record.base), record.size, addr, length);
        return offset == kOutside ? nullptr : record.base + offset;
    }
    const auto window = windows_.find(rkey >> 8);
    if (window == windows_.end()) return nullptr;
    const Window& record = window->second;
    if (!record.bound || record.key != rkey || record.binding.length == 0) return nullptr;
    if (!record.fabric_wide && record.binding.connection != connection) return nullptr;
    if ((record.binding.access & needed) != needed) return nullptr;
    const WindowBinding& binding = record.binding;
    const std::uint64_t offset =
        offset_within(reinterpret_cast<std::uint64_t>(binding.base), binding.length, addr, length);
    return offset == kOutside ? nullptr : binding.base + offset;
}

}  // namespace ibnbd::fabric::sim
