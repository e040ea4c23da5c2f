// A small native training engine: layers with forward and backward passes over batch-major float32
// activations, the matrix work done by the spirt_kernels GEMM. All parameters live in one contiguous
// vector and all gradients in another of the same layout, so a whole gradient is one tensor to average.
#ifndef SPIRT_MODEL_H
#define SPIRT_MODEL_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

// Activations and scratch for one thread running one batch of at most max_batch samples.
struct Workspace {
  size_t max_batch = 0;
  std::vector<std::vector<float>> act;  // act[0] = input copy is not kept; act[i + 1] = output of layer i
  std::vector<float> grad_a, grad_b;    // ping-pong buffers for d(loss)/d(activation)
  std::vector<float> cols, cols_grad;   // im2col scratch for convolutions
  std::vector<float> transposed;        // [channels x batch*pixels] scratch for convolutions
  std::vector<std::vector<uint32_t>> argmax;  // max-pool winners, one vector per pooling layer
  std::vector<float> probs;             // softmax output
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
    size_t weight_offset = 0, bias_offset = 0, weight_count = 0;
    size_t pool_index = 0;  // which argmax slot (max-pool layers)
  };
  void forward(const float *params, const float *x, size_t batch, Workspace &ws) const;
  void gemm(int ta, int tb, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float beta,
            float *c, size_t ldc) const;

  FeatureShape input_;
  size_t classes_;
  const spirt_kernels *kern_;
  std::vector<Layer> layers_;
  std::vector<ParamInfo> layout_;
  size_t param_count_ = 0, pool_layers_ = 0, max_act_ = 0, max_cols_ = 0;
};

}  // namespace spirt

#endif
