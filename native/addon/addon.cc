// Node-API bindings for the spirt kernels. Arguments arrive already validated by src/native.ts callers
// (src/kernels.ts); the checks here only guarantee memory safety (types and lengths), never semantics.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "model_binding.h"
#include "spirt_kernels.h"

namespace {

const spirt_kernels *K = nullptr;

// A kernel call split into element ranges: run(begin, end) returns a partial that combine() folds.
struct Job {
  size_t n = 0;
  std::function<double(size_t, size_t)> run;
  enum Combine { None, Sum, Max } combine = None;
  size_t min_chunk = 1 << 16;  // smallest range worth a thread of its own
  // set by a range that could not run (worker threads must not throw); reported as failure_message
  std::shared_ptr<std::atomic<bool>> failed = std::make_shared<std::atomic<bool>>(false);
  const char *failure_message = "kernel failed";
};

double RunRange(const Job &job, unsigned threads) {
  size_t parts = std::min<size_t>(threads, std::max<size_t>(1, job.n / job.min_chunk));
  if (parts <= 1) return job.run(0, job.n);
  size_t chunk = (job.n + parts - 1) / parts;
  if (chunk >= 64) chunk = (chunk + 63) & ~size_t(63);  // keeps element ranges vector-aligned
  std::vector<double> partial(parts, 0.0);
  std::vector<std::thread> pool;
  for (size_t p = 1; p < parts; p++) {
    size_t b = std::min(job.n, p * chunk), e = std::min(job.n, (p + 1) * chunk);
    pool.emplace_back([&, p, b, e] { partial[p] = job.run(b, e); });
  }
  partial[0] = job.run(0, std::min(job.n, chunk));
  for (auto &t : pool) t.join();
  double out = partial[0];
  for (size_t p = 1; p < parts; p++) {
    if (job.combine == Job::Sum) out += partial[p];
    else if (job.combine == Job::Max) out = (std::isnan(out) || std::isnan(partial[p])) ? NAN : std::max(out, partial[p]);
  }
  return out;
}

// Runs a job synchronously, or on the libuv pool (split across cores) when the last argument is `true`.
Napi::Value Dispatch(const Napi::CallbackInfo &info, Job job, std::vector<Napi::Value> keep, size_t async_arg) {
  Napi::Env env = info.Env();
  const bool has_result = job.combine != Job::None;
  if (info.Length() > async_arg && info[async_arg].ToBoolean().Value()) {
    auto task = [job](std::string &error) {
      double r = RunRange(job, std::max(1u, std::thread::hardware_concurrency()));
      if (*job.failed) error = job.failure_message;
      return r;
    };
    return spirt_addon::RunAsync(env, task, keep, [has_result](Napi::Env e, double r) {
      return has_result ? Napi::Value(Napi::Number::New(e, r)) : e.Undefined();
    });
  }
  double r = job.run(0, job.n);
  if (*job.failed) throw Napi::Error::New(env, std::string("spirt native: ") + job.failure_message);
  return has_result ? Napi::Value(Napi::Number::New(env, r)) : env.Undefined();
}

template <typename T, napi_typedarray_type Type>
Napi::TypedArrayOf<T> Arr(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != Type)
    throw Napi::TypeError::New(info.Env(), std::string("spirt native: argument '") + what + "' has the wrong type");
  return info[i].As<Napi::TypedArrayOf<T>>();
}
auto F32 = Arr<float, napi_float32_array>;
auto U32 = Arr<uint32_t, napi_uint32_array>;

