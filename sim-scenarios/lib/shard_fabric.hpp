// Sessions with several IO shards on the simulator, where every shard would run on its own
// reactor (for the scenario runner's `io_shards` and the tests): a Fabric view per shard over the
// one client node, which counts every posted entry whose memory was registered through another
// view (a shard touching another's objects), and a Mailbox that delivers later, from the event
// loop, as a cross-thread mailbox would.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/ibtrs/shard_control.hpp"
#include "fabric/forwarding_fabric.hpp"

namespace ibnbd::scenario {

// Every view's memory regions, so an entry from one view can still be handed to the simulator.
struct ViewRegistry {
    struct Entry {
        const void* view;
        const fabric::MemoryRegion* inner;
    };
    std::map<const fabric::MemoryRegion*, Entry> regions;
};

class ShardFabric final : public fabric::ForwardingFabric {
public:
    ShardFabric(fabric::Fabric& inner, ViewRegistry& registry) : ForwardingFabric(inner), registry_(registry) {}

    std::size_t foreign_entries = 0;  // posted entries with memory of another view
    std::size_t connects = 0;         // endpoints this view created
    std::size_t accepts = 0;          // detached requests this view accepted

    // Disconnects this view's live connections to `peer_host`; returns how many.
    std::size_t disconnect_to(const std::string& peer_host) {
        std::size_t count = 0;
        for (View* view : live_) {
            if (view->inner->connected() && view->inner->peer_address().host == peer_host) {
                view->inner->disconnect();
                ++count;
            }
        }
        return count;
    }

    Expected<std::unique_ptr<fabric::Endpoint>, fabric::Errc> connect(const fabric::Address& destination,
                                                                      const fabric::Address& source,
                                                                      std::span<const std::byte> private_data,
                                                                      fabric::EndpointHandler& handler,
                                                                      fabric::QueueSizes queues) override {
        auto endpoint = inner_.connect(destination, source, private_data, handler, queues);
        if (!endpoint) return unexpected(endpoint.error());
        ++connects;
        return std::unique_ptr<fabric::Endpoint>(new View(*this, std::move(endpoint.value())));
    }

    Expected<std::unique_ptr<fabric::Endpoint>, fabric::Errc> accept(fabric::DetachedConnectRequest& request,
                                                                     std::span<const std::byte> private_data,
                                                                     fabric::EndpointHandler& handler,
                                                                     fabric::QueueSizes queues) override {
        auto endpoint = inner_.accept(request, private_data, handler, queues);
        if (!endpoint) return unexpected(endpoint.error());
        ++accepts;
        return std::unique_ptr<fabric::Endpoint>(new View(*this, std::move(endpoint.value())));
    }

    Expected<std::unique_ptr<fabric::MemoryRegion>, fabric::Errc> register_memory(std::byte* data, std::size_t size,
                                                                                 std::uint32_t access) override {
        auto mr = inner_.register_memory(data, size, access);
        if (!mr) return unexpected(mr.error());
        return std::unique_ptr<fabric::MemoryRegion>(new Region(*this, std::move(mr.value())));
    }

private:
    struct Region final : fabric::MemoryRegion {
        Region(ShardFabric& owner, std::unique_ptr<fabric::MemoryRegion> inner)
            : owner(owner), inner(std::move(inner)) {
            owner.registry_.regions[this] = {&owner, this->inner.get()};
        }
        ~Region() override { owner.registry_.regions.erase(this); }
        std::byte* data() const override { return inner->data(); }
        std::size_t size() const override { return inner->size(); }
        std::uint32_t access() const override { return inner->access(); }
        fabric::RemoteKey remote_key() const override { return inner->remote_key(); }
        ShardFabric& owner;
        std::unique_ptr<fabric::MemoryRegion> inner;
    };

