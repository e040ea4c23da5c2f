/* The kernels, written once over a small vector vocabulary. Each simd_<isa>.c defines that vocabulary
 * with its own intrinsics (VF, VW, VLOAD, VMUL, ...) and a name suffix, then includes this file.
 *
 * Every kernel here gives the same bits on every path (scalar, AVX2, AVX-512, NEON):
 * - each output element goes through the same IEEE operations in the same order on every path; the scalar
 *   path is the vector code with one lane. Element-wise kernels use no FMA (every product is rounded, then
 *   added), and kernel files are built with -ffp-contract=off so no compiler fuses one either.
 * - partial vectors (tails, and heads up to an array's vector alignment) run the vector code on a zero-padded
 *   copy, never a separate scalar loop.
 * - arithmetic results that are NaN are written as the one canonical quiet NaN (0x7fc00000): x86 and ARM
 *   propagate NaN payloads differently, so a payload cannot be the same everywhere. Kernels keep the largest
 *   |result| bit pattern in a probe (VP_ADD, an and and an integer max) and canonicalize in a second pass
 *   only when it shows a NaN, which keeps the common case cheap.
 * - reductions follow one fixed order (see SPIRT_REDUCE_BLOCK in spirt_kernels.h) in double lanes. */
#include <math.h>
#include <string.h>

#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define FN(name) KCAT(name, SIMD_SUFFIX)

/* Fresh float32 outputs of at least this many bytes are written with non-temporal stores: they cannot stay
 * in cache anyway, and streaming skips the read-for-ownership of every destination line. */
#define STREAM_MIN_BYTES ((size_t)4 << 20)
#define STORE_OUT(p, v, nt) \
    do {                    \
        if (nt) VSTORE_NT(p, v); \
        else VSTORE(p, v);  \
    } while (0)

/* How many leading elements (at most n) come before p is aligned to a whole vector. */
static inline size_t FN(align_head)(const void *p, size_t elem, size_t n) {
    const uintptr_t addr = (uintptr_t)p, align = VW * elem;
    if (VW == 1 || addr % elem) return 0;
    const size_t head = (size_t)(((align - addr % align) % align) / elem);
    return head < n ? head : n;
}

/* How many leading elements to write normally before out is aligned for VSTORE_NT; n when not streaming. */
static inline size_t FN(stream_head)(const float *out, size_t n) {
    if (VW == 1 || n * sizeof(float) < STREAM_MIN_BYTES || (uintptr_t)out % sizeof(float)) return n;
    return FN(align_head)(out, sizeof(float), n);
}

/* Calls STEP(i, rem) over [0, n) of an array p: a partial vector (rem elements) up to p's vector alignment,
 * whole vectors (rem = 0), a partial tail. In-place kernels align their output so that its loads and stores
 * (and those of arrays allocated alike) never split a cache line; per element the result is the same. */
#define FOR_VECTORS(p, n, STEP)                                        \
    do {                                                               \
        size_t i_ = FN(align_head)(p, sizeof(*(p)), n);                \
        if (i_) STEP(0, i_);                                           \
        for (; i_ + VW <= (n); i_ += VW) STEP(i_, 0);                  \
        if (i_ < (n)) STEP(i_, (n) - i_);                              \
    } while (0)

/* Runs NAME##_run over [0, n): the unaligned head with plain stores, the rest streaming. ARGS(off) are
 * the run's arguments for elements starting at off, length excluded. Sets nan_seen to whether a run's
 * probe saw a NaN. */
