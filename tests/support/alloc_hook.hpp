// Counts heap allocations of the whole program. Link alloc_hook.cpp into a test or benchmark
// binary (it replaces the global operator new/delete) and read allocation_count() around the code
// under measurement.
#pragma once

#include <cstdint>

namespace ibnbd::test {

std::uint64_t allocation_count();

}  // namespace ibnbd::test
