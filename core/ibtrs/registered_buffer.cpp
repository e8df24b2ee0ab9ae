#include "core/ibtrs/registered_buffer.hpp"

#include <cstdlib>
#include <cstring>

namespace ibnbd::ibtrs {

namespace {
constexpr std::size_t kAlignment = 4096;
}

void RegisteredBuffer::FreeAligned::operator()(std::byte* p) const { std::free(p); }

Expected<RegisteredBuffer, fabric::Errc> RegisteredBuffer::create(fabric::Fabric& fabric,
                                                                 std::size_t size,
                                                                 std::uint32_t access) {
    if (size == 0) return unexpected(fabric::Errc::invalid_argument);
    const std::size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
    auto* raw = static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded));
    if (raw == nullptr) return unexpected(fabric::Errc::no_resources);
    std::memset(raw, 0, rounded);
    RegisteredBuffer buffer;
    buffer.owned_.reset(raw);
    buffer.memory_ = std::span<std::byte>(raw, size);
    auto mr = fabric.register_memory(raw, size, access);
    if (!mr) return unexpected(mr.error());
    buffer.mr_ = std::move(mr.value());
    return buffer;
}

Expected<RegisteredBuffer, fabric::Errc> RegisteredBuffer::register_external(
    fabric::Fabric& fabric, std::span<std::byte> memory, std::uint32_t access) {
    RegisteredBuffer buffer;
    buffer.memory_ = memory;
    auto mr = fabric.register_memory(memory.data(), memory.size(), access);
    if (!mr) return unexpected(mr.error());
    buffer.mr_ = std::move(mr.value());
    return buffer;
}

}  // namespace ibnbd::ibtrs
