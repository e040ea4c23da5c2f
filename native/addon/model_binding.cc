// Node-API class over spirt::Model: new NativeModel(spec), then gradients and evaluation on Float32Array
// parameters, computed on the thread pool, several minibatches in parallel, off the event loop.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "addon.h"
#include "model.h"
#include "thread_pool.h"

namespace {

// Buffers reused across calls (allocating and zeroing a CNN's workspace costs about as much as a small batch):
// Take() hands out a free one that fits, or a new one, and the lease gives it back when it goes out of scope.
// The most recently returned comes out first, so a thread running batch after batch keeps its buffers in cache.
template <typename T>
class Reuse {
  struct GiveBack {
    Reuse *owner;
    void operator()(T *t) const {
      std::lock_guard<std::mutex> lock(owner->mutex_);
      owner->free_.emplace_back(t);
    }
  };

 public:
  using Lease = std::unique_ptr<T, GiveBack>;  // the Reuse must outlive it

  template <typename Fits, typename Make>
  Lease Take(Fits fits, Make make) {
    std::unique_ptr<T> t;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        t = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!t || !fits(*t)) t.reset(new T(make()));
    return Lease(t.release(), GiveBack{this});
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<T>> free_;
};

// A model with its reusable buffers: workspaces (one per running batch) and per-batch gradients (kept until
// several batches' gradients are combined).
struct Engine {
  explicit Engine(std::unique_ptr<spirt::Model> m) : model(std::move(m)) {}
  std::unique_ptr<const spirt::Model> model;
  Reuse<spirt::Workspace> workspaces;
  Reuse<std::vector<float>> gradients;

  Reuse<spirt::Workspace>::Lease Workspace(size_t max_batch) {
    return workspaces.Take([&](const spirt::Workspace &ws) { return ws.max_batch >= max_batch; },
                           [&] { return model->workspace(max_batch); });
  }
  Reuse<std::vector<float>>::Lease Gradient() {
    return gradients.Take([](const std::vector<float> &) { return true; },
                          [&] { return std::vector<float>(model->param_count()); });
  }
};

spirt::LayerKind KindOf(Napi::Env env, const std::string &type) {
  if (type == "dense") return spirt::LayerKind::Dense;
  if (type == "conv2d") return spirt::LayerKind::Conv2d;
  if (type == "maxpool2") return spirt::LayerKind::MaxPool2;
  if (type == "relu") return spirt::LayerKind::Relu;
  throw Napi::TypeError::New(env, "spirt native: unknown layer type '" + type + "'");
}

size_t SizeField(Napi::Object o, const char *name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return 0;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != (double)(size_t)d) throw Napi::RangeError::New(o.Env(), std::string("spirt native: bad ") + name);
  return (size_t)d;
}

