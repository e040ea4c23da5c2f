// The training engine's layers (dense, conv2d, 2x2 max-pool, ReLU) and softmax cross-entropy: the forward pass,
// the backward pass into one flat gradient vector, and evaluation. Matrix work goes to the spirt_kernels GEMM of
// the SIMD path chosen at load; see model.h for the parameter layout.
#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <stdexcept>

namespace spirt {

Model::Model(FeatureShape input, std::vector<LayerSpec> specs, size_t classes, const spirt_kernels *kern)
    : input_(input), classes_(classes), kern_(kern) {
  if (input.size() == 0) throw std::invalid_argument("input shape must not be empty");
  if (classes < 2) throw std::invalid_argument("a classifier needs at least 2 classes");
  if (specs.empty() || specs.back().kind != LayerKind::Dense || specs.back().units != classes)
    throw std::invalid_argument("the last layer must be dense with one unit per class");
  FeatureShape cur = input;
  max_act_ = cur.size();
  size_t index = 0;
  for (const LayerSpec &s : specs) {
    Layer l;
    l.spec = s;
    l.in = cur;
    const std::string prefix = "layer" + std::to_string(index++);
    switch (s.kind) {
      case LayerKind::Dense: {
        if (s.units == 0) throw std::invalid_argument("dense layers need units > 0");
        l.out = {s.units, 1, 1};
        l.weight_count = cur.size() * s.units;
        l.weight_offset = param_count_;
        l.bias_offset = param_count_ + l.weight_count;
        layout_.push_back({prefix + ".dense.weight", {cur.size(), s.units}, l.weight_offset});
        layout_.push_back({prefix + ".dense.bias", {s.units}, l.bias_offset});
        param_count_ += l.weight_count + s.units;
        break;
      }
      case LayerKind::Conv2d: {
        if (s.units == 0 || s.kernel == 0) throw std::invalid_argument("conv2d layers need filters > 0 and kernel > 0");
        if (cur.h + 2 * s.padding < s.kernel || cur.w + 2 * s.padding < s.kernel)
          throw std::invalid_argument("conv2d kernel is larger than its padded input");
        l.out = {s.units, cur.h + 2 * s.padding - s.kernel + 1, cur.w + 2 * s.padding - s.kernel + 1};
        const size_t ckk = cur.c * s.kernel * s.kernel;
        l.weight_count = s.units * ckk;
        l.weight_offset = param_count_;
        l.bias_offset = param_count_ + l.weight_count;
        layout_.push_back({prefix + ".conv2d.weight", {s.units, cur.c, s.kernel, s.kernel}, l.weight_offset});
        layout_.push_back({prefix + ".conv2d.bias", {s.units}, l.bias_offset});
        param_count_ += l.weight_count + s.units;
        max_cols_ = std::max(max_cols_, ckk * l.out.h * l.out.w);
        break;
      }
      case LayerKind::MaxPool2:
        if (cur.h < 2 || cur.w < 2) throw std::invalid_argument("max-pooling needs an input of at least 2x2");
        l.out = {cur.c, cur.h / 2, cur.w / 2};
        l.pool_index = pool_layers_++;
        break;
      case LayerKind::Relu:
        l.out = cur;
        break;
    }
    cur = l.out;
    max_act_ = std::max(max_act_, cur.size());
    layers_.push_back(l);
  }
}

void Model::init(float *params, uint64_t seed) const {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto uniform = [&state]() {  // splitmix64 -> [0, 1)
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  };
  for (const Layer &l : layers_) {
    if (l.spec.kind != LayerKind::Dense && l.spec.kind != LayerKind::Conv2d) continue;
    const size_t fan_in = l.spec.kind == LayerKind::Dense ? l.in.size() : l.in.c * l.spec.kernel * l.spec.kernel;
    const double limit = std::sqrt(6.0 / (double)fan_in);
    for (size_t i = 0; i < l.weight_count; i++) params[l.weight_offset + i] = (float)((uniform() * 2 - 1) * limit);
    std::memset(params + l.bias_offset, 0, l.spec.units * sizeof(float));
  }
}

Workspace Model::workspace(size_t max_batch) const {
  Workspace ws;
  ws.max_batch = max_batch;
  size_t max_conv_out = 0;
  for (const Layer &l : layers_) {
    ws.act.emplace_back(max_batch * l.out.size());
    if (l.spec.kind == LayerKind::MaxPool2) ws.argmax.emplace_back(max_batch * l.out.size());
    if (l.spec.kind == LayerKind::Conv2d) max_conv_out = std::max(max_conv_out, l.out.size());
  }
  ws.grad_a.resize(max_batch * max_act_);
  ws.grad_b.resize(max_batch * max_act_);
  ws.cols.resize(max_batch * max_cols_);
  ws.cols_grad.resize(max_batch * max_cols_);
  ws.transposed.resize(max_batch * max_conv_out);
  ws.probs.resize(max_batch * classes_);
  return ws;
}

void Model::gemm(int ta, int tb, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                 float beta, float *c, size_t ldc) const {
  if (kern_->sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc)) throw std::bad_alloc();
}

