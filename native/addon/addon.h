// Shared between the addon's files: what each Node.js environment holds, and promise-returning background tasks.
#ifndef SPIRT_ADDON_H
#define SPIRT_ADDON_H

#include <napi.h>

#include <functional>
#include <memory>
#include <vector>

#include "spirt_kernels.h"

namespace spirt_addon {

// One environment's promise-returning tasks (background.cc).
class Background;

// Per-environment state (Napi instance data), set up by the addon's Init.
struct AddonData {
  const spirt_kernels *kernels;  // the SIMD path chosen at load
  std::shared_ptr<Background> background;
};

inline AddonData &Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Creates env's AddonData; the environment's teardown waits for its tasks still computing, since they write
// into its ArrayBuffers.
void SetUpEnvironment(Napi::Env env, const spirt_kernels *kernels);

// Work for a pool thread: returns the number the promise resolves with (through Resolve), or throws a
// std::exception whose message the promise rejects with.
using Task = std::function<double()>;
// Builds the resolved value on the JavaScript thread from the task's result.
using Resolve = std::function<Napi::Value(Napi::Env, double)>;

// Runs task on the thread pool, keeping `keep` (the arrays it reads and writes) alive until it settles.
Napi::Value RunAsync(Napi::Env env, Task task, const std::vector<Napi::Value> &keep, Resolve resolve);

Napi::Function DefineNativeModel(Napi::Env env);

}  // namespace spirt_addon

#endif