double Num(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string("spirt native: argument '") + what + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

void SameLength(const Napi::CallbackInfo &info, size_t a, size_t b) {
  if (a != b) throw Napi::RangeError::New(info.Env(), "spirt native: length mismatch");
}

// weightedSum(out, srcs[], weights|null, async?)
Napi::Value WeightedSum(const Napi::CallbackInfo &info) {
  auto out = F32(info, 0, "out");
  if (!info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "spirt native: sources must be an array");
  auto list = info[1].As<Napi::Array>();
  std::vector<Napi::Value> keep{out, list};
  auto srcs = std::make_shared<std::vector<const float *>>();
  for (uint32_t j = 0; j < list.Length(); j++) {
    Napi::Value v = list[j];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(info.Env(), "spirt native: every source must be a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    SameLength(info, a.ElementLength(), out.ElementLength());
    srcs->push_back(a.Data());
  }
  auto weights = std::make_shared<std::vector<float>>();
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    auto w = F32(info, 2, "weights");
    SameLength(info, w.ElementLength(), srcs->size());
    weights->assign(w.Data(), w.Data() + w.ElementLength());
  }
  float *o = out.Data();
  Job job;
  job.n = out.ElementLength();
  job.run = [o, srcs, weights](size_t b, size_t e) {
    std::vector<const float *> shifted(srcs->size());
    for (size_t j = 0; j < srcs->size(); j++) shifted[j] = (*srcs)[j] + b;
    K->weighted_sum(o + b, shifted.data(), weights->empty() ? nullptr : weights->data(), shifted.size(), e - b);
    return 0.0;
  };
  return Dispatch(info, std::move(job), keep, 3);
}

// axpy(y, a, x, async?)
Napi::Value Axpy(const Napi::CallbackInfo &info) {
  auto y = F32(info, 0, "y");
  float a = (float)Num(info, 1, "a");
  auto x = F32(info, 2, "x");
  SameLength(info, y.ElementLength(), x.ElementLength());
  float *py = y.Data();
  const float *px = x.Data();
  Job job;
  job.n = y.ElementLength();
  job.run = [=](size_t b, size_t e) { K->axpy(py + b, a, px + b, e - b); return 0.0; };
  return Dispatch(info, std::move(job), {y, x}, 3);
}

// dot(a, b, async?)
Napi::Value Dot(const Napi::CallbackInfo &info) {
  auto a = F32(info, 0, "a");
  auto b = F32(info, 1, "b");
  SameLength(info, a.ElementLength(), b.ElementLength());
  const float *pa = a.Data(), *pb = b.Data();
  Job job;
  job.n = a.ElementLength();
  job.combine = Job::Sum;
  job.run = [=](size_t s, size_t e) { return K->dot(pa + s, pb + s, e - s); };
  return Dispatch(info, std::move(job), {a, b}, 2);
}

// sumsq(x, async?)
Napi::Value SumSq(const Napi::CallbackInfo &info) {
  auto x = F32(info, 0, "x");
  const float *px = x.Data();
  Job job;
  job.n = x.ElementLength();
  job.combine = Job::Sum;
  job.run = [=](size_t s, size_t e) { return K->sumsq(px + s, e - s); };
  return Dispatch(info, std::move(job), {x}, 1);
}

// maxAbs(x, async?)
Napi::Value MaxAbs(const Napi::CallbackInfo &info) {
  auto x = F32(info, 0, "x");
  const float *px = x.Data();
  Job job;
  job.n = x.ElementLength();
  job.combine = Job::Max;
  job.run = [=](size_t s, size_t e) { return (double)K->maxabs(px + s, e - s); };
  return Dispatch(info, std::move(job), {x}, 1);
}

// sgd(param, grad, velocity|null, lr, momentum, dampening, weightDecay, nesterov, firstStep, async?)
Napi::Value Sgd(const Napi::CallbackInfo &info) {
  auto param = F32(info, 0, "param");
  auto grad = F32(info, 1, "grad");
  SameLength(info, param.ElementLength(), grad.ElementLength());
  std::vector<Napi::Value> keep{param, grad};
  float *pv = nullptr;
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    auto vel = F32(info, 2, "velocity");
    SameLength(info, param.ElementLength(), vel.ElementLength());
    pv = vel.Data();
    keep.push_back(vel);
  }
  spirt_sgd_params p{(float)Num(info, 3, "lr"), (float)Num(info, 4, "momentum"), (float)Num(info, 5, "dampening"),
                     (float)Num(info, 6, "weightDecay"), info[7].ToBoolean().Value() ? 1 : 0,
                     info[8].ToBoolean().Value() ? 1 : 0};
  float *pp = param.Data();
  const float *pg = grad.Data();
  Job job;
  job.n = param.ElementLength();
  job.run = [=](size_t b, size_t e) { K->sgd(pp + b, pg + b, pv ? pv + b : nullptr, e - b, &p); return 0.0; };
  return Dispatch(info, std::move(job), keep, 9);
}

