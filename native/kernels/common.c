/* ISA-independent parts: exact scalar float16/bfloat16 conversions, top-k selection, global-norm clipping. */
#include "spirt_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* IEEE half from float, round to nearest even, by letting float arithmetic do the rounding */
uint16_t spirt_f32_to_f16_scalar(float f) {
    const float scale_to_inf = 0x1.0p+112f, scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = f32_bits(f), shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = f32_bits(base);
    const uint32_t nonsign = ((bits >> 13) & 0x7C00u) + (bits & 0x0FFFu);
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

float spirt_f16_to_f32_scalar(uint16_t h) {
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

/* |x| for ranking; NaN ranks above everything so it is sent, not hidden in the residual */
static inline float rank_key(float x) { return x != x ? INFINITY : fabsf(x); }

/* k-th smallest (0-based) of a[0..n), partially reordering a; expected O(n) with a pseudo-random pivot */
static float select_kth(float *a, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    uint64_t state = 0x9E3779B97F4A7C15ull;
    while (lo < hi) {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
        const float pivot = a[lo + state % (hi - lo + 1)];
        size_t i = lo, lt = lo, gt = hi; /* three-way partition: [lo,lt) < pivot, [lt,gt] == , (gt,hi] > */
        while (i <= gt) {
            if (a[i] < pivot) { float t = a[i]; a[i] = a[lt]; a[lt] = t; lt++; i++; }
            else if (a[i] > pivot) { float t = a[i]; a[i] = a[gt]; a[gt] = t; if (gt == 0) break; gt--; }
            else i++;
        }
        if (k < lt) hi = lt - 1;
        else if (k > gt) lo = gt + 1;
        else return pivot;
    }
    return a[k];
}

long spirt_topk_error_feedback(const spirt_kernels *kern, const float *grad, float *residual, size_t n,
                               size_t k, uint32_t *indices, float *values) {
    kern->axpy(residual, 1.0f, grad, n); /* residual now holds acc = grad + residual */
    if (k > n) k = n;
    if (k == 0) return 0;
    float threshold = 0.0f;
    if (k < n) {
        float *keys = (float *)malloc(n * sizeof(float));
        if (!keys) return -1;
        for (size_t i = 0; i < n; i++) keys[i] = rank_key(residual[i]);
        threshold = select_kth(keys, n, n - k);
        free(keys);
    }
    size_t above = 0;
    if (k < n)
        for (size_t i = 0; i < n; i++) above += rank_key(residual[i]) > threshold;
    size_t ties_left = k - above, out = 0;
    for (size_t i = 0; i < n && out < k; i++) {
        const float key = rank_key(residual[i]);
        if (k == n || key > threshold || (key == threshold && ties_left > 0 && ties_left--)) {
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