#define STREAMED(nan_seen, NAME, out, n, ARGS)                     \
    do {                                                           \
        const size_t head_ = FN(stream_head)(out, n);              \
        nan_seen = FN(NAME##_run)(ARGS(0), head_, 0);              \
        if (head_ < (n)) {                                         \
            nan_seen |= FN(NAME##_run)(ARGS(head_), (n) - head_, 1); \
            VFENCE();                                              \
        }                                                          \
    } while (0)

/* A probe keeps, per lane, the largest |x| bit pattern seen (VP_ADD: an and and an integer max). Those
 * patterns order like |x|, and only a NaN's lies above Inf's 0x7f800000. */
#define VP_NAN(p) (VP_MAX(p) > 0x7f800000u)

/* Every NaN in x becomes 0x7fc00000; a pure function of each value, so where it runs cannot matter. */
static void FN(canonicalize)(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != x[i]) x[i] = NAN;
}

/* Tails: the first rem (< VW) elements as a vector whose other lanes are zero, and back. */
#define PART_IO(T, LOAD, STORE, VT, SUFFIX)                                       \
    static inline VT FN(load_part_##SUFFIX)(const T *p, size_t rem) {             \
        T buf[VW];                                                                \
        memset(buf, 0, sizeof(buf));                                              \
        memcpy(buf, p, rem * sizeof(T));                                          \
        return LOAD(buf);                                                         \
    }                                                                             \
    static inline void FN(store_part_##SUFFIX)(T *p, VT v, size_t rem) {          \
        T buf[VW];                                                                \
        STORE(buf, v);                                                            \
        memcpy(p, buf, rem * sizeof(T));                                          \
    }
PART_IO(float, VLOAD, VSTORE, VF, f32)
/* a whole vector when rem is 0, else the first rem elements */
#define LOAD_F32(p, rem) ((rem) ? FN(load_part_f32)(p, rem) : VLOAD(p))
#define STORE_F32(p, v, rem)                         \
    do {                                             \
        if (rem) FN(store_part_f32)(p, v, rem);      \
        else VSTORE(p, v);                           \
    } while (0)

/* out[i] = sum_j w[j] * src[j][i], the products added in source order. Without weights the mean: the sum
 * src[0][i] + ... + src[nsrc-1][i] in source order, then one correctly rounded division by nsrc. */
#define WSUM_TERM(j, x) (w ? VMUL(VSET1(w[j]), x) : (x))
static inline VF FN(weighted_sum_vec)(const float *const *src, size_t at, const float *w, VF count, size_t nsrc,
                                      size_t rem, VI *probe) {
    VF acc = WSUM_TERM(0, LOAD_F32(src[0] + at, rem));
    for (size_t j = 1; j < nsrc; j++) acc = VADD(acc, WSUM_TERM(j, LOAD_F32(src[j] + at, rem)));
    if (!w) acc = VDIV(acc, count);
    *probe = VP_ADD(*probe, acc);
    return acc;
}

static int FN(weighted_sum_run)(float *out, const float *const *src, size_t src_off, const float *w, size_t nsrc,
                                size_t n, int nt) {
    const VF count = VSET1((float)nsrc);
    VI probe = VP_ZERO();
    out += src_off;
    size_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) { /* weighted_sum_vec on two vectors at once */
        VF a0 = WSUM_TERM(0, VLOAD(src[0] + src_off + i)), a1 = WSUM_TERM(0, VLOAD(src[0] + src_off + i + VW));
        for (size_t j = 1; j < nsrc; j++) {
            a0 = VADD(a0, WSUM_TERM(j, VLOAD(src[j] + src_off + i)));
            a1 = VADD(a1, WSUM_TERM(j, VLOAD(src[j] + src_off + i + VW)));
        }
        if (!w) a0 = VDIV(a0, count), a1 = VDIV(a1, count);
        probe = VP_ADD(VP_ADD(probe, a0), a1);
        STORE_OUT(out + i, a0, nt);
        STORE_OUT(out + i + VW, a1, nt);
    }
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, FN(weighted_sum_vec)(src, src_off + i, w, count, nsrc, 0, &probe), nt);
    if (i < n) FN(store_part_f32)(out + i, FN(weighted_sum_vec)(src, src_off + i, w, count, nsrc, n - i, &probe), n - i);
    return VP_NAN(probe);
}
#undef WSUM_TERM

