#include "ibnbd/runtime/reactor_threads.hpp"

#include <sched.h>

#include <algorithm>
#include <cassert>

namespace ibnbd::runtime {

ReactorThreads::ReactorThreads(std::size_t count, ReactorConfig config) {
    count = std::clamp<std::size_t>(count, 1, kMaxReactors);
    reactors_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) reactors_.push_back(std::make_unique<Reactor>(config));
}

ReactorThreads::~ReactorThreads() { stop(); }

std::size_t ReactorThreads::default_count() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}

void ReactorThreads::start() {
    assert(threads_.empty());
    for (std::size_t i = 1; i < reactors_.size(); ++i) {
        threads_.emplace_back([reactor = reactors_[i].get()] { reactor->run(); });
    }
}

void ReactorThreads::stop() {
    for (auto& reactor : reactors_) reactor->stop();
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
    threads_.clear();
}

void ReactorThreads::run_left_tasks() {
    assert(threads_.empty());
    for (bool ran = true; ran;) {
        ran = false;
        for (auto& reactor : reactors_) ran = reactor->run_pending_tasks() != 0 || ran;
    }
}

}  // namespace ibnbd::runtime
