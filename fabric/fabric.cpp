// Names and address parsing shared by every backend.
#include "fabric/fabric.hpp"

#include <charconv>

namespace ibnbd::fabric {

std::string_view to_string(Errc errc) {
    switch (errc) {
        case Errc::invalid_argument: return "invalid argument";
        case Errc::private_data_too_long: return "private data too long";
        case Errc::queue_full: return "queue full";
        case Errc::not_connected: return "not connected";
        case Errc::address_in_use: return "address in use";
        case Errc::address_invalid: return "address invalid";
        case Errc::registration_failed: return "memory registration failed";
        case Errc::no_resources: return "no resources";
        case Errc::backend_error: return "backend error";
        case Errc::not_supported: return "not supported by this backend";
    }
    return "unknown error";
}

std::string_view to_string(WcStatus status) {
    switch (status) {
        case WcStatus::success: return "success";
        case WcStatus::flushed: return "flushed";
        case WcStatus::local_error: return "local error";
        case WcStatus::remote_access_error: return "remote access error";
        case WcStatus::remote_operation_error: return "remote operation error";
        case WcStatus::rnr_retry_exceeded: return "receiver not ready, retries exceeded";
        case WcStatus::transport_retry_exceeded: return "transport retries exceeded";
        case WcStatus::general_error: return "general error";
    }
    return "unknown status";
}

std::string_view to_string(Opcode opcode) {
    if (opcode == kOpBindWindow) return "bind_window";
    if (opcode == kOpLocalInvalidate) return "local_invalidate";
    switch (opcode) {
        case Opcode::send: return "send";
        case Opcode::rdma_write: return "rdma_write";
        case Opcode::rdma_read: return "rdma_read";
        case Opcode::recv: return "recv";
        case Opcode::recv_rdma_with_imm: return "recv_rdma_with_imm";
    }
    return "unknown opcode";
}

std::string_view to_string(CmEventType type) {
    switch (type) {
        case CmEventType::established: return "established";
        case CmEventType::rejected: return "rejected";
        case CmEventType::unreachable: return "unreachable";
        case CmEventType::disconnected: return "disconnected";
    }
    return "unknown event";
}

bool window_bind_is_valid(const WindowBind& bind) {
    constexpr std::uint32_t kRemote = access_remote_read | access_remote_write;
    if (bind.mr == nullptr || bind.addr == nullptr || bind.length == 0) return false;
    if (bind.access == 0 || (bind.access & ~kRemote) != 0) return false;
    const std::uint32_t region_access = bind.mr->access();
    if ((region_access & access_window_bind) == 0) return false;
    if ((bind.access & access_remote_write) && (region_access & (access_local_write | access_remote_write)) == 0) {
        return false;
    }
    const std::byte* begin = bind.mr->data();
    const std::size_t size = bind.mr->size();
    if (bind.addr < begin || bind.length > size) return false;
    return static_cast<std::size_t>(bind.addr - begin) <= size - bind.length;
}

bool window_revoke_is_valid(const WindowBind& bind) {
    return bind.mr != nullptr && bind.length == 0 && (bind.mr->access() & access_window_bind) != 0;
}

// Backends that support invalidation override these; decorators forward them.
Status<Errc> Endpoint::post_send_invalidate(std::uint64_t, std::span<const Sge>, std::uint32_t) {
    return unexpected(Errc::not_supported);
}

Status<Errc> Endpoint::post_local_invalidate(std::uint64_t, std::uint32_t) {
    return unexpected(Errc::not_supported);
}

Expected<RemoteKey, Errc> Endpoint::post_bind_window(std::uint64_t, MemoryWindow&, const WindowBind&) {
    return unexpected(Errc::not_supported);
}

std::string Address::to_string() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string text = v6 ? "[" + host + "]" : host;
    return text + ":" + std::to_string(port);
}

Expected<Address, Errc> Address::parse(std::string_view text, std::uint16_t default_port) {
    Address address;
    address.port = default_port;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return unexpected(Errc::address_invalid);
        address.host = std::string(text.substr(1, close - 1));
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return unexpected(Errc::address_invalid);
            port_text = rest.substr(1);
        }
    } else {
        const auto colon = text.find(':');
        if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
            address.host = std::string(text.substr(0, colon));
            port_text = text.substr(colon + 1);
        } else {
            address.host = std::string(text);  // no port, or a bare IPv6 address
        }
    }
    if (address.host.empty()) return unexpected(Errc::address_invalid);
    if (!port_text.empty() || (text.size() && text.back() == ':')) {
        unsigned value = 0;
        const auto* end = port_text.data() + port_text.size();
        const auto [ptr, ec] = std::from_chars(port_text.data(), end, value);
        if (ec != std::errc{} || ptr != end || port_text.empty() || value > 65535) {
            return unexpected(Errc::address_invalid);
        }
        address.port = static_cast<std::uint16_t>(value);
    }
    return address;
}

}  // namespace ibnbd::fabric
