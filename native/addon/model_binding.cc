// Node-API class over spirt::Model: new NativeModel(spec), then gradients and evaluation on Float32Array
// parameters, computed in parallel over several minibatches off the event loop.
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model.h"
#include "model_binding.h"

namespace {

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
      model_ = std::make_shared<spirt::Model>(shape, specs, SizeField(spec, "classes"), spirt_kernels_active());
    } catch (const std::invalid_argument &e) {
      throw Napi::RangeError::New(env, std::string("spirt native: ") + e.what());
    }
  }

 private:
  Napi::Value ParamCount(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), (double)model_->param_count()); }
  Napi::Value InputSize(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), (double)model_->input_size()); }

  Napi::Value Layout(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto out = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto &p : model_->layout()) {
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
        info[i].As<Napi::Float32Array>().ElementLength() != model_->param_count())
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
      if (x.ElementLength() != y.ElementLength() * model_->input_size())
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
    model_->init(params.Data(), (uint64_t)info[1].As<Napi::Number>().Int64Value());
    return info.Env().Undefined();
  }

  // gradient(params, batches[], grad) -> Promise<mean loss>: one thread per batch, gradients averaged by batch size
  Napi::Value Gradient(const Napi::CallbackInfo &info) {
    std::vector<Napi::Value> keep;
    auto params = Params(info, 0, "params");
    auto grad = Params(info, 2, "grad");
    keep.push_back(params);
    keep.push_back(grad);
    auto batches = Batches(info, 1, keep);
    auto model = model_;
    const float *p = params.Data();
    float *g = grad.Data();
    auto job = [model, p, g, batches](std::string &error) -> double {
      const size_t k = batches.size();
      std::vector<std::vector<float>> grads(k > 1 ? k : 0, std::vector<float>(k > 1 ? model->param_count() : 0));
      std::vector<double> losses(k, 0.0);
      std::atomic<bool> failed{false};
      auto run = [&](size_t j) {
        try {
          spirt::Workspace ws = model->workspace(batches[j].n);
          losses[j] = model->gradient(p, batches[j].x, batches[j].y, batches[j].n, k > 1 ? grads[j].data() : g, ws);
        } catch (const std::exception &e) {
          failed = true;
          error = e.what();
        }
      };
      std::vector<std::thread> pool;
      for (size_t j = 1; j < k; j++) pool.emplace_back(run, j);
      if (k > 0) run(0);
      for (auto &t : pool) t.join();
      if (failed) return 0.0;
      size_t total = 0;
      for (const auto &b : batches) total += b.n;
      double loss = 0;
      for (size_t j = 0; j < k; j++) loss += losses[j] * (double)batches[j].n / (double)(total ? total : 1);
      if (k > 1) {
        std::vector<const float *> srcs;
        std::vector<float> weights;
        for (size_t j = 0; j < k; j++) {
          srcs.push_back(grads[j].data());
          weights.push_back((float)batches[j].n / (float)(total ? total : 1));
        }
        spirt_kernels_active()->weighted_sum(g, srcs.data(), weights.data(), k, model->param_count());
      }
      return loss;
    };
    return spirt_addon::RunAsync(info.Env(), job, keep, [](Napi::Env env, double loss) { return Napi::Number::New(env, loss); });
  }

  // evaluate(params, images, labels) -> Promise<{loss: mean loss, correct}>, split across threads
  Napi::Value Evaluate(const Napi::CallbackInfo &info) {
    std::vector<Napi::Value> keep;
    auto params = Params(info, 0, "params");
    keep.push_back(params);
    auto x = info[1].As<Napi::Float32Array>();
    auto y = info[2].As<Napi::Uint8Array>();
    if (x.ElementLength() != y.ElementLength() * model_->input_size())
      throw Napi::RangeError::New(info.Env(), "spirt native: images and labels do not match");
    keep.push_back(x);
    keep.push_back(y);
    auto model = model_;
    const float *p = params.Data(), *px = x.Data();
    const uint8_t *py = y.Data();
    const size_t n = y.ElementLength();
    auto correct = std::make_shared<size_t>(0);
    auto job = [model, p, px, py, n, correct](std::string &error) -> double {
      const size_t threads = std::max(1u, std::thread::hardware_concurrency()), chunk = 256;
      std::vector<double> loss(threads, 0.0);
      std::vector<size_t> right(threads, 0);
      std::atomic<size_t> next{0};
      std::atomic<bool> failed{false};
      auto run = [&](size_t t) {
        try {
          spirt::Workspace ws = model->workspace(chunk);
          for (size_t s; (s = next.fetch_add(chunk)) < n;)
            model->evaluate(p, px + s * model->input_size(), py + s, std::min(chunk, n - s), &loss[t], &right[t], ws);
        } catch (const std::exception &e) {
          failed = true;
          error = e.what();
        }
      };
      std::vector<std::thread> pool;
      for (size_t t = 1; t < threads; t++) pool.emplace_back(run, t);
      run(0);
      for (auto &t : pool) t.join();
      double total = 0;
      for (size_t t = 0; t < threads; t++) total += loss[t], *correct += right[t];
      return n ? total / (double)n : 0.0;
    };
    return spirt_addon::RunAsync(info.Env(), job, keep, [correct](Napi::Env env, double loss) {
      auto o = Napi::Object::New(env);
      o["loss"] = Napi::Number::New(env, loss);
      o["correct"] = Napi::Number::New(env, (double)*correct);
      return Napi::Value(o);
    });
  }

  std::shared_ptr<spirt::Model> model_;
};

}  // namespace

namespace spirt_addon {
Napi::Function DefineNativeModel(Napi::Env env) { return NativeModel::Define(env); }
}  // namespace spirt_addon
