// Shared between the addon's files: the active kernels and a promise-returning background task.
#ifndef SPIRT_MODEL_BINDING_H
#define SPIRT_MODEL_BINDING_H

#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "spirt_kernels.h"

const spirt_kernels *spirt_kernels_active();

namespace spirt_addon {

// Runs on the libuv pool; sets error (non-empty) instead of throwing.
using Task = std::function<double(std::string &error)>;
// Builds the resolved value on the main thread from the task's result.
using Resolve = std::function<Napi::Value(Napi::Env, double)>;

// Runs task off the event loop, keeping `keep` alive until it settles; the promise resolves to resolve(result).
Napi::Value RunAsync(Napi::Env env, Task task, const std::vector<Napi::Value> &keep, Resolve resolve);

Napi::Function DefineNativeModel(Napi::Env env);

}  // namespace spirt_addon

#endif
