/* The kernels, written once over a small vector vocabulary. Each simd_<isa>.c defines that vocabulary
 * with its own intrinsics (VF, VW, VLOAD, VMUL, ...) and a name suffix, then includes this file.
 *
 * Every kernel here gives the same bits on every path (scalar, AVX2, AVX-512, NEON):
 * - each output element goes through the same IEEE operations in the same order on every path; the scalar
 *   path is the vector code with one lane. Element-wise kernels use no FMA (every product is rounded, then
 *   added), and kernel files are built with -ffp-contract=off so no compiler fuses one either.
 * - tails (the last n % VW elements) run the vector code on a zero-padded copy, never a separate scalar loop.
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

/* How many leading elements to write normally before out is aligned for VSTORE_NT; n when not streaming. */
static inline size_t FN(stream_head)(const float *out, size_t n) {
    const uintptr_t addr = (uintptr_t)out, align = VW * sizeof(float);
    if (VW == 1 || n * sizeof(float) < STREAM_MIN_BYTES || addr % sizeof(float)) return n;
    return (size_t)(((align - addr % align) % align) / sizeof(float));
}

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

/* out[i] = sum_j w[j] * src[j][i], the products added in source order; seen by *probe */
static inline VF FN(weighted_sum_vec)(const float *const *src, size_t at, const float *w, float uniform, size_t nsrc,
                                      size_t rem, VP *probe) {
    VF acc = VMUL(VSET1(w ? w[0] : uniform), rem ? FN(load_part_f32)(src[0] + at, rem) : VLOAD(src[0] + at));
    for (size_t j = 1; j < nsrc; j++)
        acc = VADD(acc, VMUL(VSET1(w ? w[j] : uniform), rem ? FN(load_part_f32)(src[j] + at, rem) : VLOAD(src[j] + at)));
    *probe = VP_ADD(*probe, acc);
    return acc;
}

static int FN(weighted_sum_run)(float *out, const float *const *src, size_t src_off, const float *w, size_t nsrc,
                                size_t n, int nt) {
    const float uniform = 1.0f / (float)nsrc;
    VP probe = VP_ZERO();
    out += src_off;
    size_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) { /* weighted_sum_vec on two vectors at once */
        const VF w0 = VSET1(w ? w[0] : uniform);
        VF a0 = VMUL(w0, VLOAD(src[0] + src_off + i)), a1 = VMUL(w0, VLOAD(src[0] + src_off + i + VW));
        for (size_t j = 1; j < nsrc; j++) {
            const VF wj = VSET1(w ? w[j] : uniform);
            a0 = VADD(a0, VMUL(wj, VLOAD(src[j] + src_off + i)));
            a1 = VADD(a1, VMUL(wj, VLOAD(src[j] + src_off + i + VW)));
        }
        probe = VP_ADD(VP_ADD(probe, a0), a1);
        STORE_OUT(out + i, a0, nt);
        STORE_OUT(out + i + VW, a1, nt);
    }
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, FN(weighted_sum_vec)(src, src_off + i, w, uniform, nsrc, 0, &probe), nt);
    if (i < n) FN(store_part_f32)(out + i, FN(weighted_sum_vec)(src, src_off + i, w, uniform, nsrc, n - i, &probe), n - i);
    return VP_NAN(probe);
}

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
    VF va = VSET1(a);
    VP probe = VP_ZERO();
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF r = VADD(VLOAD(y + i), VMUL(va, VLOAD(x + i)));
        probe = VP_ADD(probe, r);
        VSTORE(y + i, r);
    }
    if (i < n) {
        VF r = VADD(FN(load_part_f32)(y + i, n - i), VMUL(va, FN(load_part_f32)(x + i, n - i)));
        probe = VP_ADD(probe, r);
        FN(store_part_f32)(y + i, r, n - i);
    }
    if (VP_NAN(probe)) FN(canonicalize)(y, n);
}