// adam(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step, async?)
Napi::Value Adam(const Napi::CallbackInfo &info) {
  auto param = F32(info, 0, "param");
  auto grad = F32(info, 1, "grad");
  auto m = F32(info, 2, "m");
  auto v = F32(info, 3, "v");
  size_t n = param.ElementLength();
  SameLength(info, n, grad.ElementLength());
  SameLength(info, n, m.ElementLength());
  SameLength(info, n, v.ElementLength());
  double step = Num(info, 10, "step");
  if (!(step >= 1) || step != std::floor(step)) throw Napi::RangeError::New(info.Env(), "spirt native: step must be >= 1");
  spirt_adam_params p{(float)Num(info, 4, "lr"), (float)Num(info, 5, "beta1"), (float)Num(info, 6, "beta2"),
                      (float)Num(info, 7, "eps"), (float)Num(info, 8, "weightDecay"),
                      info[9].ToBoolean().Value() ? 1 : 0, (uint64_t)step};
  float *pp = param.Data(), *pm = m.Data(), *pvv = v.Data();
  const float *pg = grad.Data();
  Job job;
  job.n = n;
  job.run = [=](size_t b, size_t e) { K->adam(pp + b, pg + b, pm + b, pvv + b, e - b, &p); return 0.0; };
  return Dispatch(info, std::move(job), {param, grad, m, v}, 11);
}

// Conversions: (out, in, async?)
template <typename Out, typename In, napi_typedarray_type OT, napi_typedarray_type IT,
          void (*const spirt_kernels::*Fn)(Out *, const In *, size_t)>
Napi::Value Convert(const Napi::CallbackInfo &info) {
  auto out = Arr<Out, OT>(info, 0, "out");
  auto in = Arr<In, IT>(info, 1, "in");
  SameLength(info, out.ElementLength(), in.ElementLength());
  Out *po = out.Data();
  const In *pi = in.Data();
  Job job;
  job.n = in.ElementLength();
  job.run = [=](size_t b, size_t e) { (K->*Fn)(po + b, pi + b, e - b); return 0.0; };
  return Dispatch(info, std::move(job), {out, in}, 2);
}

// (out, in, s, async?): scale, int8 quantization and dequantization, element-wise with one scalar; a kernel
// that returns a count (quantization: how many inputs were NaN) has its ranges' counts added
template <typename Out, typename In, napi_typedarray_type OT, napi_typedarray_type IT, typename R,
          R (*const spirt_kernels::*Fn)(Out *, const In *, float, size_t)>
Napi::Value ConvertScaled(const Napi::CallbackInfo &info) {
  auto out = Arr<Out, OT>(info, 0, "out");
  auto in = Arr<In, IT>(info, 1, "in");
  const float s = (float)Num(info, 2, "scale");
  SameLength(info, out.ElementLength(), in.ElementLength());
  Out *po = out.Data();
  const In *pi = in.Data();
  Job job;
  job.n = in.ElementLength();
  if constexpr (!std::is_void_v<R>) job.combine = Job::Sum;
  job.run = [=](size_t b, size_t e) {
    if constexpr (std::is_void_v<R>) {
      (K->*Fn)(po + b, pi + b, s, e - b);
      return 0.0;
    } else {
      return (double)(K->*Fn)(po + b, pi + b, s, e - b);
    }
  };
  return Dispatch(info, std::move(job), {out, in}, 3);
}

// sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, async?): C = alpha op(A) op(B) + beta C,
// op(A) m x k, op(B) k x n. The async form splits C's rows across threads.
Napi::Value Sgemm(const Napi::CallbackInfo &info) {
  const int ta = info[0].ToBoolean().Value(), tb = info[1].ToBoolean().Value();
  const double dims[] = {Num(info, 2, "m"), Num(info, 3, "n"), Num(info, 4, "k"), Num(info, 7, "lda"), Num(info, 9, "ldb"),
                         Num(info, 12, "ldc")};
  for (double d : dims)
    if (!(d >= 0) || d != std::floor(d)) throw Napi::RangeError::New(info.Env(), "spirt native: GEMM sizes must be non-negative integers");
  const size_t m = (size_t)dims[0], n = (size_t)dims[1], k = (size_t)dims[2], lda = (size_t)dims[3], ldb = (size_t)dims[4],
               ldc = (size_t)dims[5];
  auto A = F32(info, 6, "A");
  auto B = F32(info, 8, "B");
  auto C = F32(info, 11, "C");
  // the last element each operand's layout touches must lie inside it
  auto fits = [](size_t rows, size_t cols, size_t ld, size_t len) {
    return rows == 0 || cols == 0 || (ld >= cols && (rows - 1) * ld + cols <= len);
  };
  if (!fits(ta ? k : m, ta ? m : k, lda, A.ElementLength()) || !fits(tb ? n : k, tb ? k : n, ldb, B.ElementLength()) ||
      !fits(m, n, ldc, C.ElementLength()))
    throw Napi::RangeError::New(info.Env(), "spirt native: GEMM operand too small for its sizes and leading dimension");
  const float alpha = (float)Num(info, 5, "alpha"), beta = (float)Num(info, 10, "beta");
  const float *pa = A.Data(), *pb = B.Data();
  float *pc = C.Data();
  Job job;
  job.n = m;
  job.min_chunk = 64;
  job.failure_message = "out of memory for GEMM packing buffers";
  auto failed = job.failed;
  job.run = [=](size_t b, size_t e) {
    const float *a_rows = ta ? pa + b : pa + b * lda;  // rows of op(A) are columns of A when transposed
    if (K->sgemm(ta, tb, e - b, n, k, alpha, a_rows, lda, pb, ldb, beta, pc + b * ldc, ldc)) *failed = true;
    return 0.0;
  };
  return Dispatch(info, std::move(job), {A, B, C}, 13);
}

// topK(grad, residual, k, indices, values) -> count
Napi::Value TopK(const Napi::CallbackInfo &info) {
  auto grad = F32(info, 0, "grad");
  auto residual = F32(info, 1, "residual");
  SameLength(info, grad.ElementLength(), residual.ElementLength());
  double k = Num(info, 2, "k");
  auto idx = U32(info, 3, "indices");
  auto vals = F32(info, 4, "values");
  size_t kk = (size_t)std::min<double>(k, (double)grad.ElementLength());
  if (!(k >= 0) || idx.ElementLength() < kk || vals.ElementLength() < kk)
    throw Napi::RangeError::New(info.Env(), "spirt native: top-k outputs are too short");
  long r = spirt_topk_error_feedback(K, grad.Data(), residual.Data(), grad.ElementLength(), kk, idx.Data(), vals.Data());
  if (r < 0) throw Napi::Error::New(info.Env(), "spirt native: out of memory in top-k");
  return Napi::Number::New(info.Env(), (double)r);
}

