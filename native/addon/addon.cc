// Node-API bindings for the spirt kernels. Arguments arrive already validated by src/native.ts callers
// (src/kernels.ts); the checks here only guarantee memory safety (types and lengths), never semantics.
// Each bulk kernel is described once (its arguments read into a Job) and exported twice: `name` runs it on the
// calling thread, `nameAsync` returns a promise and runs it on the thread pool.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "addon.h"
#include "spirt_kernels.h"
#include "thread_pool.h"

namespace {

using spirt_addon::Data;

// How a kernel's element range may be divided between threads.
enum class Split {
  Ranges,       // element-wise: independent ranges
  MaxOfRanges,  // partial maxima, combined (NaN wins)
  SumOfRanges,  // partial counts, added (integers: exact in any order)
  Never,        // a sum of floats: one range, so its bits do not depend on the thread count
};

// One kernel call over n elements (rows, for GEMM): run(begin, end) computes a range and returns its partial
// result, or throws std::exception.
struct Job {
  using Run = std::function<double(size_t, size_t)>;
  Job(size_t elements, Run r, Split s = Split::Ranges, bool result = false)
      : n(elements), run(std::move(r)), has_result(result), split(s) {}
  // A reduction: its result is the job's value.
  static Job Reduction(size_t elements, Split s, Run r) { return Job(elements, std::move(r), s, true); }