static int FN(scale_run)(float *out, const float *x, float a, size_t n, int nt) {
    VF va = VSET1(a);
    VP probe = VP_ZERO();
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

/* One block (n <= SPIRT_REDUCE_BLOCK) of sum a[i] * b[i]. */
static double FN(dot_block)(const float *a, const float *b, size_t n) {
    VD acc[REDUCE_VECS];
    for (int k = 0; k < REDUCE_VECS; k++) acc[k] = VD_ZERO();
    size_t i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
        for (int k = 0; k < REDUCE_VECS; k++)
            acc[k] = VD_ADD(acc[k], VD_MUL(VD_LOADF(a + i + k * VDW), VD_LOADF(b + i + k * VDW)));
    if (i < n) { /* zero padding adds +0 to lanes that are never -0: no lane changes */
        float pa[REDUCE_LANES] = {0}, pb[REDUCE_LANES] = {0};
        memcpy(pa, a + i, (n - i) * sizeof(float));
        memcpy(pb, b + i, (n - i) * sizeof(float));
        for (int k = 0; k < REDUCE_VECS; k++) acc[k] = VD_ADD(acc[k], VD_MUL(VD_LOADF(pa + k * VDW), VD_LOADF(pb + k * VDW)));
    }
    return FN(lane_tree)(acc);
}

static double FN(dot)(const float *a, const float *b, size_t n) {
    double total = 0.0;
    for (size_t off = 0; off < n; off += SPIRT_REDUCE_BLOCK)
        total += FN(dot_block)(a + off, b + off, n - off < SPIRT_REDUCE_BLOCK ? n - off : SPIRT_REDUCE_BLOCK);
    return total != total ? NAN : total;
}

static double FN(sumsq)(const float *x, size_t n) {
    return FN(dot)(x, x, n);
}

/* max |x| is the probe itself: exact and order-free, so every path and every split agrees */
static float FN(maxabs)(const float *x, size_t n) {
    VP probe = VP_ZERO();
    size_t i = 0;
    for (; i + VW <= n; i += VW) probe = VP_ADD(probe, VLOAD(x + i));
    if (i < n) probe = VP_ADD(probe, FN(load_part_f32)(x + i, n - i));
    const uint32_t bits = VP_MAX(probe);
    float m;
    memcpy(&m, &bits, 4);
    return bits > 0x7f800000u ? NAN : m;
}

/* PyTorch's SGD on one vector: d = g + wd*w (skipped when wd = 0, as PyTorch skips it);
 * buf = first ? d : m*buf + (1-dampening)*d; d = nesterov ? d + m*buf : buf; w = w + (-lr)*d. */
#define SGD_VEC(w, g, vel_in, vel_out)                                             \
    do {                                                                           \
        VF d_ = use_wd ? VADD(g, VMUL(vwd, w)) : g;                                \
        if (use_mom) {                                                             \
            VF v_ = first ? d_ : VADD(VMUL(vmom, vel_in), VMUL(vkeep, d_));        \
            vel_out = v_;                                                          \
            d_ = nesterov ? VADD(d_, VMUL(vmom, v_)) : v_;                         \
        }                                                                          \
        w = VADD(w, VMUL(vneglr, d_));                                             \
        probe = VP_ADD(probe, w); /* a NaN velocity makes the parameter NaN too */  \
    } while (0)

static void FN(sgd)(float *param, const float *grad, float *velocity, size_t n, const spirt_sgd_params *p) {
    const int use_mom = p->momentum != 0.0f && velocity != NULL, nesterov = p->nesterov, first = p->first_step,
              use_wd = p->weight_decay != 0.0f;
    const VF vneglr = VSET1(-p->lr), vmom = VSET1(p->momentum), vwd = VSET1(p->weight_decay),
             vkeep = VSET1(1.0f - p->dampening);
    VP probe = VP_ZERO();
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF w = VLOAD(param + i), vel = use_mom ? VLOAD(velocity + i) : w;
        SGD_VEC(w, VLOAD(grad + i), vel, vel);
        if (use_mom) VSTORE(velocity + i, vel);
        VSTORE(param + i, w);
    }
    if (i < n) {
        const size_t rem = n - i;
        VF w = FN(load_part_f32)(param + i, rem), vel = use_mom ? FN(load_part_f32)(velocity + i, rem) : w;
        SGD_VEC(w, FN(load_part_f32)(grad + i, rem), vel, vel);
        if (use_mom) FN(store_part_f32)(velocity + i, vel, rem);
        FN(store_part_f32)(param + i, w, rem);
    }
    if (VP_NAN(probe)) {
        FN(canonicalize)(param, n);
        if (use_mom) FN(canonicalize)(velocity, n);
    }
}
#undef SGD_VEC

/* beta^t by square-and-multiply in double: the same bits on every machine, where libm's pow may differ */
static inline double FN(power)(double beta, uint64_t t) {
    double r = 1.0;
    for (; t; t >>= 1, beta *= beta)
        if (t & 1) r *= beta;
    return r;
}

