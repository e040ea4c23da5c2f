/* The kernels, written once over a small vector vocabulary. Each simd_<isa>.c defines that vocabulary
 * with its own intrinsics (VF, VW, VLOAD, VFMA, ...) and a name suffix, then includes this file, so the
 * arithmetic is the same on every path and only the instruction set differs. Tails run scalar. */
#include <math.h>
#include <string.h>

#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define FN(name) KCAT(name, SIMD_SUFFIX)

/* float accumulators are flushed into double every this many elements: keeps long reductions accurate */
#define FLUSH_EVERY 4096

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
 * the run's arguments for elements starting at off, length excluded. */
#define STREAMED(NAME, out, n, ARGS)                               \
    do {                                                           \
        const size_t head_ = FN(stream_head)(out, n);              \
        FN(NAME##_run)(ARGS(0), head_, 0);                         \
        if (head_ < (n)) {                                         \
            FN(NAME##_run)(ARGS(head_), (n) - head_, 1);           \
            VFENCE();                                              \
        }                                                          \
    } while (0)

static void FN(weighted_sum_run)(float *out, const float *const *src, size_t src_off, const float *w, size_t nsrc,
                                 size_t n, int nt) {
    const float uniform = 1.0f / (float)nsrc;
    out += src_off;
    size_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        VF w0 = VSET1(w ? w[0] : uniform);
        VF a0 = VMUL(w0, VLOAD(src[0] + src_off + i));
        VF a1 = VMUL(w0, VLOAD(src[0] + src_off + i + VW));
        for (size_t j = 1; j < nsrc; j++) {
            VF wj = VSET1(w ? w[j] : uniform);
            a0 = VFMA(wj, VLOAD(src[j] + src_off + i), a0);
            a1 = VFMA(wj, VLOAD(src[j] + src_off + i + VW), a1);
        }
        STORE_OUT(out + i, a0, nt);
        STORE_OUT(out + i + VW, a1, nt);
    }
    for (; i < n; i++) {
        float acc = (w ? w[0] : uniform) * src[0][src_off + i];
        for (size_t j = 1; j < nsrc; j++) acc += (w ? w[j] : uniform) * src[j][src_off + i];
        out[i] = acc;
    }
}

static void FN(weighted_sum)(float *out, const float *const *src, const float *w, size_t nsrc, size_t n) {
    if (nsrc == 0) {
        memset(out, 0, n * sizeof(float));
        return;
    }
#define WSUM_ARGS(off) out, src, off, w, nsrc
    STREAMED(weighted_sum, out, n, WSUM_ARGS);
#undef WSUM_ARGS
}

static void FN(axpy)(float *y, float a, const float *x, size_t n) {
    VF va = VSET1(a);
    size_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        VSTORE(y + i, VFMA(va, VLOAD(x + i), VLOAD(y + i)));
        VSTORE(y + i + VW, VFMA(va, VLOAD(x + i + VW), VLOAD(y + i + VW)));
    }
    for (; i < n; i++) y[i] += a * x[i];
}

static void FN(scale_run)(float *out, const float *x, float a, size_t n, int nt) {
    VF va = VSET1(a);
    size_t i = 0;
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, VMUL(va, VLOAD(x + i)), nt);
    for (; i < n; i++) out[i] = a * x[i];
}

static void FN(scale)(float *out, const float *x, float a, size_t n) {
#define SCALE_ARGS(off) out + (off), x + (off), a
    STREAMED(scale, out, n, SCALE_ARGS);
#undef SCALE_ARGS
}

static double FN(dot)(const float *a, const float *b, size_t n) {
    double total = 0.0;
    size_t i = 0;
    while (i + 4 * VW <= n) {
        size_t stop = i + FLUSH_EVERY < n ? i + FLUSH_EVERY : n;
        VF s0 = VSET1(0.0f), s1 = s0, s2 = s0, s3 = s0;
        for (; i + 4 * VW <= stop; i += 4 * VW) {
            s0 = VFMA(VLOAD(a + i), VLOAD(b + i), s0);
            s1 = VFMA(VLOAD(a + i + VW), VLOAD(b + i + VW), s1);
            s2 = VFMA(VLOAD(a + i + 2 * VW), VLOAD(b + i + 2 * VW), s2);
            s3 = VFMA(VLOAD(a + i + 3 * VW), VLOAD(b + i + 3 * VW), s3);
        }
        total += VREDUCE(VADD(VADD(s0, s1), VADD(s2, s3)));
    }
    for (; i < n; i++) total += (double)a[i] * (double)b[i];
    return total;
}

static double FN(sumsq)(const float *x, size_t n) {
    return FN(dot)(x, x, n);
}

static float FN(maxabs)(const float *x, size_t n) {
    VF best = VSET1(0.0f), nan_probe = best;
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF v = VLOAD(x + i);
        best = VMAX(VABS(v), best);
        nan_probe = VADD(nan_probe, VSUB(v, v)); /* NaN once any lane saw NaN or Inf */
    }
    float m = VMAXREDUCE(best);
    float probe = (float)VREDUCE(nan_probe);
    for (size_t t = 0; t < i && probe != probe; t++) /* rare path: tell NaN from Inf */
        if (x[t] != x[t]) return NAN;
    for (; i < n; i++) {
        if (x[i] != x[i]) return NAN;
        float a = fabsf(x[i]);
        if (a > m) m = a;
    }
    return m;
}

