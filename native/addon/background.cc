// Promise-returning tasks on the thread pool: the work runs on a pool thread, and the promise settles on the
// JavaScript thread through one thread-safe function per environment.
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>

#include "addon.h"
#include "thread_pool.h"

namespace spirt_addon {

namespace {

struct Call {
  Task task;
  Resolve resolve;
  Napi::Promise::Deferred deferred;
  std::vector<Napi::ObjectReference> keep;
  // written by the pool thread before the handoff, read by the JavaScript thread after it
  double result = 0;
  bool failed = false;
  std::string error;
};

void Settle(Napi::Env env, Napi::Function, Background *background, Call *call);
using Handoff = Napi::TypedThreadSafeFunction<Background, Call, Settle>;

}  // namespace

class Background {
 public:
  // Created before the cleanup hook that waits for it (SetUpEnvironment): hooks run in reverse order, so the
  // thread-safe function is torn down only after the last task handed its result over.
  explicit Background(Napi::Env env) : handoff_(Handoff::New(env, "spirt native task", 0, 1, this)) {
    handoff_.Unref(env);  // only pending tasks keep the event loop alive
  }

  Napi::Value Run(Napi::Env env, Task task, const std::vector<Napi::Value> &keep, Resolve resolve,
                  std::shared_ptr<Background> self) {
    try {
      PoolSize();  // the pool starts on first use: a bad SPIRT_THREADS or a thread that cannot start is reported here
    } catch (const std::exception &e) {
      throw Napi::Error::New(env, std::string("spirt native: ") + e.what());
    }
    auto *call = new Call{std::move(task), std::move(resolve), Napi::Promise::Deferred::New(env), {}, 0, false, {}};
    for (const auto &v : keep) call->keep.push_back(Napi::Persistent(v.As<Napi::Object>()));
    Napi::Promise promise = call->deferred.Promise();
    if (pending_++ == 0) handoff_.Ref(env);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      computing_++;
    }
    Submit([this, call, self] {
      try {
        call->result = call->task();
      } catch (const std::exception &e) {
        call->failed = true;
        call->error = e.what();
      }
      // fails only while the environment shuts down; its references went with it, so the call is left as is
      handoff_.BlockingCall(call);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        computing_--;
      }
      idle_.notify_all();
    });
    return promise;
  }

  void Settled(Napi::Env env) {
    if (--pending_ == 0) handoff_.Unref(env);
  }

  void WaitUntilIdle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return computing_ == 0; });
  }

 private:
  Handoff handoff_;
  size_t pending_ = 0;  // JavaScript thread only
  std::mutex mutex_;
  std::condition_variable idle_;
  size_t computing_ = 0;  // tasks between Submit and their handoff: the handoff must not outlive the environment
};

namespace {

void Settle(Napi::Env env, Napi::Function, Background *background, Call *raw) {
  if (env == nullptr) return;  // the environment is torn down: nothing to settle, and its references cannot be released
  std::unique_ptr<Call> call(raw);
  background->Settled(env);
  if (call->failed) {
    call->deferred.Reject(Napi::Error::New(env, "spirt native: " + call->error).Value());
    return;
  }
  try {
    call->deferred.Resolve(call->resolve(env, call->result));
  } catch (const Napi::Error &e) {
    call->deferred.Reject(e.Value());
  }
}

}  // namespace

void SetUpEnvironment(Napi::Env env, const spirt_kernels *kernels) {
  auto background = std::make_shared<Background>(env);
  env.SetInstanceData(new AddonData{kernels, background});
  env.AddCleanupHook([background] { background->WaitUntilIdle(); });
}

Napi::Value RunAsync(Napi::Env env, Task task, const std::vector<Napi::Value> &keep, Resolve resolve) {
  const std::shared_ptr<Background> &background = Data(env).background;
  return background->Run(env, std::move(task), keep, std::move(resolve), background);
}

}  // namespace spirt_addon
