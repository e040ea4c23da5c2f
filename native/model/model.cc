// The training engine's layers (dense, conv2d, 2x2 max-pool, ReLU) and softmax cross-entropy: the forward pass,
// the backward pass into one flat gradient vector, and evaluation. Dense layers run on rows through the
// spirt_kernels GEMM, convolutions on batch blocks through the conv.h kernels of the same SIMD path; each layer
// converts its input when the previous layer left it in the other format. See model.h for the parameter layout.
#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <stdexcept>

namespace spirt {

Model::Model(FeatureShape input, std::vector<LayerSpec> specs, size_t classes, const spirt_kernels *kern)
    : input_(input), classes_(classes), kern_(kern), conv_(spirt_conv_kernels_for(kern->name)) {
  if (input.size() == 0) throw std::invalid_argument("input shape must not be empty");
  if (classes < 2) throw std::invalid_argument("a classifier needs at least 2 classes");
  if (specs.empty() || specs.back().kind != LayerKind::Dense || specs.back().units != classes)
    throw std::invalid_argument("the last layer must be dense with one unit per class");
  FeatureShape cur = input;
  bool blocked = false;  // the model's input arrives as rows
  max_act_ = cur.size();
  size_t index = 0;
  for (const LayerSpec &s : specs) {
    Layer l;
    l.spec = s;
    l.in = cur;
    l.blocked_prev = blocked;
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
        l.blocked = false;
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
        l.blocked = true;
        l.conv = {cur.c, cur.h + 2 * s.padding, cur.w + 2 * s.padding, s.padding, s.units, s.kernel, l.out.h, l.out.w};
        max_act_ = std::max(max_act_, cur.c * l.conv.in_h * l.conv.in_w);
        max_wide_ = std::max(max_wide_, l.out.c * l.out.h * (l.out.w + 2 * (s.kernel - 1)));
        break;
      }
      case LayerKind::MaxPool2:
        if (cur.h < 2 || cur.w < 2) throw std::invalid_argument("max-pooling needs an input of at least 2x2");
        l.out = {cur.c, cur.h / 2, cur.w / 2};
        l.blocked = true;
        break;
      case LayerKind::Relu:
        l.out = cur;
        l.blocked = blocked;
        break;
    }
    l.staged = l.blocked != l.blocked_prev || (s.kind == LayerKind::Conv2d && s.padding > 0);
    blocked = l.blocked;
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
  ws.padded_batch = blocks(max_batch) * conv_->lanes;
  const size_t n = ws.padded_batch;
  for (const Layer &l : layers_) {
    ws.act.emplace_back(n * l.out.size());
    const size_t staged = l.spec.kind == LayerKind::Conv2d ? l.conv.in_c * l.conv.in_h * l.conv.in_w : l.in.size();
    ws.staged.emplace_back(l.staged ? n * staged : 0);
  }
  ws.grad_a.resize(n * max_act_);
  ws.grad_b.resize(n * max_act_);
  ws.converted.resize(n * max_act_);
  ws.dout_wide.resize(conv_->lanes * max_wide_);  // one block at a time
  ws.probs.resize(max_batch * classes_);
  return ws;
}

void Model::gemm(int ta, int tb, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                 float beta, float *c, size_t ldc) const {
  if (kern_->sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc)) throw std::bad_alloc();
}

namespace {

// rows [batch][c][h][w] -> blocks [c][h + 2 pad][w + 2 pad][lanes], zero around each plane and in lanes past the batch
void rows_to_blocks(const float *rows, size_t batch, const FeatureShape &f, size_t pad, size_t lanes, float *out) {
  const size_t ph = f.h + 2 * pad, pw = f.w + 2 * pad, block = f.c * ph * pw * lanes;
  std::memset(out, 0, (batch + lanes - 1) / lanes * block * sizeof(float));
  for (size_t b = 0; b < batch; b++) {
    const float *src = rows + b * f.size();
    float *dst = out + b / lanes * block + b % lanes;
    for (size_t c = 0; c < f.c; c++)
      for (size_t y = 0; y < f.h; y++)
        for (size_t x = 0; x < f.w; x++) dst[((c * ph + y + pad) * pw + x + pad) * lanes] = src[(c * f.h + y) * f.w + x];
  }
}

// blocks [size][lanes] -> rows [batch][size]
void blocks_to_rows(const float *blocks, size_t batch, size_t size, size_t lanes, float *rows) {
  for (size_t b = 0; b < batch; b++) {
    const float *src = blocks + b / lanes * size * lanes + b % lanes;
    float *dst = rows + b * size;
    for (size_t i = 0; i < size; i++) dst[i] = src[i * lanes];
  }
}

// blocks [c][h][w][lanes] -> blocks [c][h + 2 pad][w + 2 pad][lanes], zero around each plane
void pad_blocks(const float *in, size_t count, const FeatureShape &f, size_t pad, size_t lanes, float *out) {
  const size_t ph = f.h + 2 * pad, pw = f.w + 2 * pad;
  std::memset(out, 0, count * f.c * ph * pw * lanes * sizeof(float));
  for (size_t plane = 0; plane < count * f.c; plane++)
    for (size_t y = 0; y < f.h; y++)
      std::memcpy(out + ((plane * ph + y + pad) * pw + pad) * lanes, in + (plane * f.h + y) * f.w * lanes, f.w * lanes * sizeof(float));
}

}  // namespace

void Model::stage(const Layer &l, const float *prev, size_t batch, float *staged) const {
  const size_t lanes = conv_->lanes, pad = l.spec.kind == LayerKind::Conv2d ? l.spec.padding : 0;
  if (!l.blocked) blocks_to_rows(prev, batch, l.in.size(), lanes, staged);
  else if (!l.blocked_prev) rows_to_blocks(prev, batch, l.in, pad, lanes, staged);
  else pad_blocks(prev, blocks(batch), l.in, pad, lanes, staged);
}