  size_t n;
  Run run;
  bool has_result;
  Split split;
  size_t min_chunk = 1 << 16;  // smallest range worth a thread of its own
};

// The job over ranges split across the thread pool (a pool thread calls this).
double RunSplit(const Job &job) {
  const size_t parts = job.split == Split::Never ? 1 : std::min(spirt_addon::PoolSize(), std::max<size_t>(1, job.n / job.min_chunk));
  if (parts <= 1) return job.run(0, job.n);
  size_t chunk = (job.n + parts - 1) / parts;
  if (chunk >= 64) chunk = (chunk + 63) & ~size_t(63);  // keeps element ranges vector-aligned
  std::vector<double> partial(parts, 0.0);
  spirt_addon::ParallelFor(parts, [&](size_t p) {
    partial[p] = job.run(std::min(job.n, p * chunk), std::min(job.n, (p + 1) * chunk));
  });
  double out = partial[0];
  for (size_t p = 1; p < parts; p++) {
    if (job.split == Split::MaxOfRanges) out = (std::isnan(out) || std::isnan(partial[p])) ? NAN : std::max(out, partial[p]);
    else if (job.split == Split::SumOfRanges) out += partial[p];
  }
  return out;
}

Napi::Value ResultOf(Napi::Env env, const Job &job, double r) {
  return job.has_result ? Napi::Value(Napi::Number::New(env, r)) : env.Undefined();
}

// A kernel's arguments read into a Job; `keep` receives the arrays an asynchronous run must keep alive.
using JobBuilder = Job (*)(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep);

// `name(...)`: the whole job on the calling thread.
template <JobBuilder Build>
Napi::Value RunSync(const Napi::CallbackInfo &info) {
  std::vector<Napi::Value> keep;
  const Job job = Build(info, Data(info.Env()).kernels, keep);
  try {
    return ResultOf(info.Env(), job, job.run(0, job.n));
  } catch (const std::exception &e) {
    throw Napi::Error::New(info.Env(), std::string("spirt native: ") + e.what());
  }
}

// `nameAsync(...)`: a promise; the job runs on the thread pool, split across it.
template <JobBuilder Build>
Napi::Value RunInBackground(const Napi::CallbackInfo &info) {
  std::vector<Napi::Value> keep;
  auto job = std::make_shared<Job>(Build(info, Data(info.Env()).kernels, keep));
  return spirt_addon::RunAsync(info.Env(), [job] { return RunSplit(*job); }, keep,
                               [job](Napi::Env env, double r) { return ResultOf(env, *job, r); });
}

// Exports the kernel twice: `name` (synchronous) and `nameAsync` (a promise).
template <JobBuilder Build>
void ExportKernel(Napi::Env env, Napi::Object exports, const std::string &name) {
  exports[name] = Napi::Function::New(env, RunSync<Build>, name);
  exports[name + "Async"] = Napi::Function::New(env, RunInBackground<Build>, name + "Async");
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

// weightedSum(out, srcs[], weights|null)
Job WeightedSum(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto out = F32(info, 0, "out");
  if (!info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "spirt native: sources must be an array");
  auto list = info[1].As<Napi::Array>();
  keep = {out, list};
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
  return Job(out.ElementLength(), [k, o, srcs, weights](size_t b, size_t e) {
    std::vector<const float *> shifted(srcs->size());
    for (size_t j = 0; j < srcs->size(); j++) shifted[j] = (*srcs)[j] + b;
    k->weighted_sum(o + b, shifted.data(), weights->empty() ? nullptr : weights->data(), shifted.size(), e - b);
    return 0.0;
  });
}

// axpy(y, a, x)
Job Axpy(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto y = F32(info, 0, "y");
  float a = (float)Num(info, 1, "a");
  auto x = F32(info, 2, "x");
  SameLength(info, y.ElementLength(), x.ElementLength());
  keep = {y, x};
  float *py = y.Data();
  const float *px = x.Data();
  return Job(y.ElementLength(), [=](size_t b, size_t e) { k->axpy(py + b, a, px + b, e - b); return 0.0; });
}

// dot(a, b)
Job Dot(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto a = F32(info, 0, "a");
  auto b = F32(info, 1, "b");
  SameLength(info, a.ElementLength(), b.ElementLength());
  keep = {a, b};
  const float *pa = a.Data(), *pb = b.Data();
  return Job::Reduction(a.ElementLength(), Split::Never, [=](size_t s, size_t e) { return k->dot(pa + s, pb + s, e - s); });
}

// sumSq(x)
Job SumSq(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto x = F32(info, 0, "x");
  keep = {x};
  const float *px = x.Data();
  return Job::Reduction(x.ElementLength(), Split::Never, [=](size_t s, size_t e) { return k->sumsq(px + s, e - s); });
}

// maxAbs(x)
Job MaxAbs(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto x = F32(info, 0, "x");
  keep = {x};
  const float *px = x.Data();
  return Job::Reduction(x.ElementLength(), Split::MaxOfRanges, [=](size_t s, size_t e) { return (double)k->maxabs(px + s, e - s); });
}

// sgd(param, grad, velocity|null, lr, momentum, dampening, weightDecay, nesterov, firstStep)
Job Sgd(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto param = F32(info, 0, "param");
  auto grad = F32(info, 1, "grad");
  SameLength(info, param.ElementLength(), grad.ElementLength());
  keep = {param, grad};
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
  return Job(param.ElementLength(), [=](size_t b, size_t e) { k->sgd(pp + b, pg + b, pv ? pv + b : nullptr, e - b, &p); return 0.0; });
}

// adam(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step)
Job Adam(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto param = F32(info, 0, "param");
  auto grad = F32(info, 1, "grad");
  auto m = F32(info, 2, "m");
  auto v = F32(info, 3, "v");
  size_t n = param.ElementLength();
  SameLength(info, n, grad.ElementLength());
  SameLength(info, n, m.ElementLength());
  SameLength(info, n, v.ElementLength());
  keep = {param, grad, m, v};
  double step = Num(info, 10, "step");
  if (!(step >= 1) || step != std::floor(step)) throw Napi::RangeError::New(info.Env(), "spirt native: step must be >= 1");
  spirt_adam_params p{(float)Num(info, 4, "lr"), (float)Num(info, 5, "beta1"), (float)Num(info, 6, "beta2"),
                      (float)Num(info, 7, "eps"), (float)Num(info, 8, "weightDecay"),
                      info[9].ToBoolean().Value() ? 1 : 0, (uint64_t)step};
  float *pp = param.Data(), *pm = m.Data(), *pvv = v.Data();
  const float *pg = grad.Data();
  return Job(n, [=](size_t b, size_t e) { k->adam(pp + b, pg + b, pm + b, pvv + b, e - b, &p); return 0.0; });
}

// Conversions: (out, in)
template <typename Out, typename In, napi_typedarray_type OT, napi_typedarray_type IT,
          void (*const spirt_kernels::*Fn)(Out *, const In *, size_t)>
Job Convert(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto out = Arr<Out, OT>(info, 0, "out");
  auto in = Arr<In, IT>(info, 1, "in");
  SameLength(info, out.ElementLength(), in.ElementLength());
  keep = {out, in};
  Out *po = out.Data();
  const In *pi = in.Data();
  return Job(in.ElementLength(), [=](size_t b, size_t e) { (k->*Fn)(po + b, pi + b, e - b); return 0.0; });
}

// (out, in, s): scale, int8 quantization and dequantization, element-wise with one scalar; a kernel that
// returns a count (quantization: how many inputs were NaN) has its ranges' counts added
template <typename Out, typename In, napi_typedarray_type OT, napi_typedarray_type IT, typename R,
          R (*const spirt_kernels::*Fn)(Out *, const In *, float, size_t)>
Job ConvertScaled(const Napi::CallbackInfo &info, const spirt_kernels *k, std::vector<Napi::Value> &keep) {
  auto out = Arr<Out, OT>(info, 0, "out");
  auto in = Arr<In, IT>(info, 1, "in");
  const float s = (float)Num(info, 2, "scale");
  SameLength(info, out.ElementLength(), in.ElementLength());
  keep = {out, in};
  Out *po = out.Data();
  const In *pi = in.Data();
  if constexpr (std::is_void_v<R>) {
    return Job(in.ElementLength(), [=](size_t b, size_t e) { (k->*Fn)(po + b, pi + b, s, e - b); return 0.0; });
  } else {
    return Job::Reduction(in.ElementLength(), Split::SumOfRanges, [=](size_t b, size_t e) { return (double)(k->*Fn)(po + b, pi + b, s, e - b); });
  }
}

// sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc): C = alpha op(A) op(B) + beta C, op(A) m x k,
// op(B) k x n. Split across threads by rows of C.
Job Sgemm(const Napi::CallbackInfo &info, const spirt_kernels *kern, std::vector<Napi::Value> &keep) {
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
  keep = {A, B, C};
  const float alpha = (float)Num(info, 5, "alpha"), beta = (float)Num(info, 10, "beta");
  const float *pa = A.Data(), *pb = B.Data();
  float *pc = C.Data();
  Job job(m, [=](size_t b, size_t e) {
    const float *a_rows = ta ? pa + b : pa + b * lda;  // rows of op(A) are columns of A when transposed
    if (kern->sgemm(ta, tb, e - b, n, k, alpha, a_rows, lda, pb, ldb, beta, pc + b * ldc, ldc))
      throw std::runtime_error("out of memory for GEMM packing buffers");
    return 0.0;
  });
  job.min_chunk = 64;
  return job;
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
  long r = spirt_topk_error_feedback(Data(info.Env()).kernels, grad.Data(), residual.Data(), grad.ElementLength(), kk,
                                     idx.Data(), vals.Data());
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
  double norm = spirt_clip_by_global_norm(Data(info.Env()).kernels, ptrs.data(), lens.data(), ptrs.size(), Num(info, 1, "maxNorm"));
  return Napi::Number::New(info.Env(), norm);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const char *error = "unknown";
  const spirt_kernels *kernels = spirt_kernels_select(&error);
  if (!kernels) throw Napi::Error::New(env, std::string("spirt: ") + error);
  size_t threads;
  try {
    threads = spirt_addon::ConfiguredThreads();  // checked at load; the pool itself starts on first use
  } catch (const std::exception &e) {
    throw Napi::Error::New(env, std::string("spirt: ") + e.what());
  }
  spirt_addon::SetUpEnvironment(env, kernels);
  auto available = Napi::Array::New(env);
  uint32_t i = 0;
  for (const char *const *n = spirt_kernels_available(); *n; n++) available[i++] = Napi::String::New(env, *n);
  exports["simdPath"] = Napi::String::New(env, kernels->name);
  exports["simdAvailable"] = available;
  exports["threads"] = Napi::Number::New(env, (double)threads);
  ExportKernel<WeightedSum>(env, exports, "weightedSum");
  ExportKernel<Axpy>(env, exports, "axpy");
  ExportKernel<ConvertScaled<float, float, napi_float32_array, napi_float32_array, void, &spirt_kernels::scale>>(env, exports, "scale");
  ExportKernel<Dot>(env, exports, "dot");
  ExportKernel<SumSq>(env, exports, "sumSq");
  ExportKernel<MaxAbs>(env, exports, "maxAbs");
  ExportKernel<Sgd>(env, exports, "sgd");
  ExportKernel<Adam>(env, exports, "adam");
  ExportKernel<Convert<uint16_t, float, napi_uint16_array, napi_float32_array, &spirt_kernels::f32_to_f16>>(env, exports, "f32ToF16");
  ExportKernel<Convert<float, uint16_t, napi_float32_array, napi_uint16_array, &spirt_kernels::f16_to_f32>>(env, exports, "f16ToF32");
  ExportKernel<Convert<uint16_t, float, napi_uint16_array, napi_float32_array, &spirt_kernels::f32_to_bf16>>(env, exports, "f32ToBf16");
  ExportKernel<Convert<float, uint16_t, napi_float32_array, napi_uint16_array, &spirt_kernels::bf16_to_f32>>(env, exports, "bf16ToF32");
  ExportKernel<ConvertScaled<int8_t, float, napi_int8_array, napi_float32_array, size_t, &spirt_kernels::quantize_i8>>(env, exports, "quantizeI8");
  ExportKernel<ConvertScaled<float, int8_t, napi_float32_array, napi_int8_array, void, &spirt_kernels::dequantize_i8>>(env, exports, "dequantizeI8");
  ExportKernel<Sgemm>(env, exports, "sgemm");
  exports["topK"] = Napi::Function::New(env, TopK, "topK");
  exports["clipByGlobalNorm"] = Napi::Function::New(env, ClipByGlobalNorm, "clipByGlobalNorm");
  exports["NativeModel"] = spirt_addon::DefineNativeModel(env);
  return exports;
}

}  // namespace

NODE_API_MODULE(spirt, Init)