static void FN(weighted_sum)(float *out, const float *const *src, const float *w, size_t nsrc, size_t n) {
    if (nsrc == 0) {
        memset(out, 0, n * sizeof(float));
        return;
    }
    int nan_seen;
#define WSUM_ARGS(off) out, src, off, w, nsrc
    STREAMED(nan_seen, weighted_sum, out, n, WSUM_ARGS);
#undef WSUM_ARGS
    if (nan_seen) FN(canonicalize)(out, n);
}

static void FN(axpy)(float *y, float a, const float *x, size_t n) {
    const VF va = VSET1(a);
    VI probe = VP_ZERO();
#define AXPY_STEP(i, rem)                                                       \
    do {                                                                        \
        VF r_ = VADD(LOAD_F32(y + (i), rem), VMUL(va, LOAD_F32(x + (i), rem))); \
        probe = VP_ADD(probe, r_);                                              \
        STORE_F32(y + (i), r_, rem);                                            \
    } while (0)
    FOR_VECTORS(y, n, AXPY_STEP);
#undef AXPY_STEP
    if (VP_NAN(probe)) FN(canonicalize)(y, n);
}

static int FN(scale_run)(float *out, const float *x, float a, size_t n, int nt) {
    VF va = VSET1(a);
    VI probe = VP_ZERO();
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF r = VMUL(va, VLOAD(x + i));
        probe = VP_ADD(probe, r);
        STORE_OUT(out + i, r, nt);
    }
    if (i < n) {
        VF r = VMUL(va, FN(load_part_f32)(x + i, n - i));
        probe = VP_ADD(probe, r);
        FN(store_part_f32)(out + i, r, n - i);
    }
    return VP_NAN(probe);
}

static void FN(scale)(float *out, const float *x, float a, size_t n) {
    int nan_seen;
#define SCALE_ARGS(off) out + (off), x + (off), a
    STREAMED(nan_seen, scale, out, n, SCALE_ARGS);
#undef SCALE_ARGS
    if (nan_seen) FN(canonicalize)(out, n);
}

/* Reductions: float products are exact in double, so each of REDUCE_LANES double lanes sums its elements
 * (element i in lane i % REDUCE_LANES) exactly as the scalar path does, whether or not the ISA fuses. */
#define REDUCE_LANES 32
#define REDUCE_VECS (REDUCE_LANES / VDW)

/* The lanes combined by one fixed tree: lane l += lane l + w for w = 16, 8, 4, 2, 1. */
static inline double FN(lane_tree)(const VD *acc) {
    double lanes[REDUCE_LANES];
    for (int k = 0; k < REDUCE_VECS; k++) VD_STORE(lanes + k * VDW, acc[k]);
    for (int w = REDUCE_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) lanes[l] += lanes[l + w];
    return lanes[0];
}

/* one lane term in double: a * b, or (a - b)^2 */
static inline VD FN(reduce_term)(VD a, VD b, int squared_diff) {
    if (!squared_diff) return VD_MUL(a, b);
    const VD d = VD_SUB(a, b);
    return VD_MUL(d, d);
}

/* One block (n <= SPIRT_REDUCE_BLOCK) of sum term(a[i], b[i]). */
static inline double FN(reduce_block)(const float *a, const float *b, size_t n, int squared_diff) {
    VD acc[REDUCE_VECS];
    for (int k = 0; k < REDUCE_VECS; k++) acc[k] = VD_ZERO();
    size_t i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
        for (int k = 0; k < REDUCE_VECS; k++)
            acc[k] = VD_ADD(acc[k], FN(reduce_term)(VD_LOADF(a + i + k * VDW), VD_LOADF(b + i + k * VDW), squared_diff));
    if (i < n) { /* zero padding adds +0 to lanes that are never -0: no lane changes */
        float pa[REDUCE_LANES] = {0}, pb[REDUCE_LANES] = {0};
        memcpy(pa, a + i, (n - i) * sizeof(float));
        memcpy(pb, b + i, (n - i) * sizeof(float));
        for (int k = 0; k < REDUCE_VECS; k++)
            acc[k] = VD_ADD(acc[k], FN(reduce_term)(VD_LOADF(pa + k * VDW), VD_LOADF(pb + k * VDW), squared_diff));
    }
    return FN(lane_tree)(acc);
}

