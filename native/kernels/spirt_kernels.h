/* spirt SIMD kernels: plain C, no Node-API, shared by the Node addon and the Redis module.
 * One table of function pointers per instruction set; spirt_kernels_select() picks one at load.
 *
 * Every path gives the same bits for the same input, so peers on different CPUs hold identical parameters:
 * every element-wise kernel, conversion and reduction below, all but sgemm. Arithmetic kernels write NaN
 * results as the canonical quiet NaN 0x7fc00000 (a NaN wherever IEEE arithmetic gives one: a NaN input, or
 * Inf - Inf, 0 * Inf, ...); conversions keep NaN payloads as hardware converters do (see common.c). */
#ifndef SPIRT_KERNELS_H
#define SPIRT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spirt_sgd_params {
    float lr;
    float momentum;     /* 0 disables the velocity buffer */
    float dampening;
    float weight_decay; /* L2 term added to the gradient */
    int nesterov;
    /* 1 on the first step of a momentum buffer: velocity = g, undampened, whatever it held (PyTorch's buf = g) */
    int first_step;
} spirt_sgd_params;

typedef struct spirt_adam_params {
    float lr;
    float beta1;
    float beta2;
    float eps;
    float weight_decay;
    int decoupled;      /* 1: AdamW (decay applied to the parameter), 0: Adam (L2 added to the gradient) */
    uint64_t step;      /* 1-based step count, used for bias correction */
} spirt_adam_params;

/* Reductions (dot, sumsq) split the vector into blocks of SPIRT_REDUCE_BLOCK elements from its start. Each
 * block is summed in 32 double lanes (element i in lane i % 32; float products are exact in double), the lanes
 * combined by a fixed tree; the result is 0.0 + block 0 + block 1 + ... added in block order. A caller that
 * splits a reduction across threads must cut at block boundaries, compute each block with its own call
 * (dot(a + j*B, b + j*B, len_j) is block j's sum exactly) and add the block sums in order from 0.0. */
#define SPIRT_REDUCE_BLOCK ((size_t)16384)

typedef struct spirt_kernels {
    const char *name;
    /* out = sum_j w[j] * src[j], each product rounded, added in source order. w == NULL means the plain mean:
     * (src[0] + ... + src[nsrc-1]) added in source order, then divided by nsrc (one correctly rounded division).
     * out may alias a source. */
    void (*weighted_sum)(float *out, const float *const *src, const float *w, size_t nsrc, size_t n);
    /* y += a * x */
    void (*axpy)(float *y, float a, const float *x, size_t n);
    /* out = a * x (out may equal x) */
    void (*scale)(float *out, const float *x, float a, size_t n);
    /* sum a[i] * b[i] in the order of SPIRT_REDUCE_BLOCK; NaN (canonical) if any term is */
    double (*dot)(const float *a, const float *b, size_t n);
    double (*sumsq)(const float *x, size_t n);
    /* max |x|, NaN if any element is NaN; max is exact, so any split of x gives the same result */
    float (*maxabs)(const float *x, size_t n);
    /* velocity may be NULL when momentum == 0 */
    void (*sgd)(float *param, const float *grad, float *velocity, size_t n, const spirt_sgd_params *p);
    void (*adam)(float *param, const float *grad, float *m, float *v, size_t n, const spirt_adam_params *p);
    void (*f32_to_f16)(uint16_t *out, const float *in, size_t n);
    void (*f16_to_f32)(float *out, const uint16_t *in, size_t n);
    void (*f32_to_bf16)(uint16_t *out, const float *in, size_t n);
    void (*bf16_to_f32)(float *out, const uint16_t *in, size_t n);
    /* q = clamp(x / scale, -127, 127) rounded half to even, the quotient correctly rounded to float first;
     * a NaN input is written as 0. Returns how many inputs were NaN. */
    size_t (*quantize_i8)(int8_t *out, const float *in, float scale, size_t n);
    void (*dequantize_i8)(float *out, const int8_t *in, float scale, size_t n);
    /* C = alpha * op(A) . op(B) + beta * C, row-major, op = transpose when ta/tb; op(A) is M x K, op(B) K x N.
     * Single-threaded. Returns 0, or -1 when its packing buffers cannot be allocated. The one kernel whose
     * rounding differs between paths (the vector paths fuse multiply-adds, register blocking differs). */
    int (*sgemm)(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                 const float *B, size_t ldb, float beta, float *C, size_t ldc);
    /* The per-ISA parts of robust aggregation; call them through the spirt_agg_* functions below. */
    int (*trimmed_mean)(float *out, const float *const *src, size_t nsrc, size_t n, size_t trim);
    /* sum (a[i] - b[i])^2, the difference and square in double, in the order of SPIRT_REDUCE_BLOCK */
    double (*sqdist)(const float *a, const float *b, size_t n);
    /* v += (coef[j0] * (src[j0] - v) + ... ) / nsrc over the sources with coef[j] != 0, in source order */
    void (*clip_step)(float *v, const float *const *src, const float *coef, size_t nsrc, size_t n);
} spirt_kernels;

