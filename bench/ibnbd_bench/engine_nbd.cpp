#include "bench/ibnbd_bench/engine_nbd.hpp"

#include <libnbd.h>
#include <poll.h>

#include <cerrno>

namespace ibnbd::bench {

namespace {

// What a completion callback needs; one per slot, made before the first IO.
struct SlotContext {
    CompletionList* done = nullptr;
    std::uint32_t job = 0;
    std::uint32_t slot = 0;
};

int on_complete(void* user_data, int* error) {
    auto* context = static_cast<SlotContext*>(user_data);
    context->done->push(context->job, context->slot, *error == 0 ? 0 : -*error);
    return 1;  // retire the command now
}

std::string nbd_error_text() {
    const char* text = nbd_get_error();
    return text ? text : "unknown libnbd error";
}

class NbdEngine final : public Engine {
public:
    NbdEngine(const NbdTarget& target, CompletionList& done) : target_(target), done_(done) {}
    ~NbdEngine() override { close(); }

    Expected<Geometry, std::string> open(const EngineSetup& setup) override {
        for (std::uint32_t job = 0; job < setup.jobs; ++job) {
            auto opened = connect_one();
            if (!opened) return unexpected(opened.error());
            handles_.push_back(*opened);
        }
        contexts_.resize(std::size_t{setup.jobs} * setup.slots_per_job);
        for (std::size_t i = 0; i < contexts_.size(); ++i) {
            contexts_[i] = {&done_, static_cast<std::uint32_t>(i / setup.slots_per_job),
                            static_cast<std::uint32_t>(i % setup.slots_per_job)};
        }
        slots_per_job_ = setup.slots_per_job;
        pollfds_.resize(handles_.size());
        if (setup.writable && nbd_is_read_only(handles_.front()) == 1) {
            return unexpected("the NBD export '" + target_.export_name + "' is read-only; use a read workload");
        }
        return geometry();
    }

    int submit(std::uint32_t job, std::uint32_t slot, const IoSpec& io, std::byte* buffer) override {
        SlotContext& context = contexts_[std::size_t{job} * slots_per_job_ + slot];
        nbd_completion_callback callback{on_complete, &context, nullptr};
        const std::int64_t cookie = io.write ? nbd_aio_pwrite(handles_[job], buffer, io.length, io.offset, callback, 0)
                                             : nbd_aio_pread(handles_[job], buffer, io.length, io.offset, callback, 0);
        if (cookie >= 0) return 0;
        const int error = nbd_get_errno();
        return error > 0 ? -error : -EIO;
    }

    void poll(bool may_block) override {
        for (std::size_t i = 0; i < handles_.size(); ++i) {
            pollfds_[i] = {nbd_aio_get_fd(handles_[i]), events_of(handles_[i]), 0};
        }
        if (::poll(pollfds_.data(), pollfds_.size(), may_block ? 2 : 0) <= 0) return;
        for (std::size_t i = 0; i < handles_.size(); ++i) {
            // notify_read first: a reply frees room for the next request.
            if (pollfds_[i].revents & (POLLIN | POLLHUP | POLLERR)) (void)nbd_aio_notify_read(handles_[i]);
            if (pollfds_[i].revents & POLLOUT) (void)nbd_aio_notify_write(handles_[i]);
        }
    }

    void close() override {
        for (nbd_handle* handle : handles_) {
            (void)nbd_shutdown(handle, 0);
            nbd_close(handle);
        }
        handles_.clear();
    }

private:
    static short events_of(nbd_handle* handle) {
        const unsigned direction = nbd_aio_get_direction(handle);
        short events = 0;
        if (direction & LIBNBD_AIO_DIRECTION_READ) events |= POLLIN;
        if (direction & LIBNBD_AIO_DIRECTION_WRITE) events |= POLLOUT;
        return events;
    }

    Expected<nbd_handle*, std::string> connect_one() {
        nbd_handle* handle = nbd_create();
        if (handle == nullptr) return unexpected("libnbd: " + nbd_error_text());
        if (nbd_connect_uri(handle, target_.uri.c_str()) == -1) {
            std::string error = "cannot connect to " + target_.uri + ": " + nbd_error_text();
            nbd_close(handle);
            return unexpected(error);
        }
        return handle;
    }

    Geometry geometry() const {
        Geometry g;
        const std::int64_t size = nbd_get_size(handles_.front());
        g.size = size > 0 ? static_cast<std::uint64_t>(size) : 0;
        const std::int64_t minimum = nbd_get_block_size(handles_.front(), LIBNBD_SIZE_MINIMUM);
        g.block_size = minimum > 0 ? static_cast<std::uint32_t>(minimum) : 1;
        const std::int64_t maximum = nbd_get_block_size(handles_.front(), LIBNBD_SIZE_MAXIMUM);
        g.max_io = maximum > 0 ? static_cast<std::uint32_t>(maximum) : 32u << 20;  // the NBD spec's 32 MiB
        g.description = "libnbd " + std::string(nbd_get_version(handles_.front())) + ", " +
                        std::to_string(handles_.size()) + (handles_.size() == 1 ? " connection" : " connections");
        return g;
    }

    const NbdTarget& target_;
    CompletionList& done_;
    std::vector<nbd_handle*> handles_;
    std::vector<SlotContext> contexts_;
    std::vector<pollfd> pollfds_;
    std::uint32_t slots_per_job_ = 1;
};

}  // namespace

std::unique_ptr<Engine> make_nbd_engine(const NbdTarget& target, CompletionList& done) {
    return std::make_unique<NbdEngine>(target, done);
}

}  // namespace ibnbd::bench
