// Work distribution that never changes results: each index is computed by exactly one
// worker into its own slot, so output does not depend on the thread count or scheduling.
#pragma once

#include <cstddef>
#include <functional>

namespace ramq {

// Number of worker threads to use for `requested` (0 = all hardware threads).
unsigned resolve_threads(unsigned requested);

// Calls fn(i) for i in [0, n) on up to `threads` threads (dynamic scheduling). The first
// exception thrown (lowest index among those that threw) is rethrown after all workers stop.
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn);

}  // namespace ramq