void Model::forward(const float *params, const float *x, size_t batch, Workspace &ws) const {
  if (batch > ws.max_batch) throw std::invalid_argument("batch larger than the workspace");
  const size_t lanes = conv_->lanes, nb = blocks(batch);
  const float *cur = x;
  for (size_t i = 0; i < layers_.size(); i++) {
    const Layer &l = layers_[i];
    float *out = ws.act[i].data();
    const float *in = cur;
    if (l.staged) {
      stage(l, cur, batch, ws.staged[i].data());
      in = ws.staged[i].data();
    }
    switch (l.spec.kind) {
      case LayerKind::Dense: {
        const size_t F = l.in.size(), U = l.spec.units;
        gemm(0, 0, batch, U, F, in, F, params + l.weight_offset, U, 0.0f, out, U);
        const float *bias = params + l.bias_offset;
        for (size_t b = 0; b < batch; b++)
          for (size_t u = 0; u < U; u++) out[b * U + u] += bias[u];
        break;
      }
      case LayerKind::Conv2d: {
        const size_t in_block = l.conv.in_c * l.conv.in_h * l.conv.in_w * lanes, out_block = l.out.size() * lanes;
        for (size_t blk = 0; blk < nb; blk++)
          conv_->forward(&l.conv, in + blk * in_block, params + l.weight_offset, params + l.bias_offset, out + blk * out_block);
        break;
      }
      case LayerKind::MaxPool2:
        for (size_t blk = 0; blk < nb; blk++)
          conv_->pool_forward(l.in.c, l.in.h, l.in.w, in + blk * l.in.size() * lanes, out + blk * l.out.size() * lanes);
        break;
      case LayerKind::Relu:
        for (size_t j = 0, n = (l.blocked ? nb * lanes : batch) * l.out.size(); j < n; j++) out[j] = in[j] > 0.0f ? in[j] : 0.0f;
        break;
    }
    cur = out;
  }
  // softmax of the logits (rows: the last layer is dense), kept for the loss and its gradient
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
  if (batch == 0) {
    std::memset(grad, 0, param_count_ * sizeof(float));
    return 0.0;
  }
  // the backward pass adds into biases and convolution weights; the GEMM overwrites dense weights
  for (const Layer &l : layers_) {
    if (l.spec.kind == LayerKind::Conv2d) std::memset(grad + l.weight_offset, 0, (l.weight_count + l.spec.units) * sizeof(float));
    if (l.spec.kind == LayerKind::Dense) std::memset(grad + l.bias_offset, 0, l.spec.units * sizeof(float));
  }
  const size_t lanes = conv_->lanes, nb = blocks(batch);
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
    const float *in = l.staged ? ws.staged[i].data() : i == 0 ? x : ws.act[i - 1].data();
    const bool need_input_grad = i > 0;
    // the input gradient in this layer's format, converted to the previous layer's afterwards when they differ
    const bool convert = l.blocked != l.blocked_prev;
    float *din = convert ? ws.converted.data() : dprev;
    switch (l.spec.kind) {
      case LayerKind::Dense: {
        const size_t F = l.in.size(), U = l.spec.units;
        gemm(1, 0, F, U, batch, in, F, dcur, U, 0.0f, grad + l.weight_offset, U);
        float *db = grad + l.bias_offset;
        for (size_t b = 0; b < batch; b++)
          for (size_t u = 0; u < U; u++) db[u] += dcur[b * U + u];
        if (need_input_grad) gemm(0, 1, batch, F, U, dcur, U, params + l.weight_offset, U, 0.0f, din, F);
        break;
      }
      case LayerKind::Conv2d: {
        const spirt_conv_shape &s = l.conv;
        conv_->weight_grad(&s, nb, in, dcur, grad + l.weight_offset, grad + l.bias_offset);
        if (!need_input_grad) break;
        const size_t wide = s.out_w + 2 * (s.k - 1), row = s.out_w * lanes, out_block = l.out.size() * lanes;
        float *dw = ws.dout_wide.data();
        std::memset(dw, 0, s.out_c * s.out_h * wide * lanes * sizeof(float));
        for (size_t blk = 0; blk < nb; blk++) {
          const float *d = dcur + blk * out_block;
          for (size_t r = 0; r < s.out_c * s.out_h; r++) std::memcpy(dw + (r * wide + s.k - 1) * lanes, d + r * row, row * sizeof(float));
          conv_->input_grad(&s, dw, params + l.weight_offset, din + blk * l.in.size() * lanes);
        }
        break;
      }
      case LayerKind::MaxPool2:
        for (size_t blk = 0; need_input_grad && blk < nb; blk++) {
          const size_t at_in = blk * l.in.size() * lanes, at_out = blk * l.out.size() * lanes;
          conv_->pool_backward(l.in.c, l.in.h, l.in.w, in + at_in, ws.act[i].data() + at_out, dcur + at_out, din + at_in);
        }
        break;
      case LayerKind::Relu:
        if (need_input_grad) {
          const float *out = ws.act[i].data();
          for (size_t j = 0, n = (l.blocked ? nb * lanes : batch) * l.out.size(); j < n; j++) {
            const float d = dcur[j];  // read unconditionally, so the loop vectorizes
            din[j] = out[j] > 0.0f ? d : 0.0f;
          }
        }
        break;
    }
    if (need_input_grad && convert) {
      if (l.blocked) blocks_to_rows(din, batch, l.in.size(), lanes, dprev);
      else rows_to_blocks(din, batch, l.in, 0, lanes, dprev);
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