/* Adam on one vector: g += l2*w (skipped when l2 = 0); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*(g*g);
 * w = shrink*w - (step*m) / (sqrt(v*bc2) + eps) */
#define ADAM_VEC(w, g, m_, v_)                                                            \
    do {                                                                                  \
        VF g_ = use_l2 ? VADD(g, VMUL(vl2, w)) : g;                                       \
        m_ = VADD(VMUL(vb1, m_), VMUL(vc1, g_));                                          \
        v_ = VADD(VMUL(vb2, v_), VMUL(vc2, VMUL(g_, g_)));                                \
        VF denom_ = VADD(VSQRT(VMUL(v_, vbc2)), veps);                                    \
        w = VSUB(VMUL(vshrink, w), VDIV(VMUL(vstep, m_), denom_));                        \
        probe = VP_ADD(probe, w); /* a NaN moment makes the parameter NaN too */           \
    } while (0)

static void FN(adam)(float *param, const float *grad, float *m, float *v, size_t n, const spirt_adam_params *p) {
    const float bc1 = (float)(1.0 / (1.0 - FN(power)((double)p->beta1, p->step)));
    const float bc2 = (float)(1.0 / (1.0 - FN(power)((double)p->beta2, p->step)));
    const float b1 = p->beta1, b2 = p->beta2, l2 = p->decoupled ? 0.0f : p->weight_decay;
    const int use_l2 = l2 != 0.0f;
    const VF vb1 = VSET1(b1), vb2 = VSET1(b2), vc1 = VSET1(1.0f - b1), vc2 = VSET1(1.0f - b2), vbc2 = VSET1(bc2),
             veps = VSET1(p->eps), vstep = VSET1(p->lr * bc1), vl2 = VSET1(l2),
             vshrink = VSET1(p->decoupled ? 1.0f - p->lr * p->weight_decay : 1.0f);
    VP probe = VP_ZERO();
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF w = VLOAD(param + i), mi = VLOAD(m + i), vi = VLOAD(v + i);
        ADAM_VEC(w, VLOAD(grad + i), mi, vi);
        VSTORE(m + i, mi);
        VSTORE(v + i, vi);
        VSTORE(param + i, w);
    }
    if (i < n) {
        const size_t rem = n - i;
        VF w = FN(load_part_f32)(param + i, rem), mi = FN(load_part_f32)(m + i, rem), vi = FN(load_part_f32)(v + i, rem);
        ADAM_VEC(w, FN(load_part_f32)(grad + i, rem), mi, vi);
        FN(store_part_f32)(m + i, mi, rem);
        FN(store_part_f32)(v + i, vi, rem);
        FN(store_part_f32)(param + i, w, rem);
    }
    if (VP_NAN(probe)) {
        FN(canonicalize)(param, n);
        FN(canonicalize)(m, n);
        FN(canonicalize)(v, n);
    }
}
#undef ADAM_VEC

/* Conversions keep NaN payloads as the hardware converters do (quieted, top bits kept): see common.c. */
static inline VF FN(load_f16)(const uint16_t *p) { return VLOAD_F16(p); }
static inline void FN(store_f16)(uint16_t *p, VF v) { VSTORE_F16(p, v); }
static inline VF FN(load_bf16)(const uint16_t *p) { return VLOAD_BF16(p); }
static inline void FN(store_bf16)(uint16_t *p, VF v) { VSTORE_BF16(p, v); }
PART_IO(uint16_t, FN(load_f16), FN(store_f16), VF, f16)
PART_IO(uint16_t, FN(load_bf16), FN(store_bf16), VF, bf16)

static void FN(f32_to_f16)(uint16_t *out, const float *in, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTORE_F16(out + i, VLOAD(in + i));
    if (i < n) FN(store_part_f16)(out + i, FN(load_part_f32)(in + i, n - i), n - i);
}

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

static void FN(f32_to_bf16)(uint16_t *out, const float *in, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTORE_BF16(out + i, VLOAD(in + i));
    if (i < n) FN(store_part_bf16)(out + i, FN(load_part_f32)(in + i, n - i), n - i);
}

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
    size_t i = 0, nans = 0;
    for (; i + VW <= n; i += VW) VSTORE_I8(out + i, FN(quantize_vec)(VLOAD(in + i), vscale, &nans));
    if (i < n) FN(store_part_i8)(out + i, FN(quantize_vec)(FN(load_part_f32)(in + i, n - i), vscale, &nans), n - i);
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