/* block sums added in order from 0; NaN canonical */
static inline double FN(reduce)(const float *a, const float *b, size_t n, int squared_diff) {
    double total = 0.0;
    for (size_t off = 0; off < n; off += SPIRT_REDUCE_BLOCK)
        total += FN(reduce_block)(a + off, b + off, n - off < SPIRT_REDUCE_BLOCK ? n - off : SPIRT_REDUCE_BLOCK,
                                  squared_diff);
    return total != total ? NAN : total;
}

static double FN(dot)(const float *a, const float *b, size_t n) { return FN(reduce)(a, b, n, 0); }

/* (a - b)^2 with the difference taken in double: the same on every path as every double operation here */
static double FN(sqdist)(const float *a, const float *b, size_t n) { return FN(reduce)(a, b, n, 1); }

static double FN(sumsq)(const float *x, size_t n) {
    return FN(dot)(x, x, n);
}

/* max |x| is the probe itself: exact and order-free, so every path and every split agrees */
static float FN(maxabs)(const float *x, size_t n) {
    VI probe = VP_ZERO();
    size_t i = 0;
    for (; i + VW <= n; i += VW) probe = VP_ADD(probe, VLOAD(x + i));
    if (i < n) probe = VP_ADD(probe, FN(load_part_f32)(x + i, n - i));
    const uint32_t bits = VP_MAX(probe);
    float m;
    memcpy(&m, &bits, 4);
    return bits > 0x7f800000u ? NAN : m;
}

/* PyTorch's SGD on one vector: d = g + wd*w (skipped when wd = 0, as PyTorch skips it);
 * buf = first ? d : m*buf + (1-dampening)*d; d = nesterov ? d + m*buf : buf; w = w + (-lr)*d.
 * A NaN velocity makes the parameter NaN too, so probing the parameter finds every NaN. */
static void FN(sgd)(float *param, const float *grad, float *velocity, size_t n, const spirt_sgd_params *p) {
    const int use_mom = p->momentum != 0.0f && velocity != NULL, nesterov = p->nesterov, first = p->first_step,
              use_wd = p->weight_decay != 0.0f;
    const VF vneglr = VSET1(-p->lr), vmom = VSET1(p->momentum), vwd = VSET1(p->weight_decay),
             vkeep = VSET1(1.0f - p->dampening);
    VI probe = VP_ZERO();
#define SGD_STEP(i, rem)                                                                  \
    do {                                                                                  \
        VF w_ = LOAD_F32(param + (i), rem), d_ = LOAD_F32(grad + (i), rem);               \
        if (use_wd) d_ = VADD(d_, VMUL(vwd, w_));                                         \
        if (use_mom) {                                                                    \
            VF v_ = first ? d_ : VADD(VMUL(vmom, LOAD_F32(velocity + (i), rem)), VMUL(vkeep, d_)); \
            STORE_F32(velocity + (i), v_, rem);                                           \
            d_ = nesterov ? VADD(d_, VMUL(vmom, v_)) : v_;                                \
        }                                                                                 \
        w_ = VADD(w_, VMUL(vneglr, d_));                                                  \
        probe = VP_ADD(probe, w_);                                                        \
        STORE_F32(param + (i), w_, rem);                                                  \
    } while (0)
    FOR_VECTORS(param, n, SGD_STEP);
#undef SGD_STEP
    if (VP_NAN(probe)) {
        FN(canonicalize)(param, n);
        if (use_mom) FN(canonicalize)(velocity, n);
    }
}

