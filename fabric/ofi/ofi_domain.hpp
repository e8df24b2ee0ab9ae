// The libfabric resources one OfiFabric shares among its listeners, endpoints and memory
// regions: fabric, domain, connection-management event queue, the provider's traits, and the
// registry of live listeners and endpoints that the event queue and poll() dispatch to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rdma/fabric.h>
#include <rdma/fi_eq.h>

#include "fabric/fabric.hpp"
#include "fabric/ofi/ofi_fabric.hpp"
#include "fabric/ofi/ofi_pending.hpp"

namespace ibnbd::fabric::ofi {

class OfiEndpoint;
class OfiListener;

// First byte of the private data of every reject this backend sends (see ofi_fabric.hpp).
inline constexpr std::byte kRejectTag{0xA5};

// What the provider granted, decided once at open().
struct ProviderTraits {
    std::string provider;
    bool mr_local = false;       // descriptors must accompany local buffers
    bool mr_virt_addr = false;   // remote addresses are virtual addresses, not offsets
    bool mr_prov_key = false;    // the provider chooses MR keys
    bool imm_consumes_recv = false;  // FI_RX_CQ_DATA: remote CQ data consumes a posted receive
    // 64-bit CQ data: the upper half carries a write-with-imm's length, which providers such as
    // tcp do not report at the target (the low half is the 32-bit immediate).
    bool length_in_cq_data = false;
    std::size_t cm_data_size = 0;    // FI_OPT_CM_DATA_SIZE
    std::size_t iov_limit = 0;       // local entries per operation (capped at kMaxSge)
};

class Domain {
public:
    // Errors: backend_error (provider missing or lacking what we need), no_resources.
    static Expected<std::unique_ptr<Domain>, Errc> open(const OfiConfig& config);
    ~Domain();
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    fid_fabric* fabric() const { return fabric_; }
    fid_domain* domain() const { return domain_; }
    fid_eq* eq() const { return eq_; }
    const fi_info* info() const { return info_; }
    const ProviderTraits& traits() const { return traits_; }
    bool delivery_complete() const { return delivery_complete_; }

    // A fresh copy of the provider's fi_info for a new (passive) endpoint; caller frees it.
    fi_info* duplicate_info() const;
    // Keys for providers without FI_MR_PROV_KEY: unique in this domain, nonzero, 32 bits, never
    // kNullKey.
    std::uint64_t next_mr_key();
    // Where a zero-length write goes. fabric.hpp promises that an empty write touches no memory
    // and ignores its key, but providers that let us choose keys (tcp) still look the key up; so
    // every domain registers a one-byte region under this reserved key, and empty writes name it.
    static constexpr std::uint32_t kNullKey = 0xFFFFFFFFu;
    RemoteKey empty_write_target(RemoteKey requested) const {
        return traits_.mr_prov_key ? requested : RemoteKey{0, kNullKey};
    }

    void add(OfiEndpoint* endpoint);
    void remove(OfiEndpoint* endpoint);
    void add(OfiListener* listener);
    void remove(OfiListener* listener);
    bool empty() const;
    void count_memory_region(int delta) { memory_regions_ += delta; }

    // Wait objects (see ofi_fabric.hpp, WAITING WHEN IDLE). cq_wait_obj() is what new CQs ask
    // for; watch()/unwatch() add a CQ's wait fd to wait_fd() (-1: the provider has none).
    fi_wait_obj cq_wait_obj() const { return wait_fd_ >= 0 ? FI_WAIT_FD : FI_WAIT_NONE; }
    void watch(fid* queue);
    void unwatch(fid* queue);
    int wait_fd() const { return wait_fd_; }
    // fi_trywait over the event queue and every CQ: true when sleeping on wait_fd() is safe.
    bool prepare_sleep();

    // Delivers connection events (ofi_cm.cpp). Returns the number of callbacks made.
    std::size_t poll_cm(std::size_t budget);
    // Bounds the connections the provider accepted on a listener that have not become a connect
    // request yet (ofi_pending.hpp); counts the ones closed in their listener's stats. Returns how
    // many were waiting. Without listeners (or limits) it does nothing.
    std::size_t sweep_pending(Nanos now);
    bool sweeps() const { return sweeper_.has_value() && sweeper_->enabled() && !listeners_.empty(); }
    const PendingSweeper* sweeper() const { return sweeper_ ? &*sweeper_ : nullptr; }
    // Delivers completions and endpoint events, round robin. Returns the number of callbacks.
    std::size_t poll_endpoints(std::size_t budget);

private:
    Domain() = default;
    Status<Errc> open_resources(const OfiConfig& config);
    int open_event_queue();
    void start_sweeper(const OfiConfig& config);
    void stop_waiting();
    void learn_traits();
    void compact_endpoints();
    OfiEndpoint* endpoint_of(const fid* provider_fid) const;
    OfiListener* listener_of(const fid* provider_fid) const;
    std::size_t dispatch_cm_event(std::uint32_t event, const std::byte* entry, std::size_t length);
    std::size_t dispatch_cm_error();

    fi_info* info_ = nullptr;
    fid_fabric* fabric_ = nullptr;
    fid_domain* domain_ = nullptr;
    fid_eq* eq_ = nullptr;
    ProviderTraits traits_;
    bool delivery_complete_ = true;
    std::uint32_t last_mr_key_ = 0;
    fid_mr* null_mr_ = nullptr;
    std::byte null_byte_{};
    int memory_regions_ = 0;
    // Removal during poll leaves a nullptr hole (the loop re-checks); holes are compacted later.
    std::vector<OfiEndpoint*> endpoints_;
    std::vector<OfiListener*> listeners_;
    std::size_t cursor_ = 0;
    bool polling_ = false;
    int wait_fd_ = -1;             // epoll over the EQ's and the CQs' wait fds
    std::vector<fid*> waited_;     // the EQ and every CQ, for fi_trywait
    std::optional<PendingSweeper> sweeper_;  // over the EQ's wait set
};

}  // namespace ibnbd::fabric::ofi