struct Batch {
  const float *x;
  const uint8_t *y;
  size_t n;
};

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceAccessor<&NativeModel::ParamCount>("paramCount"),
                        InstanceAccessor<&NativeModel::InputSize>("inputSize"),
                        InstanceAccessor<&NativeModel::Layout>("layout"), InstanceMethod<&NativeModel::Init>("init"),
                        InstanceMethod<&NativeModel::Gradient>("gradient"), InstanceMethod<&NativeModel::Evaluate>("evaluate")});
  }

  // spec: {input: [c, h, w], classes, layers: [{type, units?, kernel?, padding?}]}
  explicit NativeModel(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NativeModel>(info) {
    Napi::Env env = info.Env();
    Napi::Object spec = info[0].As<Napi::Object>();
    Napi::Array input = spec.Get("input").As<Napi::Array>();
    Napi::Array layers = spec.Get("layers").As<Napi::Array>();
    std::vector<spirt::LayerSpec> specs;
    for (uint32_t i = 0; i < layers.Length(); i++) {
      Napi::Object l = layers.Get(i).As<Napi::Object>();
      specs.push_back({KindOf(env, l.Get("type").As<Napi::String>()), SizeField(l, "units"), SizeField(l, "kernel"),
                       SizeField(l, "padding")});
    }
    spirt::FeatureShape shape{(size_t)input.Get(0u).As<Napi::Number>().Int64Value(),
                              (size_t)input.Get(1u).As<Napi::Number>().Int64Value(),
                              (size_t)input.Get(2u).As<Napi::Number>().Int64Value()};
    try {
      engine_ = std::make_shared<Engine>(
          std::make_unique<spirt::Model>(shape, specs, SizeField(spec, "classes"), spirt_addon::Data(env).kernels));
    } catch (const std::invalid_argument &e) {
      throw Napi::RangeError::New(env, std::string("spirt native: ") + e.what());
    }
  }

 private:
  Napi::Value ParamCount(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), (double)engine_->model->param_count()); }
  Napi::Value InputSize(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), (double)engine_->model->input_size()); }

  Napi::Value Layout(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto out = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto &p : engine_->model->layout()) {
      auto o = Napi::Object::New(env);
      auto shape = Napi::Array::New(env);
      for (uint32_t d = 0; d < p.shape.size(); d++) shape[d] = Napi::Number::New(env, (double)p.shape[d]);
      o["name"] = p.name;
      o["shape"] = shape;
      o["offset"] = Napi::Number::New(env, (double)p.offset);
      out[i++] = o;
    }
    return out;
  }

  Napi::Float32Array Params(const Napi::CallbackInfo &info, size_t i, const char *what) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        info[i].As<Napi::Float32Array>().ElementLength() != engine_->model->param_count())
      throw Napi::TypeError::New(info.Env(), std::string("spirt native: ") + what + " must be a Float32Array of paramCount");
    return info[i].As<Napi::Float32Array>();
  }

  // Batches from parallel arrays of images (Float32Array, n * inputSize) and labels (Uint8Array, n).
  std::vector<Batch> Batches(const Napi::CallbackInfo &info, size_t i, std::vector<Napi::Value> &keep) {
    Napi::Array list = info[i].As<Napi::Array>();
    std::vector<Batch> out;
    for (uint32_t j = 0; j < list.Length(); j++) {
      Napi::Object b = list.Get(j).As<Napi::Object>();
      auto x = b.Get("images").As<Napi::Float32Array>();
      auto y = b.Get("labels").As<Napi::Uint8Array>();
      if (x.ElementLength() != y.ElementLength() * engine_->model->input_size())
        throw Napi::RangeError::New(info.Env(), "spirt native: images and labels do not match");
      keep.push_back(x);
      keep.push_back(y);
      out.push_back({x.Data(), y.Data(), y.ElementLength()});
    }
    return out;
  }

  // init(params, seed)
  Napi::Value Init(const Napi::CallbackInfo &info) {
    auto params = Params(info, 0, "params");
    engine_->model->init(params.Data(), (uint64_t)info[1].As<Napi::Number>().Int64Value());
    return info.Env().Undefined();
  }

  // gradient(params, batches[], grad) -> Promise<mean loss>: batches in parallel on the pool, gradients averaged by
  // batch size in batch order, so the result does not depend on the thread count.
  Napi::Value Gradient(const Napi::CallbackInfo &info) {
    std::vector<Napi::Value> keep;
    auto params = Params(info, 0, "params");
    auto grad = Params(info, 2, "grad");
    keep.push_back(params);
    keep.push_back(grad);
    auto batches = Batches(info, 1, keep);
    auto engine = engine_;
    const float *p = params.Data();
    float *g = grad.Data();
    auto task = [engine, p, g, batches]() -> double {
      const spirt::Model &model = *engine->model;
      const size_t k = batches.size();
      if (k == 1) return model.gradient(p, batches[0].x, batches[0].y, batches[0].n, g, *engine->Workspace(batches[0].n));
      size_t total = 0;
      for (const auto &b : batches) total += b.n;
      std::vector<double> losses(k, 0.0);
      std::vector<Reuse<std::vector<float>>::Lease> grads(k);
      spirt_addon::ParallelFor(k, [&](size_t j) {
        auto gj = engine->Gradient();
        losses[j] = model.gradient(p, batches[j].x, batches[j].y, batches[j].n, gj->data(), *engine->Workspace(batches[j].n));
        grads[j] = std::move(gj);
      });
      std::vector<const float *> srcs;
      std::vector<float> weights;
      double loss = 0;
      for (size_t j = 0; j < k; j++) {
        srcs.push_back(grads[j]->data());
        weights.push_back((float)batches[j].n / (float)(total ? total : 1));
        loss += losses[j] * (double)batches[j].n / (double)(total ? total : 1);
      }
      model.kernels()->weighted_sum(g, srcs.data(), weights.data(), k, model.param_count());
      return loss;
    };
    return spirt_addon::RunAsync(info.Env(), task, keep, [](Napi::Env env, double loss) { return Napi::Number::New(env, loss); });
  }

  // evaluate(params, images, labels) -> Promise<{loss: mean loss, correct}>: fixed chunks of samples on the pool,
  // their sums added in chunk order.
  Napi::Value Evaluate(const Napi::CallbackInfo &info) {
    std::vector<Napi::Value> keep;
    auto params = Params(info, 0, "params");
    keep.push_back(params);
    auto x = info[1].As<Napi::Float32Array>();
    auto y = info[2].As<Napi::Uint8Array>();
    if (x.ElementLength() != y.ElementLength() * engine_->model->input_size())
      throw Napi::RangeError::New(info.Env(), "spirt native: images and labels do not match");
    keep.push_back(x);
    keep.push_back(y);
    auto engine = engine_;
    const float *p = params.Data(), *px = x.Data();
    const uint8_t *py = y.Data();
    const size_t n = y.ElementLength();
    auto correct = std::make_shared<size_t>(0);
    auto task = [engine, p, px, py, n, correct]() -> double {
      const spirt::Model &model = *engine->model;
      const size_t chunk = 256, chunks = (n + chunk - 1) / chunk;
      std::vector<double> loss(chunks, 0.0);
      std::vector<size_t> right(chunks, 0);
      spirt_addon::ParallelFor(chunks, [&](size_t c) {
        const size_t first = c * chunk;
        model.evaluate(p, px + first * model.input_size(), py + first, std::min(chunk, n - first), &loss[c], &right[c],
                       *engine->Workspace(chunk));
      });
      double total = 0;
      for (size_t c = 0; c < chunks; c++) total += loss[c], *correct += right[c];
      return n ? total / (double)n : 0.0;
    };
    return spirt_addon::RunAsync(info.Env(), task, keep, [correct](Napi::Env env, double loss) {
      auto o = Napi::Object::New(env);
      o["loss"] = Napi::Number::New(env, loss);
      o["correct"] = Napi::Number::New(env, (double)*correct);
      return Napi::Value(o);
    });
  }

  std::shared_ptr<Engine> engine_;
};

}  // namespace

namespace spirt_addon {
Napi::Function DefineNativeModel(Napi::Env env) { return NativeModel::Define(env); }
}  // namespace spirt_addon
