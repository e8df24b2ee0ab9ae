#include "core/ibtrs/chunk_keys.hpp"

#include <cassert>
#include <cerrno>

#include "core/log.hpp"

namespace ibnbd::ibtrs {

namespace {

std::string_view to_string(ChunkKeys::State state) {
    switch (state) {
        case ChunkKeys::State::unbound: return "unbound";
        case ChunkKeys::State::bound: return "bound";
        case ChunkKeys::State::revoking: return "revoking";
        case ChunkKeys::State::revoked: return "revoked";
    }
    return "?";
}

}  // namespace

Status<int> ChunkKeys::init(fabric::Fabric& fabric, std::span<std::byte> chunks, std::uint32_t chunk_size,
                            std::uint32_t count) {
    assert(chunks.size() >= std::size_t{chunk_size} * count);
    if (!fabric.supports_fabric_windows()) return unexpected(-EOPNOTSUPP);
    chunk_size_ = chunk_size;
    regions_.reserve(count);
    windows_.reserve(count);
    for (std::uint32_t chunk = 0; chunk < count; ++chunk) {
        auto region = RegisteredBuffer::register_external(
            fabric, chunks.subspan(std::size_t{chunk} * chunk_size, chunk_size),
            fabric::access_local_write | fabric::access_window_bind);
        auto window = fabric.allocate_fabric_window();
        if (!region || !window) return unexpected(-ENOMEM);
        regions_.push_back(std::move(region.value()));
        windows_.push_back(std::move(window.value()));
    }
    auto keys = RegisteredBuffer::create(fabric, std::size_t{count} * wire::kRkeyRspSize, fabric::access_local_write);
    if (!keys) return unexpected(-ENOMEM);
    key_responses_ = std::move(keys.value());
    states_.assign(count, State::unbound);
    parked_.assign(count, Parked{});
    return {};
}

void ChunkKeys::set_state(std::uint32_t chunk, State to) {
    log().debug("ibtrs chunk {} key: {} -> {}", chunk, to_string(states_[chunk]), to_string(to));
    states_[chunk] = to;
}

Status<fabric::Errc> ChunkKeys::bind_all(fabric::Endpoint& endpoint, std::uint64_t context,
                                         std::span<wire::SgDesc> descs) {
    assert(descs.size() == count());
    for (std::uint32_t chunk = 0; chunk < count(); ++chunk) {
        const RegisteredBuffer& region = regions_[chunk];
        const fabric::WindowBind bind{region.mr(), region.data(), chunk_size_, fabric::access_remote_write};
        auto key = endpoint.post_bind_window(context, *windows_[chunk], bind);
        if (!key) return unexpected(key.error());
        set_state(chunk, State::bound);
        descs[chunk] = wire::SgDesc{key->addr, key->rkey, chunk_size_};
    }
    return {};
}

Status<fabric::Errc> ChunkKeys::revoke(fabric::Endpoint& endpoint, std::uint64_t context, std::uint32_t chunk) {
    assert(states_[chunk] == State::bound);
    const RegisteredBuffer& region = regions_[chunk];
    const fabric::WindowBind revocation{region.mr(), region.data(), 0, fabric::access_remote_write};
    if (auto posted = endpoint.post_bind_window(context, *windows_[chunk], revocation); !posted) {
        return unexpected(posted.error());
    }
    set_state(chunk, State::revoking);
    return {};
}

bool ChunkKeys::revocation_done(std::uint32_t chunk) {
    if (chunk >= count() || states_[chunk] != State::revoking) return false;
    set_state(chunk, State::revoked);
    return true;
}

Expected<fabric::Sge, fabric::Errc> ChunkKeys::rotate(fabric::Endpoint& endpoint, std::uint64_t context,
                                                      std::uint32_t chunk) {
    if (windows_.empty()) return unexpected(fabric::Errc::not_connected);
    const RegisteredBuffer& region = regions_[chunk];
    const fabric::WindowBind bind{region.mr(), region.data(), chunk_size_, fabric::access_remote_write};
    auto key = endpoint.post_bind_window(context, *windows_[chunk], bind);
    if (!key) return unexpected(key.error());
    set_state(chunk, State::bound);
    const std::size_t offset = std::size_t{chunk} * wire::kRkeyRspSize;
    (void)wire::encode_rkey_rsp({static_cast<std::uint16_t>(chunk), key->rkey},
                                key_responses_.span().subspan(offset, wire::kRkeyRspSize));
    return key_responses_.sge(offset, wire::kRkeyRspSize);
}

void ChunkKeys::close() {
    windows_.clear();
    for (std::uint32_t chunk = 0; chunk < count(); ++chunk) {
        if (states_[chunk] != State::unbound) set_state(chunk, State::unbound);
    }
}

}  // namespace ibnbd::ibtrs