/* The kernels chosen for this process: SPIRT_SIMD=scalar|avx2|avx512|neon forces one path,
 * otherwise the widest one the CPU supports. Returns NULL (and sets *error) when a forced path
 * is unknown or unsupported by this CPU or build. Thread-safe after the first call. */
const spirt_kernels *spirt_kernels_select(const char **error);

/* A named path regardless of SPIRT_SIMD, or NULL when unavailable here. */
const spirt_kernels *spirt_kernels_by_name(const char *name);

/* Names of the paths this CPU and build can run, NULL-terminated. */
const char *const *spirt_kernels_available(void);

/* Top-k sparsification with error feedback: acc = grad + residual; the k entries of largest |acc|
 * are written to indices (ascending) and values; residual becomes acc with those entries zeroed.
 * Returns the number of entries written (min(k, n)); -1 when out of memory. */
long spirt_topk_error_feedback(const spirt_kernels *kern, const float *grad, float *residual, size_t n,
                               size_t k, uint32_t *indices, float *values);

/* Scales every tensor by min(1, max_norm / global_norm); returns the global L2 norm before clipping. */
double spirt_clip_by_global_norm(const spirt_kernels *kern, float *const *tensors, const size_t *lengths,
                                 size_t count, double max_norm);

/* Robust aggregation of nsrc float32 vectors of n elements into out, which may not alias a source. The same
 * bytes on every path. Each returns 0, SPIRT_AGG_EINVAL for arguments its rule cannot take (nothing written),
 * or SPIRT_AGG_ENOMEM. Per coordinate, values are ordered as floats with -0 below +0 and NaN above +Inf. */
#define SPIRT_AGG_EINVAL (-1)
#define SPIRT_AGG_ENOMEM (-2)

/* Per coordinate: drop the trim smallest and trim largest values, add the rest in ascending order in float32,
 * divide by nsrc - 2*trim (one correctly rounded division). Needs 2*trim < nsrc. */
int spirt_agg_trimmed_mean(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n,
                           size_t trim);
/* Coordinate-wise median: the trimmed mean with trim = (nsrc - 1) / 2, so for an even count the two middle
 * values added and halved in float32. Needs nsrc >= 1. */
int spirt_agg_median(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n);
/* Multi-Krum (Blanchard et al. 2017) against f Byzantine sources: each source's score is the sum, smallest first,
 * of its squared distances (sqdist) to its nsrc - f - 2 nearest others; the m lowest scores (NaN highest, ties
 * to the lower index) are selected, their indices written ascending to selected[0..m), and out is their mean
 * (weighted_sum without weights, in index order). m = 1 is Krum: out is the selected source itself.
 * Needs nsrc >= 2f + 3 and 1 <= m <= nsrc - f. */
int spirt_agg_krum(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n, size_t f,
                   size_t m, uint32_t *selected);
/* Centered clipping (Karimireddy et al. 2021): v starts at center (zeros when NULL; center may be out), then
 * `iterations` times: c_j = min(1, tau / |src_j - v|) with the norm sqrt(sqdist) in double, rounded to float
 * (0 when the norm is not finite: that source is left out), and v += sum_j c_j (src_j - v) / nsrc (clip_step).
 * Needs nsrc >= 1 and tau >= 0 (Inf: no clipping). */
int spirt_agg_centered_clip(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n,
                            float tau, unsigned iterations, const float *center);

/* Batcher's odd-even merge sort on n wires as (i, j) pairs, i < j, each putting the smaller value on wire i:
 * writes 2 * count entries to pairs (when not NULL) and returns count. Used by the trimmed_mean kernels. */
size_t spirt_sort_network(size_t n, uint32_t *pairs);

/* Scalar conversions, exact round-to-nearest-even, used by the scalar path. NaN keeps its sign and top
 * payload bits and becomes quiet, as the F16C and NEON converters do. */
uint16_t spirt_f32_to_f16_scalar(float f);
float spirt_f16_to_f32_scalar(uint16_t h);
uint16_t spirt_f32_to_bf16_scalar(float f);
float spirt_bf16_to_f32_scalar(uint16_t h);

#ifdef __cplusplus
}
#endif

#endif