/* beta^t by square-and-multiply in double: the same bits on every machine, where libm's pow may differ */
static inline double FN(power)(double beta, uint64_t t) {
    double r = 1.0;
    for (; t; t >>= 1, beta *= beta)
        if (t & 1) r *= beta;
    return r;
}

/* Adam on one vector: g += l2*w (skipped when l2 = 0); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*(g*g);
 * w = shrink*w - (step*m) / (sqrt(v*bc2) + eps). A NaN moment makes the parameter NaN too. */
static void FN(adam)(float *param, const float *grad, float *m, float *v, size_t n, const spirt_adam_params *p) {
    const float bc1 = (float)(1.0 / (1.0 - FN(power)((double)p->beta1, p->step)));
    const float bc2 = (float)(1.0 / (1.0 - FN(power)((double)p->beta2, p->step)));
    const float b1 = p->beta1, b2 = p->beta2, l2 = p->decoupled ? 0.0f : p->weight_decay;
    const int use_l2 = l2 != 0.0f;
    const VF vb1 = VSET1(b1), vb2 = VSET1(b2), vc1 = VSET1(1.0f - b1), vc2 = VSET1(1.0f - b2), vbc2 = VSET1(bc2),
             veps = VSET1(p->eps), vstep = VSET1(p->lr * bc1), vl2 = VSET1(l2),
             vshrink = VSET1(p->decoupled ? 1.0f - p->lr * p->weight_decay : 1.0f);
    VI probe = VP_ZERO();
#define ADAM_STEP(i, rem)                                                                   \
    do {                                                                                    \
        VF w_ = LOAD_F32(param + (i), rem), g_ = LOAD_F32(grad + (i), rem);                 \
        if (use_l2) g_ = VADD(g_, VMUL(vl2, w_));                                           \
        VF m_ = VADD(VMUL(vb1, LOAD_F32(m + (i), rem)), VMUL(vc1, g_));                     \
        VF v_ = VADD(VMUL(vb2, LOAD_F32(v + (i), rem)), VMUL(vc2, VMUL(g_, g_)));           \
        VF denom_ = VADD(VSQRT(VMUL(v_, vbc2)), veps);                                      \
        w_ = VSUB(VMUL(vshrink, w_), VDIV(VMUL(vstep, m_), denom_));                        \
        probe = VP_ADD(probe, w_);                                                          \
        STORE_F32(m + (i), m_, rem);                                                        \
        STORE_F32(v + (i), v_, rem);                                                        \
        STORE_F32(param + (i), w_, rem);                                                    \
    } while (0)
    FOR_VECTORS(param, n, ADAM_STEP);
#undef ADAM_STEP
    if (VP_NAN(probe)) {
        FN(canonicalize)(param, n);
        FN(canonicalize)(m, n);
        FN(canonicalize)(v, n);
    }
}

/* Conversions keep NaN payloads as the hardware converters do (quieted, top bits kept): see common.c. */
static inline VF FN(load_f16)(const uint16_t *p) { return VLOAD_F16(p); }
static inline void FN(store_f16)(uint16_t *p, VF v) { VSTORE_F16(p, v); }
static inline VF FN(load_bf16)(const uint16_t *p) { return VLOAD_BF16(p); }
static inline void FN(store_bf16)(uint16_t *p, VF v) { VSTORE_BF16(p, v); }
PART_IO(uint16_t, FN(load_f16), FN(store_f16), VF, f16)
PART_IO(uint16_t, FN(load_bf16), FN(store_bf16), VF, bf16)

/* narrowing: aligned to the input, the wider of the two arrays */
#define NARROW_STEP(STORE, SUFFIX, i, rem)                                                   \
    do {                                                                                     \
        if (rem) FN(store_part_##SUFFIX)(out + (i), FN(load_part_f32)(in + (i), rem), rem);  \
        else STORE(out + (i), VLOAD(in + (i)));                                              \
    } while (0)
#define F16_STEP(i, rem) NARROW_STEP(VSTORE_F16, f16, i, rem)
static void FN(f32_to_f16)(uint16_t *out, const float *in, size_t n) { FOR_VECTORS(in, n, F16_STEP); }
#undef F16_STEP

/* widening runs report no NaN: conversions keep payloads */
static int FN(f16_to_f32_run)(float *out, const uint16_t *in, size_t n, int nt) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, VLOAD_F16(in + i), nt);
    if (i < n) FN(store_part_f32)(out + i, FN(load_part_f16)(in + i, n - i), n - i);
    return 0;
}