namespace {

// cols[(c*k*k + ky*k + kx) x (b*P + oy*OW + ox)] = x[b, c, oy + ky - pad, ox + kx - pad], zero outside the image
void im2col(const float *x, size_t batch, const FeatureShape &in, const FeatureShape &out, size_t k, size_t pad, float *cols) {
  const size_t P = out.h * out.w, row = batch * P;
  for (size_t c = 0; c < in.c; c++)
    for (size_t ky = 0; ky < k; ky++)
      for (size_t kx = 0; kx < k; kx++) {
        float *dst = cols + ((c * k + ky) * k + kx) * row;
        for (size_t b = 0; b < batch; b++) {
          const float *plane = x + b * in.size() + c * in.h * in.w;
          for (size_t oy = 0; oy < out.h; oy++) {
            const long iy = (long)(oy + ky) - (long)pad;
            float *d = dst + b * P + oy * out.w;
            if (iy < 0 || iy >= (long)in.h) {
              std::memset(d, 0, out.w * sizeof(float));
              continue;
            }
            for (size_t ox = 0; ox < out.w; ox++) {
              const long ix = (long)(ox + kx) - (long)pad;
              d[ox] = ix < 0 || ix >= (long)in.w ? 0.0f : plane[iy * in.w + ix];
            }
          }
        }
      }
}

// the adjoint of im2col: dx[b, c, y, x] += dcols[...] for every window position that read it
void col2im(const float *dcols, size_t batch, const FeatureShape &in, const FeatureShape &out, size_t k, size_t pad, float *dx) {
  std::memset(dx, 0, batch * in.size() * sizeof(float));
  const size_t P = out.h * out.w, row = batch * P;
  for (size_t c = 0; c < in.c; c++)
    for (size_t ky = 0; ky < k; ky++)
      for (size_t kx = 0; kx < k; kx++) {
        const float *src = dcols + ((c * k + ky) * k + kx) * row;
        for (size_t b = 0; b < batch; b++) {
          float *plane = dx + b * in.size() + c * in.h * in.w;
          for (size_t oy = 0; oy < out.h; oy++) {
            const long iy = (long)(oy + ky) - (long)pad;
            if (iy < 0 || iy >= (long)in.h) continue;
            const float *s = src + b * P + oy * out.w;
            for (size_t ox = 0; ox < out.w; ox++) {
              const long ix = (long)(ox + kx) - (long)pad;
              if (ix >= 0 && ix < (long)in.w) plane[iy * in.w + ix] += s[ox];
            }
          }
        }
      }
}

}  // namespace