    struct View final : fabric::Endpoint {
        View(ShardFabric& owner, std::unique_ptr<fabric::Endpoint> inner) : owner(owner), inner(std::move(inner)) {
            owner.live_.insert(this);
        }
        ~View() override { owner.live_.erase(this); }
        Status<fabric::Errc> post_recv(std::uint64_t context, std::span<const fabric::Sge> sges) override {
            return inner->post_recv(context, owner.translate(sges, buffer));
        }
        Status<fabric::Errc> post_send(std::uint64_t context, std::span<const fabric::Sge> sges,
                                       const std::uint32_t* imm) override {
            return inner->post_send(context, owner.translate(sges, buffer), imm);
        }
        Status<fabric::Errc> post_write(std::uint64_t context, std::span<const fabric::Sge> sges,
                                        fabric::RemoteKey remote, const std::uint32_t* imm) override {
            return inner->post_write(context, owner.translate(sges, buffer), remote, imm);
        }
        Status<fabric::Errc> post_read(std::uint64_t context, std::span<const fabric::Sge> sges,
                                       fabric::RemoteKey remote) override {
            return inner->post_read(context, owner.translate(sges, buffer), remote);
        }
        Status<fabric::Errc> post_send_invalidate(std::uint64_t context, std::span<const fabric::Sge> sges,
                                                  std::uint32_t rkey) override {
            return inner->post_send_invalidate(context, owner.translate(sges, buffer), rkey);
        }
        Status<fabric::Errc> post_local_invalidate(std::uint64_t context, std::uint32_t rkey) override {
            return inner->post_local_invalidate(context, rkey);
        }
        Expected<fabric::RemoteKey, fabric::Errc> post_bind_window(std::uint64_t context, fabric::MemoryWindow& window,
                                                                   const fabric::WindowBind& bind) override {
            fabric::WindowBind inner_bind = bind;
            inner_bind.mr = owner.inner_region(bind.mr);
            return inner->post_bind_window(context, window, inner_bind);
        }
        void disconnect() override { inner->disconnect(); }
        bool connected() const override { return inner->connected(); }
        const fabric::Address& peer_address() const override { return inner->peer_address(); }
        const fabric::Address& local_address() const override { return inner->local_address(); }
        ShardFabric& owner;
        std::unique_ptr<fabric::Endpoint> inner;
        std::array<fabric::Sge, fabric::kMaxSge + 1> buffer{};
    };

    // The simulator's region behind a view's (a region of no view stays as it is).
    const fabric::MemoryRegion* inner_region(const fabric::MemoryRegion* region) {
        const auto found = registry_.regions.find(region);
        if (found == registry_.regions.end()) return region;
        if (found->second.view != this) ++foreign_entries;
        return found->second.inner;
    }

    std::span<const fabric::Sge> translate(std::span<const fabric::Sge> sges,
                                           std::array<fabric::Sge, fabric::kMaxSge + 1>& out) {
        const std::size_t count = std::min(sges.size(), out.size());
        for (std::size_t i = 0; i < count; ++i) {
            out[i] = sges[i];
            const auto found = registry_.regions.find(sges[i].mr);
            if (found == registry_.regions.end()) continue;  // not a view's: let the simulator judge
            if (found->second.view != this) ++foreign_entries;
            out[i].mr = found->second.inner;
        }
        return {out.data(), count};
    }

    ViewRegistry& registry_;
    std::set<View*> live_;
};

// Runs tasks from the simulator's event loop, in post order: never inside post().
class SimMailbox final : public ibtrs::Mailbox, private fabric::TimerHandler {
public:
    explicit SimMailbox(fabric::Fabric& fabric) : fabric_(fabric) {}
    ~SimMailbox() override {
        for (const fabric::TimerId id : timers_) fabric_.cancel_timer(id);
    }
    void post(std::function<void()> task) override {
        tasks_.push_back(std::move(task));
        timers_.push_back(fabric_.start_timer(0, *this, 0));
    }
    // Runs what is queued now, without the event loop (teardown: nothing must be left behind).
    void run_all() {
        while (!tasks_.empty()) {
            fabric_.cancel_timer(timers_.front());
            on_timer(0);
        }
    }

private:
    void on_timer(std::uint64_t) override {
        timers_.pop_front();
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        task();
    }
    fabric::Fabric& fabric_;
    std::deque<std::function<void()>> tasks_;
    std::deque<fabric::TimerId> timers_;
};

}  // namespace ibnbd::scenario
