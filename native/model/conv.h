/* Convolutions and 2x2 max-pooling over batch-blocked activations. A block holds `lanes` samples as [channel][row][column][lane], so
 * every multiply-add is one SIMD vector over samples, whatever the channel counts and image sizes (LeNet's
 * conv1 has 1 input channel and 28x28 outputs, conv2 6 -> 16 channels and 10x10 outputs), and each weight is a
 * broadcast scalar. One table per instruction set (conv_<isa>.c over conv_body.h), chosen with the kernels. */
#ifndef SPIRT_CONV_H
#define SPIRT_CONV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A stride-1 convolution with a square kernel over an input padded by `pad` zeros on each side: in_h x in_w is
 * the padded size, out_h = in_h - k + 1, out_w = in_w - k + 1. Weights are [out_c][in_c][k][k]. */
typedef struct spirt_conv_shape {
    size_t in_c, in_h, in_w, pad;
    size_t out_c, k, out_h, out_w;
} spirt_conv_shape;

/* Every pointer to activations is one block, 64-byte aligned. */
typedef struct spirt_conv_kernels {
    const char *name;
    size_t lanes; /* samples per block */
    /* out[out_c][out_h][out_w] = bias + the convolution of in[in_c][in_h][in_w] (padded) */
    void (*forward)(const spirt_conv_shape *s, const float *in, const float *weight, const float *bias, float *out);
    /* dweight += d(loss)/d(weight) and dbias += d(loss)/d(bias), summed over the samples of `blocks` consecutive
     * blocks of in and dout (one call for the batch: each weight's vector sum is reduced across lanes once) */
    void (*weight_grad)(const spirt_conv_shape *s, size_t blocks, const float *in, const float *dout, float *dweight,
                        float *dbias);
    /* din[in_c][in_h - 2 pad][in_w - 2 pad] = d(loss)/d(unpadded input), from dout_wide: dout with k - 1 zero
     * columns on each side, [out_c][out_h][out_w + 2 (k - 1)] */
    void (*input_grad)(const spirt_conv_shape *s, const float *dout_wide, const float *weight, float *din);
    /* out[c][h / 2][w / 2] = the maximum of each 2x2 window of in[c][h][w]; ties go to the first in row-major order */
    void (*pool_forward)(size_t c, size_t h, size_t w, const float *in, float *out);
    /* din = each window's gradient at the element forward chose (none for a NaN window), zero elsewhere */
    void (*pool_backward)(size_t c, size_t h, size_t w, const float *in, const float *out, const float *dout, float *din);
} spirt_conv_kernels;

/* The table for a kernels path name (scalar, avx2, avx512, neon); the scalar one for a name this build lacks. */
const spirt_conv_kernels *spirt_conv_kernels_for(const char *simd_path);

#ifdef __cplusplus
}
#endif

#endif