void Model::forward(const float *params, const float *x, size_t batch, Workspace &ws) const {
  if (batch > ws.max_batch) throw std::invalid_argument("batch larger than the workspace");
  const float *cur = x;
  for (size_t i = 0; i < layers_.size(); i++) {
    const Layer &l = layers_[i];
    float *out = ws.act[i].data();
    switch (l.spec.kind) {
      case LayerKind::Dense: {
        const size_t F = l.in.size(), U = l.spec.units;
        gemm(0, 0, batch, U, F, cur, F, params + l.weight_offset, U, 0.0f, out, U);
        const float *bias = params + l.bias_offset;
        for (size_t b = 0; b < batch; b++)
          for (size_t u = 0; u < U; u++) out[b * U + u] += bias[u];
        break;
      }
      case LayerKind::Conv2d: {
        const size_t k = l.spec.kernel, ckk = l.in.c * k * k, P = l.out.h * l.out.w, OC = l.spec.units;
        im2col(cur, batch, l.in, l.out, k, l.spec.padding, ws.cols.data());
        gemm(0, 0, OC, batch * P, ckk, params + l.weight_offset, ckk, ws.cols.data(), batch * P, 0.0f, ws.transposed.data(),
             batch * P);
        const float *bias = params + l.bias_offset;
        for (size_t b = 0; b < batch; b++)
          for (size_t oc = 0; oc < OC; oc++) {
            const float *src = ws.transposed.data() + oc * batch * P + b * P;
            float *dst = out + b * l.out.size() + oc * P;
            for (size_t p = 0; p < P; p++) dst[p] = src[p] + bias[oc];
          }
        break;
      }
      case LayerKind::MaxPool2: {
        uint32_t *arg = ws.argmax[l.pool_index].data();
        for (size_t b = 0; b < batch; b++)
          for (size_t c = 0; c < l.in.c; c++) {
            const float *plane = cur + b * l.in.size() + c * l.in.h * l.in.w;
            for (size_t oy = 0; oy < l.out.h; oy++)
              for (size_t ox = 0; ox < l.out.w; ox++) {
                size_t best = (2 * oy) * l.in.w + 2 * ox;
                for (size_t dy = 0; dy < 2; dy++)
                  for (size_t dx = 0; dx < 2; dx++) {
                    const size_t at = (2 * oy + dy) * l.in.w + 2 * ox + dx;
                    if (plane[at] > plane[best]) best = at;
                  }
                const size_t o = b * l.out.size() + (c * l.out.h + oy) * l.out.w + ox;
                out[o] = plane[best];
                arg[o] = (uint32_t)(c * l.in.h * l.in.w + best);
              }
          }
        break;
      }
      case LayerKind::Relu:
        for (size_t j = 0, n = batch * l.out.size(); j < n; j++) out[j] = cur[j] > 0.0f ? cur[j] : 0.0f;
        break;
    }
    cur = out;
  }
  // softmax of the logits, kept for the loss and its gradient
  const float *logits = cur;
  for (size_t b = 0; b < batch; b++) {
    const float *z = logits + b * classes_;
    float *p = ws.probs.data() + b * classes_;
    const float zmax = *std::max_element(z, z + classes_);
    double sum = 0;
    for (size_t j = 0; j < classes_; j++) sum += (p[j] = std::exp(z[j] - zmax));
    for (size_t j = 0; j < classes_; j++) p[j] = (float)(p[j] / sum);
  }
}

static double sample_loss(const float *p, uint8_t label) {
  return -std::log(std::max((double)p[label], 1e-30));
}

