// Reactor threads for the daemons: one Reactor per thread,
// count configurable (default: one per core). Everything a reactor drives (its fabric, its
// sessions, their NBD exports) is added to it before start() and belongs to its thread from then
// on; other threads reach it only through Reactor::post (bounded: -EAGAIN when full).
//
// The caller's own thread runs reactor 0 (control socket, signals) with Reactor::run(); start()
// runs reactors 1..count-1 on threads of their own. stop() stops and joins them; it runs at the
// latest in the destructor. Objects owned by a reactor may be destroyed after stop().
#pragma once

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::runtime {

class ReactorThreads {
public:
    // count: 1.., clamped to kMaxReactors. config: for every reactor.
    explicit ReactorThreads(std::size_t count, ReactorConfig config = {});
    ~ReactorThreads();
    ReactorThreads(const ReactorThreads&) = delete;
    ReactorThreads& operator=(const ReactorThreads&) = delete;

    static constexpr std::size_t kMaxReactors = 256;
    // One per core the process may run on (at least 1).
    static std::size_t default_count();

    std::size_t size() const { return reactors_.size(); }
    Reactor& reactor(std::size_t index) { return *reactors_.at(index); }
    // Starts threads for reactors 1..size()-1. Once only.
    void start();
    // Stops every reactor (0 included) and joins the threads. Idempotent.
    void stop();
    // After stop(), on the calling thread: runs every reactor's pending tasks, again and again,
    // until none is left (a task may post to another reactor). Teardown runs it before it frees
    // the objects those tasks refer to.
    void run_left_tasks();

private:
    std::vector<std::unique_ptr<Reactor>> reactors_;
    std::vector<std::thread> threads_;
};

}  // namespace ibnbd::runtime
