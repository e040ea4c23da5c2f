// The addon's one pool of worker threads: created on first use, sized by SPIRT_THREADS or the core count, kept
// for the life of the process. Kernels split ranges across it and background tasks run on it.
#ifndef SPIRT_THREAD_POOL_H
#define SPIRT_THREAD_POOL_H

#include <cstddef>
#include <functional>

namespace spirt_addon {

// The worker count: SPIRT_THREADS when set (a whole number from 1 to 1024), else the hardware's thread count.
// Throws std::invalid_argument for a malformed SPIRT_THREADS.
size_t ConfiguredThreads();

// Runs job on a worker thread, later; job must not throw.
void Submit(std::function<void()> job);

// Calls fn(i) for every i in [0, n), spread over the pool's workers and the calling thread, and returns when all
// calls have returned. Safe to call from a worker (nested loops cannot deadlock: the caller works through the
// indices itself when no worker is free). If calls throw, the first exception is rethrown after all have ended.
void ParallelFor(size_t n, const std::function<void(size_t)> &fn);

// Worker threads in the pool (creates it).
size_t PoolSize();

}  // namespace spirt_addon

#endif