static void FN(sgd)(float *param, const float *grad, float *velocity, size_t n, const spirt_sgd_params *p) {
    const float lr = p->lr, mom = p->momentum, wd = p->weight_decay, keep = 1.0f - p->dampening;
    const int use_mom = mom != 0.0f && velocity != NULL, nesterov = p->nesterov, first = p->first_step;
    VF vlr = VSET1(-lr), vmom = VSET1(mom), vwd = VSET1(wd), vkeep = VSET1(keep);
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF w = VLOAD(param + i);
        VF g = VFMA(vwd, w, VLOAD(grad + i));
        if (use_mom) {
            VF v = first ? g : VFMA(vmom, VLOAD(velocity + i), VMUL(vkeep, g));
            VSTORE(velocity + i, v);
            g = nesterov ? VFMA(vmom, v, g) : v;
        }
        VSTORE(param + i, VFMA(vlr, g, w));
    }
    for (; i < n; i++) {
        float g = grad[i] + wd * param[i];
        if (use_mom) {
            float v = first ? g : mom * velocity[i] + keep * g;
            velocity[i] = v;
            g = nesterov ? g + mom * v : v;
        }
        param[i] -= lr * g;
    }
}

static void FN(adam)(float *param, const float *grad, float *m, float *v, size_t n, const spirt_adam_params *p) {
    const double t = (double)p->step;
    const float bc1 = (float)(1.0 / (1.0 - pow((double)p->beta1, t)));
    const float bc2 = (float)(1.0 / (1.0 - pow((double)p->beta2, t)));
    const float b1 = p->beta1, b2 = p->beta2, eps = p->eps, step_size = p->lr * bc1;
    const float l2 = p->decoupled ? 0.0f : p->weight_decay;
    const float shrink = p->decoupled ? 1.0f - p->lr * p->weight_decay : 1.0f;
    VF vb1 = VSET1(b1), vb2 = VSET1(b2), vc1 = VSET1(1.0f - b1), vc2 = VSET1(1.0f - b2);
    VF vbc2 = VSET1(bc2), veps = VSET1(eps), vstep = VSET1(step_size), vl2 = VSET1(l2), vshrink = VSET1(shrink);
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF w = VLOAD(param + i);
        VF g = VFMA(vl2, w, VLOAD(grad + i));
        VF mi = VFMA(vb1, VLOAD(m + i), VMUL(vc1, g));
        VF vi = VFMA(vb2, VLOAD(v + i), VMUL(vc2, VMUL(g, g)));
        VSTORE(m + i, mi);
        VSTORE(v + i, vi);
        VF denom = VADD(VSQRT(VMUL(vi, vbc2)), veps);
        VSTORE(param + i, VSUB(VMUL(vshrink, w), VDIV(VMUL(vstep, mi), denom)));
    }
    for (; i < n; i++) {
        float g = grad[i] + l2 * param[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * (g * g);
        m[i] = mi;
        v[i] = vi;
        param[i] = shrink * param[i] - (step_size * mi) / (sqrtf(vi * bc2) + eps);
    }
}

static void FN(f32_to_f16)(uint16_t *out, const float *in, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTORE_F16(out + i, VLOAD(in + i));
    for (; i < n; i++) out[i] = spirt_f32_to_f16_scalar(in[i]);
}

static void FN(f16_to_f32_run)(float *out, const uint16_t *in, size_t n, int nt) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, VLOAD_F16(in + i), nt);
    for (; i < n; i++) out[i] = spirt_f16_to_f32_scalar(in[i]);
}

#define WIDEN_ARGS(off) out + (off), in + (off)
static void FN(f16_to_f32)(float *out, const uint16_t *in, size_t n) { STREAMED(f16_to_f32, out, n, WIDEN_ARGS); }

static void FN(f32_to_bf16)(uint16_t *out, const float *in, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTORE_BF16(out + i, VLOAD(in + i));
    for (; i < n; i++) out[i] = spirt_f32_to_bf16_scalar(in[i]);
}

static void FN(bf16_to_f32_run)(float *out, const uint16_t *in, size_t n, int nt) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, VLOAD_BF16(in + i), nt);
    for (; i < n; i++) out[i] = spirt_bf16_to_f32_scalar(in[i]);
}

static void FN(bf16_to_f32)(float *out, const uint16_t *in, size_t n) { STREAMED(bf16_to_f32, out, n, WIDEN_ARGS); }

static void FN(quantize_i8)(int8_t *out, const float *in, float scale, size_t n) {
    const float inv = 1.0f / scale;
    VF vinv = VSET1(inv), lo = VSET1(-127.0f), hi = VSET1(127.0f);
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF q = VZERO_NAN(VMUL(VLOAD(in + i), vinv));
        VSTORE_I8(out + i, VROUND(VMIN(VMAX(q, lo), hi)));
    }
    for (; i < n; i++) {
        float q = in[i] * inv;
        q = q != q ? 0.0f : q < -127.0f ? -127.0f : q > 127.0f ? 127.0f : q;
        out[i] = (int8_t)rintf(q);
    }
}

static void FN(dequantize_i8_run)(float *out, const int8_t *in, float scale, size_t n, int nt) {
    VF vs = VSET1(scale);
    size_t i = 0;
    for (; i + VW <= n; i += VW) STORE_OUT(out + i, VMUL(vs, VLOAD_I8(in + i)), nt);
    for (; i < n; i++) out[i] = scale * (float)in[i];
}

static void FN(dequantize_i8)(float *out, const int8_t *in, float scale, size_t n) {
#define DEQUANT_ARGS(off) out + (off), in + (off), scale
    STREAMED(dequantize_i8, out, n, DEQUANT_ARGS);
#undef DEQUANT_ARGS
}
