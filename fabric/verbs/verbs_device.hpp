// The rdma-core resources one VerbsFabric shares among its listeners, connections and memory
// regions: the chosen device (ibv_context), its protection domain, the RDMA CM event channel, the
// completion channel and an epoll descriptor over the two; and the registry of connections and
// listeners that CM events and poll() dispatch to.
//
// Connections are owned here, not by their Endpoint: a connection outlives its Endpoint until its
// queue pair may be destroyed (TIMEWAIT_EXIT, see verbs_fabric.hpp). Destroyed objects are only
// removed between dispatches (reap()), so a callback may destroy anything it owns.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "fabric/fabric.hpp"
#include "fabric/verbs/verbs_fabric.hpp"

namespace ibnbd::fabric::verbs {

class Connection;
class VerbsListener;

// What an rdma_cm_id's context points to.
struct CmOwner {
    enum class Kind : std::uint8_t { listener, connection };
    explicit CmOwner(Kind owner_kind) : kind(owner_kind) {}
    Kind kind;
};

using fabric::monotonic_now;  // fabric/host_fabric.hpp

class RdmaDevice {
public:
    // Errors: see VerbsFabric::create().
    static Expected<std::unique_ptr<RdmaDevice>, Errc> open(const VerbsConfig& config);
    ~RdmaDevice();
    RdmaDevice(const RdmaDevice&) = delete;
    RdmaDevice& operator=(const RdmaDevice&) = delete;

    const VerbsConfig& config() const { return config_; }
    ibv_context* context() const { return context_; }
    ibv_pd* pd() const { return pd_; }
    const ibv_device_attr& attr() const { return attr_; }
    rdma_event_channel* cm_channel() const { return cm_channel_; }
    ibv_comp_channel* completion_channel() const { return completion_channel_; }
    int wait_fd() const { return epoll_fd_; }
    std::string name() const;
    // Local entries per work request: min(kMaxSge, device max_sge).
    std::uint32_t sge_limit() const { return sge_limit_; }
    // Whether the device allocates type-2 memory windows (probed at open).
    bool windows_supported() const { return windows_supported_; }
    bool type1_windows_supported() const { return type1_windows_supported_; }
    // The ibv_wc.wc_flags bits that mean "this receive invalidated a key" on this device:
    // IBV_WC_WITH_INV, and on rxe also the kernel's IB_WC_WITH_INVALIDATE (see verbs_device.cpp).
    unsigned invalidation_wc_flags() const { return invalidation_wc_flags_; }

    // Takes ownership of a new connection; it stays until reap() finds it finished.
    Connection* adopt(std::unique_ptr<Connection> connection);
    void add(VerbsListener* listener);
    void remove(VerbsListener* listener);
    // Destroys an id nothing owns any more (a listener's, a rejected detached request's) now, or
    // after the event being dispatched has been acknowledged.
    void destroy_unowned_id(rdma_cm_id* id);
    void count_endpoint(int delta) { endpoints_ += delta; }
    // Detached connect requests whose id is still on this RdmaDevice's CM event channel. A sibling
    // fabric's thread takes one off when it accepts it, hence atomic.
    void count_detached_request(int delta) { detached_requests_ += delta; }
    void count_memory_region(int delta) { memory_regions_ += delta; }
    void count_memory_window(int delta) { memory_windows_ += delta; }
    void count_timewait_exit() { ++stats_.timewait_exits; }
    void count_local_flush() { ++stats_.local_flushes; }
    VerbsStats stats() const;

    // Whether the CM channel or the completion channel has something (epoll, no waiting).
    bool events_pending() const;
    // Reads the completion channel: marks the CQs that fired as no longer armed.
    void drain_completion_channel();
    // Delivers CM events (verbs_cm.cpp). Returns the number of callbacks made.
    std::size_t poll_cm(std::size_t budget);
    // Delivers completions, flushes and pending outcomes. Returns the number of callbacks.
    std::size_t poll_connections(std::size_t budget);
    // Destroys the connections that are finished and whose Endpoint is gone.
    void reap();

private:
    explicit RdmaDevice(const VerbsConfig& config);
    Status<Errc> open_channels();
    Status<Errc> choose_context();
    ibv_context* context_for_address(ibv_context** list, int count);
    Status<Errc> open_resources();
    void probe_windows();
    std::size_t dispatch(rdma_cm_event* event);
    std::size_t dispatch_connect_request(rdma_cm_event* event);

    VerbsConfig config_;
    rdma_event_channel* cm_channel_ = nullptr;
    ibv_context* context_ = nullptr;  // owned by librdmacm
    ibv_pd* pd_ = nullptr;
    ibv_comp_channel* completion_channel_ = nullptr;
    int epoll_fd_ = -1;
    ibv_device_attr attr_{};
    std::uint32_t sge_limit_ = 1;
    bool windows_supported_ = false;
    bool type1_windows_supported_ = false;
    unsigned invalidation_wc_flags_ = IBV_WC_WITH_INV;
    std::vector<std::unique_ptr<Connection>> connections_;
    std::vector<VerbsListener*> listeners_;
    std::vector<rdma_cm_id*> doomed_ids_;
    std::size_t cursor_ = 0;
    bool dispatching_ = false;
    int endpoints_ = 0;
    int memory_regions_ = 0;
    int memory_windows_ = 0;
    std::atomic<int> detached_requests_{0};
    VerbsStats stats_;
};

}  // namespace ibnbd::fabric::verbs
