// A fixed set of worker threads taking jobs from one queue, and parallel_for on top of it.
#include "thread_pool.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace spirt_addon {

size_t ConfiguredThreads() {
  const char *forced = std::getenv("SPIRT_THREADS");
  if (forced && *forced) {
    char *end = nullptr;
    const unsigned long n = std::strtoul(forced, &end, 10);
    if (*end != '\0' || forced[0] == '-' || n < 1 || n > 1024)
      throw std::invalid_argument(std::string("SPIRT_THREADS must be a whole number from 1 to 1024, got '") + forced + "'");
    return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

namespace {

class ThreadPool {
 public:
  explicit ThreadPool(size_t threads) {
    for (size_t i = 0; i < threads; i++) workers_.emplace_back([this] { Work(); });
  }
  // Never destroyed (see Pool()): workers wait on the queue until the process ends.
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  size_t size() const { return workers_.size(); }

  void Submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !jobs_.empty(); });
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
};

// The workers run code of this shared library, which Node.js unloads when the last environment that loaded it
// (a worker thread, say) ends: pin it for the life of the process first.
void KeepLibraryLoaded() {
  Dl_info self;
  if (dladdr(reinterpret_cast<void *>(&KeepLibraryLoaded), &self) && self.dli_fname)
    dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

// Leaked on purpose: joining workers from a static destructor at exit could wait on a running job, and
// destroying a joinable std::thread aborts.
ThreadPool &Pool() {
  static ThreadPool *pool = (KeepLibraryLoaded(), new ThreadPool(ConfiguredThreads()));
  return *pool;
}

// One ParallelFor call, shared with the helper jobs it queued; a helper that starts after the loop finished
// finds no index left and never touches fn.
struct Loop {
  Loop(size_t count, const std::function<void(size_t)> *f) : n(count), fn(f) {}
  const size_t n;
  const std::function<void(size_t)> *const fn;
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::condition_variable finished;
  size_t done = 0;
  std::exception_ptr error;

  void Drain() {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      std::exception_ptr failure;
      try {
        (*fn)(i);
      } catch (...) {
        failure = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (failure && !error) error = failure;
      if (++done == n) finished.notify_all();
    }
  }
};

}  // namespace

void Submit(std::function<void()> job) { Pool().Submit(std::move(job)); }

size_t PoolSize() { return Pool().size(); }

void ParallelFor(size_t n, const std::function<void(size_t)> &fn) {
  if (n == 0) return;
  auto loop = std::make_shared<Loop>(n, &fn);
  const size_t helpers = std::min(n - 1, Pool().size());
  for (size_t h = 0; h < helpers; h++) Pool().Submit([loop] { loop->Drain(); });
  loop->Drain();
  std::unique_lock<std::mutex> lock(loop->mutex);
  loop->finished.wait(lock, [&] { return loop->done == n; });
  if (loop->error) std::rethrow_exception(loop->error);
}

}  // namespace spirt_addon
