// A small native training engine: layers with forward and backward passes over float32 activations. Dense
// layers work on batch-major rows with the spirt_kernels GEMM; convolutions and max-pooling work on batch blocks
// (conv.h: a block holds one SIMD vector's worth of samples, sample innermost). All parameters live in one
// contiguous vector and all gradients in another of the same layout, so a whole gradient is one tensor to average.
#ifndef SPIRT_MODEL_H
#define SPIRT_MODEL_H

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "conv.h"
#include "spirt_kernels.h"

namespace spirt {

enum class LayerKind { Dense, Conv2d, MaxPool2, Relu };

struct LayerSpec {
  LayerKind kind;
  size_t units = 0;    // dense: outputs; conv2d: output channels
  size_t kernel = 0;   // conv2d: square kernel size
  size_t padding = 0;  // conv2d: zero padding on each side (stride is 1)
};

// One sample's feature map: channels x height x width (a flat vector is c x 1 x 1).
struct FeatureShape {
  size_t c = 1, h = 1, w = 1;
  size_t size() const { return c * h * w; }
};

struct ParamInfo {
  std::string name;
  std::vector<size_t> shape;
  size_t offset;  // in elements, into the flat parameter vector
};

// Memory for activations: 64-byte aligned, as the convolution kernels load whole vectors from blocks.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U> &) {}
  T *allocate(size_t n) {
    void *p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return static_cast<T *>(p);
  }
  void deallocate(T *p, size_t) { std::free(p); }
  bool operator==(const AlignedAllocator &) const { return true; }
  bool operator!=(const AlignedAllocator &) const { return false; }
};
using Floats = std::vector<float, AlignedAllocator<float>>;

// Activations and scratch for one thread running one batch of at most max_batch samples. Buffers hold
// padded_batch samples (max_batch rounded up to whole blocks) in their layer's format: rows or blocks.
struct Workspace {
  size_t max_batch = 0, padded_batch = 0;
  std::vector<Floats> act;     // act[i]: output of layer i
  std::vector<Floats> staged;  // staged[i]: layer i's input converted to its format (and zero-padded), when it needs that
  Floats grad_a, grad_b;       // ping-pong buffers for d(loss)/d(activation)
  Floats converted;            // an input gradient before conversion to the previous layer's format
  Floats dout_wide;            // one block of a convolution's output gradient with zero side columns (conv.h input_grad)
  Floats probs;                // softmax output
};

class Model {
 public:
  // Throws std::invalid_argument for a spec that does not fit together.
  Model(FeatureShape input, std::vector<LayerSpec> layers, size_t classes, const spirt_kernels *kern);

  size_t param_count() const { return param_count_; }
  size_t input_size() const { return input_.size(); }
  size_t classes() const { return classes_; }
  const spirt_kernels *kernels() const { return kern_; }
  const std::vector<ParamInfo> &layout() const { return layout_; }

  // He-uniform weights (a fixed seed reproduces them), zero biases.
  void init(float *params, uint64_t seed) const;
  Workspace workspace(size_t max_batch) const;

  // Mean softmax cross-entropy over the batch; grad (param_count) receives its gradient, overwritten.
  // Throws std::bad_alloc when GEMM scratch cannot be allocated, std::invalid_argument for a label out of range
  // or a batch larger than the workspace.
  double gradient(const float *params, const float *x, const uint8_t *labels, size_t batch, float *grad, Workspace &ws) const;
  // Forward only: adds the batch's summed loss to *loss_sum and its correct argmax predictions to *correct.
  // Throws as gradient() does.
  void evaluate(const float *params, const float *x, const uint8_t *labels, size_t batch, double *loss_sum, size_t *correct,
                Workspace &ws) const;

 private:
  struct Layer {
    LayerSpec spec;
    FeatureShape in, out;
    // activation formats, batch blocks or rows (samples x features): of the incoming activation (the previous
    // layer's output, or the model's rows) and of the one the layer computes on, its output's too
    bool blocked_prev = false, blocked = false;
    bool staged = false;  // the input is converted to the layer's format, or zero-padded, into ws.staged first
    size_t weight_offset = 0, bias_offset = 0, weight_count = 0;
    spirt_conv_shape conv{};  // conv2d: the convolution over the padded input
  };
  // Blocks that hold `batch` samples.
  size_t blocks(size_t batch) const { return (batch + conv_->lanes - 1) / conv_->lanes; }
  void stage(const Layer &l, const float *prev, size_t batch, float *staged) const;
  void forward(const float *params, const float *x, size_t batch, Workspace &ws) const;
  void gemm(int ta, int tb, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float beta,
            float *c, size_t ldc) const;

  FeatureShape input_;
  size_t classes_;
  const spirt_kernels *kern_;
  const spirt_conv_kernels *conv_;
  std::vector<Layer> layers_;
  std::vector<ParamInfo> layout_;
  size_t param_count_ = 0, max_act_ = 0, max_wide_ = 0;
};

}  // namespace spirt

#endif