#define WIDEN_ARGS(off) out + (off), in + (off)
static void FN(f16_to_f32)(float *out, const uint16_t *in, size_t n) {
    int nan_seen;
    STREAMED(nan_seen, f16_to_f32, out, n, WIDEN_ARGS);
    (void)nan_seen;
}

#define BF16_STEP(i, rem) NARROW_STEP(VSTORE_BF16, bf16, i, rem)
static void FN(f32_to_bf16)(uint16_t *out, const float *in, size_t n) { FOR_VECTORS(in, n, BF16_STEP); }
#undef BF16_STEP
#undef NARROW_STEP

static int FN(bf16_to_f32_run)(float *out, const uint16_t *in, size_t n, int nt) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, VLOAD_BF16(in + i), nt);
    if (i < n) FN(store_part_f32)(out + i, FN(load_part_bf16)(in + i, n - i), n - i);
    return 0;
}

static void FN(bf16_to_f32)(float *out, const uint16_t *in, size_t n) {
    int nan_seen;
    STREAMED(nan_seen, bf16_to_f32, out, n, WIDEN_ARGS);
    (void)nan_seen;
}

static inline VF FN(load_i8)(const int8_t *p) { return VLOAD_I8(p); }
static inline void FN(store_i8)(int8_t *p, VF v) { VSTORE_I8(p, v); }
PART_IO(int8_t, FN(load_i8), FN(store_i8), VF, i8)

/* q = clamp(x / scale, -127, 127) rounded half to even (the quotient correctly rounded to float first);
 * NaN is written as 0 and counted. */
static inline VF FN(quantize_vec)(VF x, VF vscale, size_t *nans) {
    const VF lo = VSET1(-127.0f), hi = VSET1(127.0f);
    *nans += VCOUNT_NAN(x);
    return VROUND(VMIN(VMAX(VZERO_NAN(VDIV(x, vscale)), lo), hi));
}

static size_t FN(quantize_i8)(int8_t *out, const float *in, float scale, size_t n) {
    const VF vscale = VSET1(scale);
    size_t nans = 0;
#define QUANT_STEP(i, rem)                                                                            \
    do {                                                                                              \
        if (rem) FN(store_part_i8)(out + (i), FN(quantize_vec)(FN(load_part_f32)(in + (i), rem), vscale, &nans), rem); \
        else VSTORE_I8(out + (i), FN(quantize_vec)(VLOAD(in + (i)), vscale, &nans));                  \
    } while (0)
    FOR_VECTORS(in, n, QUANT_STEP);
#undef QUANT_STEP
    return nans;
}

/* scale * q is NaN only for a NaN scale or an infinite one times 0: no probe, the scale tells */
static int FN(dequantize_i8_run)(float *out, const int8_t *in, float scale, size_t n, int nt) {
    VF vs = VSET1(scale);
    size_t i = 0;
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, VMUL(vs, VLOAD_I8(in + i)), nt);
    if (i < n) FN(store_part_f32)(out + i, VMUL(vs, FN(load_part_i8)(in + i, n - i)), n - i);
    return !isfinite(scale);
}

static void FN(dequantize_i8)(float *out, const int8_t *in, float scale, size_t n) {
    int nan_seen;
#define DEQUANT_ARGS(off) out + (off), in + (off), scale
    STREAMED(nan_seen, dequantize_i8, out, n, DEQUANT_ARGS);
#undef DEQUANT_ARGS
    if (nan_seen) FN(canonicalize)(out, n);
}
