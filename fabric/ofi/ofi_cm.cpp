// Domain: the connection-management event queue. Events name their object by fid; the fid is
// only compared with live objects, never dereferenced, so events of destroyed objects are
// dropped safely.
#include <array>
#include <cerrno>

#include <rdma/fi_cm.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>

#include "fabric/ofi/ofi_domain.hpp"
#include "fabric/ofi/ofi_endpoint.hpp"
#include "fabric/ofi/ofi_errors.hpp"
#include "fabric/ofi/ofi_listener.hpp"
#include "fabric/ofi/ofi_log.hpp"

namespace ibnbd::fabric::ofi {

namespace {

// Room for any provider's CM data after the entry header (tcp: 256 bytes).
constexpr std::size_t kCmDataRoom = 512;

std::span<const std::byte> cm_data(const std::byte* entry, std::size_t length) {
    if (length <= sizeof(fi_eq_cm_entry)) return {};
    return {entry + sizeof(fi_eq_cm_entry), length - sizeof(fi_eq_cm_entry)};
}

}  // namespace

OfiListener* Domain::listener_of(const fid* provider_fid) const {
    for (OfiListener* listener : listeners_) {
        if (listener->provider_fid() == provider_fid) return listener;
    }
    return nullptr;
}

std::size_t Domain::poll_cm(std::size_t budget) {
    std::size_t delivered = 0;
    alignas(fi_eq_cm_entry) std::array<std::byte, sizeof(fi_eq_cm_entry) + kCmDataRoom> buffer{};
    while (delivered < budget) {
        std::uint32_t event = 0;
        // fi_eq_read runs the tcp provider's connection manager, which reads a connection's CM
        // request (or answer) and, when recv() returns fewer bytes than a header, takes the
        // error from errno without checking that recv() set it: at end-of-file (a peer that
        // connected and closed, or sent a few bytes and closed) errno is whatever the last failed
        // call of this thread left, often EAGAIN from a non-blocking read, and the provider then
        // keeps the socket as "try again". It stays in CLOSE-WAIT for good, always readable, so
        // the event queue's wait fd never lets the reactor sleep (libfabric 1.17, rx_cm_data()).
        // With errno cleared, end-of-file reads as an error and the provider closes the socket.
        errno = 0;
        const ssize_t read = fi_eq_read(eq_, &event, buffer.data(), buffer.size(), 0);
        if (read == -FI_EAGAIN) break;
        if (read == -FI_EAVAIL) {
            delivered += dispatch_cm_error();
            continue;
        }
        if (read < 0) {
            ofi_log().error("fi_eq_read: {}", fi_error_text(read));
            break;
        }
        delivered += dispatch_cm_event(event, buffer.data(), static_cast<std::size_t>(read));
    }
    return delivered;
}

std::size_t Domain::dispatch_cm_event(std::uint32_t event, const std::byte* entry, std::size_t length) {
    const auto* cm_entry = reinterpret_cast<const fi_eq_cm_entry*>(entry);
    const auto data = cm_data(entry, length);
    switch (event) {
        case FI_CONNREQ: {
            OfiListener* listener = listener_of(cm_entry->fid);
            if (listener == nullptr) {  // its listener is gone
                drop_request(*this, cm_entry->info);
                fi_freeinfo(cm_entry->info);
                return 0;
            }
            listener->on_connect_request(cm_entry->info, data);
            return 1;
        }
        case FI_CONNECTED: {
            OfiEndpoint* endpoint = endpoint_of(cm_entry->fid);
            return endpoint && endpoint->on_cm_connected(data) ? 1 : 0;
        }
        case FI_SHUTDOWN: {
            if (OfiEndpoint* endpoint = endpoint_of(cm_entry->fid)) endpoint->on_cm_shutdown();
            return 0;
        }
        default:
            ofi_log().debug("ignoring connection event {}", event);
            if (event == FI_CONNREQ && cm_entry->info) fi_freeinfo(cm_entry->info);
            return 0;
    }
}

std::size_t Domain::dispatch_cm_error() {
    std::array<std::byte, kCmDataRoom> error_data{};
    fi_eq_err_entry error{};
    error.err_data = error_data.data();
    error.err_data_size = error_data.size();
    if (fi_eq_readerr(eq_, &error, 0) < 0) return 0;
    OfiEndpoint* endpoint = endpoint_of(error.fid);
    if (endpoint == nullptr) {
        ofi_log().debug("connection error for a closed object: {}", fi_error_text(error.err));
        return 0;
    }
    // Providers copy into our buffer (API >= 1.5) or point at their own, valid until the next read.
    const std::span<const std::byte> data(static_cast<const std::byte*>(error.err_data),
                                          error.err_data ? error.err_data_size : 0);
    return endpoint->on_cm_error(error.err, data) ? 1 : 0;
}

}  // namespace ibnbd::fabric::ofi