// clipByGlobalNorm(tensors[], maxNorm) -> norm before clipping
Napi::Value ClipByGlobalNorm(const Napi::CallbackInfo &info) {
  if (!info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "spirt native: tensors must be an array");
  auto list = info[0].As<Napi::Array>();
  std::vector<float *> ptrs;
  std::vector<size_t> lens;
  for (uint32_t j = 0; j < list.Length(); j++) {
    Napi::Value v = list[j];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(info.Env(), "spirt native: every tensor must be a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    ptrs.push_back(a.Data());
    lens.push_back(a.ElementLength());
  }
  double norm = spirt_clip_by_global_norm(K, ptrs.data(), lens.data(), ptrs.size(), Num(info, 1, "maxNorm"));
  return Napi::Number::New(info.Env(), norm);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const char *error = "unknown";
  K = spirt_kernels_select(&error);
  if (!K) throw Napi::Error::New(env, std::string("spirt: ") + error);
  auto available = Napi::Array::New(env);
  uint32_t i = 0;
  for (const char *const *n = spirt_kernels_available(); *n; n++) available[i++] = Napi::String::New(env, *n);
  exports["simdPath"] = Napi::String::New(env, K->name);
  exports["simdAvailable"] = available;
  exports["weightedSum"] = Napi::Function::New(env, WeightedSum);
  exports["axpy"] = Napi::Function::New(env, Axpy);
  exports["scale"] = Napi::Function::New(
      env, ConvertScaled<float, float, napi_float32_array, napi_float32_array, void, &spirt_kernels::scale>);
  exports["dot"] = Napi::Function::New(env, Dot);
  exports["sumSq"] = Napi::Function::New(env, SumSq);
  exports["maxAbs"] = Napi::Function::New(env, MaxAbs);
  exports["sgd"] = Napi::Function::New(env, Sgd);
  exports["adam"] = Napi::Function::New(env, Adam);
  exports["f32ToF16"] = Napi::Function::New(
      env, Convert<uint16_t, float, napi_uint16_array, napi_float32_array, &spirt_kernels::f32_to_f16>);
  exports["f16ToF32"] = Napi::Function::New(
      env, Convert<float, uint16_t, napi_float32_array, napi_uint16_array, &spirt_kernels::f16_to_f32>);
  exports["f32ToBf16"] = Napi::Function::New(
      env, Convert<uint16_t, float, napi_uint16_array, napi_float32_array, &spirt_kernels::f32_to_bf16>);
  exports["bf16ToF32"] = Napi::Function::New(
      env, Convert<float, uint16_t, napi_float32_array, napi_uint16_array, &spirt_kernels::bf16_to_f32>);
  exports["quantizeI8"] = Napi::Function::New(
      env, ConvertScaled<int8_t, float, napi_int8_array, napi_float32_array, size_t, &spirt_kernels::quantize_i8>);
  exports["dequantizeI8"] = Napi::Function::New(
      env, ConvertScaled<float, int8_t, napi_float32_array, napi_int8_array, void, &spirt_kernels::dequantize_i8>);
  exports["topK"] = Napi::Function::New(env, TopK);
  exports["sgemm"] = Napi::Function::New(env, Sgemm);
  exports["NativeModel"] = spirt_addon::DefineNativeModel(env);
  exports["clipByGlobalNorm"] = Napi::Function::New(env, ClipByGlobalNorm);
  return exports;
}

}  // namespace

const spirt_kernels *spirt_kernels_active() { return K; }

namespace spirt_addon {

class TaskWorker : public Napi::AsyncWorker {
 public:
  TaskWorker(Napi::Env env, Task task, const std::vector<Napi::Value> &keep, Resolve resolve)
      : Napi::AsyncWorker(env), task_(std::move(task)), resolve_(std::move(resolve)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    for (auto &v : keep) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    std::string error;
    result_ = task_(error);
    if (!error.empty()) SetError("spirt native: " + error);
  }
  void OnOK() override { deferred_.Resolve(resolve_(Env(), result_)); }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Task task_;
  Resolve resolve_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> refs_;
  double result_ = 0;
};

Napi::Value RunAsync(Napi::Env env, Task task, const std::vector<Napi::Value> &keep, Resolve resolve) {
  auto *w = new TaskWorker(env, std::move(task), keep, std::move(resolve));
  auto promise = w->Promise();
  w->Queue();
  return promise;
}

}  // namespace spirt_addon

NODE_API_MODULE(spirt, Init)
