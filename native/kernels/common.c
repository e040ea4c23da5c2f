/* ISA-independent parts: exact scalar float16/bfloat16 conversions, top-k selection, global-norm clipping. */
#include "spirt_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* IEEE half from float, round to nearest even, by letting float arithmetic do the rounding. NaN: sign, quiet
 * bit and the top 9 payload bits, as F16C's vcvtps2ph and NEON's fcvtn give. */
uint16_t spirt_f32_to_f16_scalar(float f) {
    const float scale_to_inf = 0x1.0p+112f, scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = f32_bits(f), shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = f32_bits(base);
    const uint32_t nonsign = ((bits >> 13) & 0x7C00u) + (bits & 0x0FFFu);
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u | ((w >> 13) & 0x3FFu) : nonsign));
}

/* NaN: sign and payload kept, made quiet, as vcvtph2ps and fcvtl give */
float spirt_f16_to_f32_scalar(uint16_t h) {
    if ((h & 0x7C00u) == 0x7C00u && (h & 0x03FFu))
        return f32_from_bits(((uint32_t)(h & 0x8000u) << 16) | 0x7FC00000u | ((uint32_t)(h & 0x03FFu) << 13));
    const uint32_t w = (uint32_t)h << 16, sign = w & 0x80000000u, two_w = w + w;
    const float normalized = f32_from_bits((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    const float denormalized = f32_from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
    return f32_from_bits(sign | (two_w < (1u << 27) ? f32_bits(denormalized) : f32_bits(normalized)));
}

uint16_t spirt_f32_to_bf16_scalar(float f) {
    const uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float spirt_bf16_to_f32_scalar(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* Ranking key: the bits of |x| order like |x| as unsigned integers; every NaN becomes one value above Inf,
 * so NaNs are sent (never hidden in the residual) and tie among themselves. */
static inline uint32_t rank_key(float x) {
    uint32_t b = f32_bits(x) & 0x7fffffffu;
    return b > 0x7f800000u ? 0x7fc00000u : b;
}

/* Radix select on rank keys, 16 bits per pass: finds the key T of the k-th largest entry and how many
 * entries rank strictly above it. Two histogram passes, O(n), no copy of the data. */
static int kth_largest_key(const float *x, size_t n, size_t k, uint32_t *threshold, size_t *above) {
    uint32_t *hist = (uint32_t *)calloc(65536, sizeof(uint32_t));
    if (!hist) return -1;
    for (size_t i = 0; i < n; i++) hist[rank_key(x[i]) >> 16]++;
    size_t cum = 0;
    uint32_t hi = 65535;
    for (;; hi--) {
        if (cum + hist[hi] >= k) break;
        cum += hist[hi];
    }
    memset(hist, 0, 65536 * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        uint32_t key = rank_key(x[i]);
        if ((key >> 16) == hi) hist[key & 0xffffu]++;
    }
    uint32_t lo = 65535;
    for (;; lo--) {
        if (cum + hist[lo] >= k) break;
        cum += hist[lo];
    }
    free(hist);
    *threshold = (hi << 16) | lo;
    *above = cum;
    return 0;
}

long spirt_topk_error_feedback(const spirt_kernels *kern, const float *grad, float *residual, size_t n,
                               size_t k, uint32_t *indices, float *values) {
    kern->axpy(residual, 1.0f, grad, n); /* residual now holds acc = grad + residual */
    if (k > n) k = n;
    if (k == 0) return 0;
    uint32_t threshold = 0;
    size_t above = 0;
    if (kth_largest_key(residual, n, k, &threshold, &above)) return -1;
    size_t ties_left = k - above, out = 0;
    for (size_t i = 0; i < n && out < k; i++) {
        const uint32_t key = rank_key(residual[i]);
        if (key > threshold || (key == threshold && ties_left > 0 && ties_left--)) {
            indices[out] = (uint32_t)i;
            values[out++] = residual[i];
            residual[i] = 0.0f;
        }
    }
    return (long)out;
}

double spirt_clip_by_global_norm(const spirt_kernels *kern, float *const *tensors, const size_t *lengths,
                                 size_t count, double max_norm) {
    double total = 0.0;
    for (size_t t = 0; t < count; t++) total += kern->sumsq(tensors[t], lengths[t]);
    const double norm = sqrt(total);
    const double coef = max_norm / (norm + 1e-6); /* same epsilon as torch.nn.utils.clip_grad_norm_ */
    if (isfinite(norm) && coef < 1.0)
        for (size_t t = 0; t < count; t++) kern->scale(tensors[t], tensors[t], (float)coef, lengths[t]);
    return norm;
}