double Model::gradient(const float *params, const float *x, const uint8_t *labels, size_t batch, float *grad, Workspace &ws) const {
  forward(params, x, batch, ws);
  std::memset(grad, 0, param_count_ * sizeof(float));
  if (batch == 0) return 0.0;
  double loss = 0;
  float *dcur = ws.grad_a.data(), *dprev = ws.grad_b.data();
  const float inv = 1.0f / (float)batch;
  for (size_t b = 0; b < batch; b++) {
    if (labels[b] >= classes_) throw std::invalid_argument("label out of range");
    const float *p = ws.probs.data() + b * classes_;
    loss += sample_loss(p, labels[b]);
    for (size_t j = 0; j < classes_; j++) dcur[b * classes_ + j] = (p[j] - (j == labels[b] ? 1.0f : 0.0f)) * inv;
  }
  for (size_t i = layers_.size(); i-- > 0;) {
    const Layer &l = layers_[i];
    const float *in = i == 0 ? x : ws.act[i - 1].data();
    const bool need_input_grad = i > 0;
    switch (l.spec.kind) {
      case LayerKind::Dense: {
        const size_t F = l.in.size(), U = l.spec.units;
        gemm(1, 0, F, U, batch, in, F, dcur, U, 0.0f, grad + l.weight_offset, U);
        float *db = grad + l.bias_offset;
        for (size_t b = 0; b < batch; b++)
          for (size_t u = 0; u < U; u++) db[u] += dcur[b * U + u];
        if (need_input_grad) gemm(0, 1, batch, F, U, dcur, U, params + l.weight_offset, U, 0.0f, dprev, F);
        break;
      }
      case LayerKind::Conv2d: {
        const size_t k = l.spec.kernel, ckk = l.in.c * k * k, P = l.out.h * l.out.w, OC = l.spec.units;
        float *dt = ws.transposed.data();
        for (size_t b = 0; b < batch; b++)
          for (size_t oc = 0; oc < OC; oc++)
            std::memcpy(dt + oc * batch * P + b * P, dcur + b * l.out.size() + oc * P, P * sizeof(float));
        im2col(in, batch, l.in, l.out, k, l.spec.padding, ws.cols.data());  // the forward's columns, rebuilt
        gemm(0, 1, OC, ckk, batch * P, dt, batch * P, ws.cols.data(), batch * P, 0.0f, grad + l.weight_offset, ckk);
        float *db = grad + l.bias_offset;
        for (size_t oc = 0; oc < OC; oc++) {
          double s = 0;
          for (size_t j = 0; j < batch * P; j++) s += dt[oc * batch * P + j];
          db[oc] = (float)s;
        }
        if (need_input_grad) {
          gemm(1, 0, ckk, batch * P, OC, params + l.weight_offset, ckk, dt, batch * P, 0.0f, ws.cols_grad.data(), batch * P);
          col2im(ws.cols_grad.data(), batch, l.in, l.out, k, l.spec.padding, dprev);
        }
        break;
      }
      case LayerKind::MaxPool2:
        if (need_input_grad) {
          const uint32_t *arg = ws.argmax[l.pool_index].data();
          std::memset(dprev, 0, batch * l.in.size() * sizeof(float));
          for (size_t b = 0; b < batch; b++)
            for (size_t o = 0; o < l.out.size(); o++) dprev[b * l.in.size() + arg[b * l.out.size() + o]] += dcur[b * l.out.size() + o];
        }
        break;
      case LayerKind::Relu:
        if (need_input_grad) {
          const float *out = ws.act[i].data();
          for (size_t j = 0, n = batch * l.out.size(); j < n; j++) dprev[j] = out[j] > 0.0f ? dcur[j] : 0.0f;
        }
        break;
    }
    std::swap(dcur, dprev);
  }
  return loss / (double)batch;
}

void Model::evaluate(const float *params, const float *x, const uint8_t *labels, size_t batch, double *loss_sum, size_t *correct,
                     Workspace &ws) const {
  forward(params, x, batch, ws);
  for (size_t b = 0; b < batch; b++) {
    if (labels[b] >= classes_) throw std::invalid_argument("label out of range");
    const float *p = ws.probs.data() + b * classes_;
    *loss_sum += sample_loss(p, labels[b]);
    *correct += (size_t)(std::max_element(p, p + classes_) - p) == labels[b];
  }
}

}  // namespace spirt
