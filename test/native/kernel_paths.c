/* Every SIMD path of this build against the scalar path, in one process, at the C level: the check that
 * also runs where Node cannot (e.g. the NEON path under qemu-aarch64). Every kernel but sgemm must give the
 * same bytes on every path (memcmp), over every length 0..200 and large ones (every tail, several reduction
 * blocks, streaming stores), misaligned starts, and special values: NaN with payloads, signaling NaN, +-Inf,
 * +-0, subnormals, float16/bfloat16 rounding ties and overflow. Outputs are also checked for writes past their
 * end. Exits 1 on any mismatch. Built and run by scripts/test-native.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spirt_kernels.h"

static uint32_t rng_state = 12345;
static uint32_t rnd_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
/* uniform in [-scale, scale) */
static float rnd(float scale) { return ((float)(rnd_u32() >> 8) / 8388608.0f - 1.0f) * scale; }

static const uint32_t special_bits[] = {
    0x7fc00000, 0xffc00000, 0x7fc12345, 0xffc00001, /* quiet NaN, with payloads and sign */
    0x7f800001, 0xff800123, 0x7fbfffff,             /* signaling NaN */
    0x7f800000, 0xff800000, 0x00000000, 0x80000000, /* +-Inf, +-0 */
    0x00000001, 0x807fffff, 0x00400000, 0x80000abc, /* subnormals */
    0x7f7fffff, 0xff7fffff, 0x00800000,             /* largest, smallest normal */
    0x477fe000, 0x477fefff, 0x477ff000, 0xc77ff000, /* float16: 65504, just under and at the overflow tie */
    0x3f801000, 0x3f803000, 0x33000000, 0x33400000, /* float16 ties: normal, subnormal */
    0x3f808000, 0x3f818000, 0x7f7f8000, 0xff7fffff, /* bfloat16 ties, and the tie into Inf */
};
#define SPECIALS (sizeof(special_bits) / sizeof(special_bits[0]))

/* Ordinary values of many magnitudes with a special value at about one place in eight. */
static float mixed(void) {
    if (rnd_u32() % 8 == 0) return from_bits(special_bits[rnd_u32() % SPECIALS]);
    return rnd(1.0f) * ldexpf(1.0f, (int)(rnd_u32() % 40) - 20);
}

/* Values at and next to float16 and bfloat16 rounding ties. */
static float near_tie(void) {
    const uint32_t r = rnd_u32(), nudge = (r >> 30) - 1; /* -1, 0, 1, 2 ulp */
    if (r & 1) {
        const uint16_t h = (uint16_t)(rnd_u32() % 0x7c00);
        const float lo = spirt_f16_to_f32_scalar(h), hi = spirt_f16_to_f32_scalar((uint16_t)(h + 1));
        const uint32_t mid = bits_of(lo + (hi - lo) / 2) + nudge;
        return from_bits(mid | (r & 2 ? 0x80000000u : 0));
    }
    return from_bits(((rnd_u32() & 0xffff0000u) | 0x8000u) + nudge);
}

static int failures = 0;

/* got and want must be byte-identical over n elements of elem bytes */
static void same(const char *path, const char *what, size_t n, size_t off, const void *got, const void *want, size_t elem) {
    if (memcmp(got, want, n * elem) == 0) return;
    for (size_t i = 0; i < n; i++) {
        if (memcmp((const char *)got + i * elem, (const char *)want + i * elem, elem) == 0) continue;
        uint64_t g = 0, w = 0;
        memcpy(&g, (const char *)got + i * elem, elem);
        memcpy(&w, (const char *)want + i * elem, elem);
        printf("FAIL %s %s n=%zu off=%zu [%zu]: got 0x%llx, want 0x%llx\n", path, what, n, off, i,
               (unsigned long long)g, (unsigned long long)w);
        break;
    }
    failures++;
}

/* arithmetic kernels write NaN as 0x7fc00000 only */
static void canonical(const char *what, size_t n, const float *x) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != x[i] && bits_of(x[i]) != 0x7fc00000u) {
            printf("FAIL scalar %s n=%zu [%zu]: NaN 0x%08x is not canonical\n", what, n, i, bits_of(x[i]));
            failures++;
            return;
        }
}

/* Arrays placed `off` elements into a buffer whose bytes after the array must stay untouched. */
#define GUARD 64
typedef struct {
    unsigned char *base;
    size_t head, bytes;
} region;
static region regions[96];
static size_t region_count;

static void *place(size_t n, size_t elem, size_t off) {
    region *r = &regions[region_count++];
    r->head = off * elem;
    r->bytes = n * elem;
    r->base = malloc(r->head + r->bytes + GUARD);
    memset(r->base, 0xA5, r->head + r->bytes + GUARD);
    return r->base + r->head;
}
static float *f32s(size_t n, size_t off, float (*gen)(void)) {
    float *x = place(n, 4, off);
    for (size_t i = 0; i < n; i++) x[i] = gen ? gen() : 0.0f;
    return x;
}
static float *copy_f32(const float *src, size_t n, size_t off) {
    float *x = place(n, 4, off);
    memcpy(x, src, n * 4);
    return x;
}
static void release(const char *path, size_t n) {
    for (size_t r = 0; r < region_count; r++) {
        const unsigned char *tail = regions[r].base + regions[r].head + regions[r].bytes;
        for (size_t b = 0; b < GUARD; b++)
            if (tail[b] != 0xA5) {
                printf("FAIL %s n=%zu: a kernel wrote past the end of an array\n", path, n);
                failures++;
                break;
            }
        free(regions[r].base);
    }
    region_count = 0;
}

static void check_elementwise(const spirt_kernels *k, const spirt_kernels *ref, size_t n, size_t off) {
    const char *p = k->name;
    float *x = f32s(n, off, mixed), *y = f32s(n, off, mixed), *z = f32s(n, off, mixed);
    float *a = f32s(n, off, NULL), *b = f32s(n, off, NULL);
    const float *srcs[5] = {x, y, z, y, x};
    const float weights[5] = {0.5f, -1.5f, 2.0f, 0.0f, 1e-3f}; /* 0 * Inf makes NaN */
    for (size_t count = 1; count <= 5; count++) {
        k->weighted_sum(a, srcs, weights, count, n), ref->weighted_sum(b, srcs, weights, count, n);
        same(p, "weighted_sum", n, off, a, b, 4);
        canonical("weighted_sum", n, b);
        k->weighted_sum(a, srcs, NULL, count, n), ref->weighted_sum(b, srcs, NULL, count, n);
        same(p, "mean", n, off, a, b, 4);
    }
    static const float factors[] = {0.3f, -3.0f, 0.0f, INFINITY, 1e-30f};
    for (size_t f = 0; f < sizeof(factors) / sizeof(factors[0]); f++) {
        memcpy(a, y, n * 4), memcpy(b, y, n * 4);
        k->axpy(a, factors[f], x, n), ref->axpy(b, factors[f], x, n);
        same(p, "axpy", n, off, a, b, 4);
        canonical("axpy", n, b);
        k->scale(a, x, factors[f], n), ref->scale(b, x, factors[f], n);
        same(p, "scale", n, off, a, b, 4);
        canonical("scale", n, b);
    }
    memcpy(a, x, n * 4), memcpy(b, x, n * 4);
    k->scale(a, a, 0.5f, n), ref->scale(b, b, 0.5f, n); /* in place */
    same(p, "scale in place", n, off, a, b, 4);

    static const spirt_sgd_params sgd[] = {
        {0.1f, 0.0f, 0.0f, 0.0f, 0, 0},   {0.1f, 0.9f, 0.0f, 0.01f, 0, 0}, {0.05f, 0.9f, 0.5f, 0.01f, 0, 1},
        {0.05f, 0.9f, 0.5f, 0.0f, 1, 0}, {0.01f, 0.9f, 0.0f, 0.01f, 1, 1},
    };
    for (size_t s = 0; s < sizeof(sgd) / sizeof(sgd[0]); s++) {
        float *v1 = copy_f32(z, n, off), *v2 = copy_f32(z, n, off);
        memcpy(a, y, n * 4), memcpy(b, y, n * 4);
        for (int step = 0; step < 3; step++) {
            k->sgd(a, x, sgd[s].momentum != 0.0f ? v1 : NULL, n, &sgd[s]);
            ref->sgd(b, x, sgd[s].momentum != 0.0f ? v2 : NULL, n, &sgd[s]);
        }
        same(p, "sgd param", n, off, a, b, 4);
        same(p, "sgd velocity", n, off, v1, v2, 4);
        canonical("sgd", n, b);
        if (sgd[s].momentum != 0.0f) canonical("sgd velocity", n, v2);
    }
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        spirt_adam_params ap = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled, 1};
        float *m1 = f32s(n, off, NULL), *m2 = f32s(n, off, NULL), *v1 = f32s(n, off, NULL), *v2 = f32s(n, off, NULL);
        memcpy(a, z, n * 4), memcpy(b, z, n * 4);
        for (ap.step = 1; ap.step <= 3; ap.step++) k->adam(a, y, m1, v1, n, &ap), ref->adam(b, y, m2, v2, n, &ap);
        ap.step = 1000000007; /* bias correction from a long run */
        k->adam(a, x, m1, v1, n, &ap), ref->adam(b, x, m2, v2, n, &ap);
        same(p, "adam param", n, off, a, b, 4);
        same(p, "adam m", n, off, m1, m2, 4);
        same(p, "adam v", n, off, v1, v2, 4);
        canonical("adam", n, b);
    }

    float *t = f32s(n, off, near_tie);
    uint16_t *h1 = place(n, 2, off), *h2 = place(n, 2, off);
    const float *conv_in[2] = {x, t};
    for (int c = 0; c < 2; c++) {
        k->f32_to_f16(h1, conv_in[c], n), ref->f32_to_f16(h2, conv_in[c], n);
        same(p, "f32_to_f16", n, off, h1, h2, 2);
        k->f16_to_f32(a, h1, n), ref->f16_to_f32(b, h1, n);
        same(p, "f16_to_f32", n, off, a, b, 4);
        k->f32_to_bf16(h1, conv_in[c], n), ref->f32_to_bf16(h2, conv_in[c], n);
        same(p, "f32_to_bf16", n, off, h1, h2, 2);
        k->bf16_to_f32(a, h1, n), ref->bf16_to_f32(b, h1, n);
        same(p, "bf16_to_f32", n, off, a, b, 4);
    }

    int8_t *q1 = place(n, 1, off), *q2 = place(n, 1, off);
    static const float scales[] = {0.01f, 1.0f / 3.0f, 7.0f, 1e-40f, 0.0f, INFINITY};
    for (size_t s = 0; s < sizeof(scales) / sizeof(scales[0]); s++) {
        const size_t nan1 = k->quantize_i8(q1, x, scales[s], n), nan2 = ref->quantize_i8(q2, x, scales[s], n);
        same(p, "quantize_i8", n, off, q1, q2, 1);
        if (nan1 != nan2) printf("FAIL %s quantize_i8 NaN count n=%zu: %zu vs %zu\n", p, n, nan1, nan2), failures++;
        k->dequantize_i8(a, q1, scales[s], n), ref->dequantize_i8(b, q1, scales[s], n);
        same(p, "dequantize_i8", n, off, a, b, 4);
        canonical("dequantize_i8", n, b);
    }
}

static void check_reductions(const spirt_kernels *k, const spirt_kernels *ref, size_t n, size_t off) {
    const char *p = k->name;
    float *x = f32s(n, off, mixed), *y = f32s(n, off, NULL);
    for (size_t i = 0; i < n; i++) y[i] = rnd(1.0f);
    /* finite data, data with specials */
    float *clean = f32s(n, off, NULL);
    for (size_t i = 0; i < n; i++) clean[i] = rnd(1.0f) * ldexpf(1.0f, (int)(rnd_u32() % 20) - 10);
    const float *sets[2] = {clean, x};
    for (int s = 0; s < 2; s++) {
        double d1 = k->dot(sets[s], y, n), d2 = ref->dot(sets[s], y, n);
        same(p, "dot", 1, off, &d1, &d2, 8);
        d1 = k->sumsq(sets[s], n), d2 = ref->sumsq(sets[s], n);
        same(p, "sumsq", 1, off, &d1, &d2, 8);
        float m1 = k->maxabs(sets[s], n), m2 = ref->maxabs(sets[s], n);
        same(p, "maxabs", 1, off, &m1, &m2, 4);
    }
    /* a reduction is the in-order sum of its blocks, each computed alone: how callers split it */
    double blocks = 0.0;
    for (size_t b = 0; b < n; b += SPIRT_REDUCE_BLOCK)
        blocks += k->dot(clean + b, y + b, n - b < SPIRT_REDUCE_BLOCK ? n - b : SPIRT_REDUCE_BLOCK);
    const double whole = ref->dot(clean, y, n);
    same(p, "dot as block sums", 1, off, &blocks, &whole, 8);

    float *c1 = copy_f32(clean, n, off), *c2 = copy_f32(clean, n, off), *e1 = copy_f32(y, n, off), *e2 = copy_f32(y, n, off);
    float *t1[2] = {c1, e1}, *t2[2] = {c2, e2};
    const size_t lens[2] = {n, n / 2};
    double n1 = spirt_clip_by_global_norm(k, t1, lens, 2, 0.5), n2 = spirt_clip_by_global_norm(ref, t2, lens, 2, 0.5);
    same(p, "clip norm", 1, off, &n1, &n2, 8);
    same(p, "clip tensor", n, off, c1, c2, 4);
    same(p, "clip tensor", n / 2, off, e1, e2, 4);

    if (n <= 100000) { /* top-k: shared selection over the path's axpy */
        const size_t kk = n / 3 + 1;
        float *r1 = copy_f32(clean, n, off), *r2 = copy_f32(clean, n, off), *v1 = f32s(kk, 0, NULL), *v2 = f32s(kk, 0, NULL);
        uint32_t *i1 = place(kk, 4, 0), *i2 = place(kk, 4, 0);
        const long got = spirt_topk_error_feedback(k, x, r1, n, kk, i1, v1), want = spirt_topk_error_feedback(ref, x, r2, n, kk, i2, v2);
        if (got != want) printf("FAIL %s top-k count n=%zu\n", p, n), failures++;
        same(p, "top-k indices", (size_t)want, off, i1, i2, 4);
        same(p, "top-k values", (size_t)want, off, v1, v2, 4);
        same(p, "top-k residual", n, off, r1, r2, 4);
    }
}

/* Whole code spaces: every half and bfloat16 widened, and every float16 rounding boundary narrowed. */
static void check_code_spaces(const spirt_kernels *k, const spirt_kernels *ref) {
    const char *p = k->name;
    const size_t n = 65536, m = 4 * 65536;
    uint16_t *h = place(n, 2, 1), *h1 = place(m, 2, 1), *h2 = place(m, 2, 1);
    float *a = f32s(m, 1, NULL), *b = f32s(m, 1, NULL), *f = f32s(m, 1, NULL);
    for (size_t i = 0; i < n; i++) h[i] = (uint16_t)i;
    k->f16_to_f32(a, h, n), ref->f16_to_f32(b, h, n);
    same(p, "every float16", n, 1, a, b, 4);
    k->bf16_to_f32(a, h, n), ref->bf16_to_f32(b, h, n);
    same(p, "every bfloat16", n, 1, a, b, 4);
    for (size_t i = 0; i < n; i++) { /* each half's value, and the midpoint to the next one -1, 0, +1 ulp */
        const float lo = spirt_f16_to_f32_scalar((uint16_t)i);
        const uint32_t mid = bits_of(lo) + ((i & 0x7fff) < 0x7bff ? (bits_of(spirt_f16_to_f32_scalar((uint16_t)(i + 1))) - bits_of(lo)) / 2 : 0x1000);
        f[4 * i] = lo, f[4 * i + 1] = from_bits(mid - 1), f[4 * i + 2] = from_bits(mid), f[4 * i + 3] = from_bits(mid + 1);
    }
    k->f32_to_f16(h1, f, m), ref->f32_to_f16(h2, f, m);
    same(p, "float16 boundaries", m, 1, h1, h2, 2);
    k->f32_to_bf16(h1, f, m), ref->f32_to_bf16(h2, f, m);
    same(p, "bfloat16 of float16 boundaries", m, 1, h1, h2, 2);
}

/* Keys that order like floats with -0 below +0 and every NaN (made one) above +Inf. */
static int32_t order_key(float x) {
    if (x != x) x = NAN;
    int32_t b;
    memcpy(&b, &x, 4);
    return b < 0 ? b ^ 0x7fffffff : b;
}
static int by_order_key(const void *a, const void *b) {
    const int32_t ka = order_key(*(const float *)a), kb = order_key(*(const float *)b);
    return (ka > kb) - (ka < kb);
}

/* The sorting network sorts: every 0/1 input up to 16 wires (the 0-1 principle), random ones up to 64. */
static void check_sort_network(void) {
    uint32_t pairs[2 * 1024];
    int32_t v[64];
    for (size_t n = 0; n <= 64; n++) {
        const size_t count = spirt_sort_network(n, NULL);
        if (2 * count > sizeof(pairs) / sizeof(pairs[0]) || spirt_sort_network(n, pairs) != count) {
            printf("FAIL sort network n=%zu: %zu comparators\n", n, count), failures++;
            continue;
        }
        const size_t trials = n <= 16 ? (size_t)1 << n : 2000;
        for (size_t t = 0; t < trials; t++) {
            for (size_t i = 0; i < n; i++) v[i] = n <= 16 ? (int32_t)((t >> i) & 1) : (int32_t)(rnd_u32() % 50);
            for (size_t c = 0; c < count; c++) {
                const int32_t lo = v[pairs[2 * c]], hi = v[pairs[2 * c + 1]];
                v[pairs[2 * c]] = lo < hi ? lo : hi, v[pairs[2 * c + 1]] = lo < hi ? hi : lo;
            }
            for (size_t i = 1; i < n; i++)
                if (v[i - 1] > v[i]) {
                    printf("FAIL sort network n=%zu leaves input %zu unsorted\n", n, t), failures++;
                    return;
                }
        }
    }
}

/* Robust aggregation: every path the same bytes as scalar, and scalar's trimmed means as qsort gives them. */
static void check_robust(const spirt_kernels *k, const spirt_kernels *ref, size_t n, size_t off) {
    const char *p = k->name;
    static const size_t counts[] = {1, 2, 3, 4, 5, 8, 11, 16};
    float *a = f32s(n, off, NULL), *b = f32s(n, off, NULL);
    const float *srcs[16];
    for (size_t j = 0; j < 16; j++) srcs[j] = f32s(n, off, j % 4 == 3 ? mixed : NULL);
    for (size_t j = 0; j < 16; j++)
        if (j % 4 != 3)
            for (size_t i = 0; i < n; i++) ((float *)srcs[j])[i] = rnd(1.0f) + (j == 5 ? 100.0f : 0.0f);
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        const size_t ns = counts[c];
        for (size_t trim = 0; 2 * trim < ns; trim += (ns > 4 ? 2 : 1)) {
            const int r1 = spirt_agg_trimmed_mean(k, a, srcs, ns, n, trim), r2 = spirt_agg_trimmed_mean(ref, b, srcs, ns, n, trim);
            if (r1 || r2) printf("FAIL %s trimmed_mean rc %d %d\n", p, r1, r2), failures++;
            same(p, "trimmed_mean", n, off, a, b, 4);
            canonical("trimmed_mean", n, b);
            if (k != ref) continue;
            for (size_t i = 0; i < n; i++) { /* independent: qsort, add the kept values ascending, divide */
                float col[16];
                for (size_t j = 0; j < ns; j++) col[j] = srcs[j][i];
                qsort(col, ns, sizeof(float), by_order_key);
                float acc = col[trim];
                for (size_t j = trim + 1; j < ns - trim; j++) acc += col[j];
                acc /= (float)(ns - 2 * trim);
                if (acc == acc ? bits_of(acc) != bits_of(b[i]) : b[i] == b[i]) {
                    printf("FAIL trimmed_mean n=%zu count=%zu trim=%zu [%zu]: %.9g, qsort says %.9g\n", n, ns, trim, i, b[i], acc);
                    failures++;
                    break;
                }
            }
        }
        spirt_agg_median(k, a, srcs, ns, n), spirt_agg_median(ref, b, srcs, ns, n);
        same(p, "median", n, off, a, b, 4);
        for (size_t f = 0; 2 * f + 3 <= ns; f++)
            for (size_t m = 1; m <= ns - f; m = m == 1 ? ns - f : ns + 1) { /* Krum and the widest Multi-Krum */
                uint32_t s1[16], s2[16];
                const int r1 = spirt_agg_krum(k, a, srcs, ns, n, f, m, s1), r2 = spirt_agg_krum(ref, b, srcs, ns, n, f, m, s2);
                if (r1 || r2) printf("FAIL %s krum rc %d %d\n", p, r1, r2), failures++;
                same(p, "krum selected", m, off, s1, s2, 4);
                same(p, "krum", n, off, a, b, 4);
            }
        static const float taus[] = {0.0f, 0.5f, 3.0f, INFINITY};
        for (size_t t = 0; t < sizeof(taus) / sizeof(taus[0]); t++) {
            const float *center = t % 2 ? srcs[0] : NULL;
            for (unsigned it = t % 3; it <= 2; it += 2) {
                spirt_agg_centered_clip(k, a, srcs, ns, n, taus[t], it, center);
                spirt_agg_centered_clip(ref, b, srcs, ns, n, taus[t], it, center);
                same(p, "centered_clip", n, off, a, b, 4);
                canonical("centered_clip", n, b);
            }
        }
    }
    double d1 = k->sqdist(srcs[0], srcs[3], n), d2 = ref->sqdist(srcs[0], srcs[3], n);
    same(p, "sqdist", 1, off, &d1, &d2, 8);
}

/* Krum keeps outliers out; bad arguments are refused before anything is written. */
static void check_robust_rules(const spirt_kernels *k) {
    const size_t n = 37, ns = 9, f = 2;
    float *x[9], out[37];
    for (size_t j = 0; j < ns; j++) {
        x[j] = f32s(n, 0, NULL);
        for (size_t i = 0; i < n; i++) x[j][i] = rnd(0.1f) + (j == 2 || j == 6 ? 50.0f : 1.0f);
    }
    uint32_t sel[9];
    if (spirt_agg_krum(k, out, (const float *const *)x, ns, n, f, ns - f, sel)) printf("FAIL krum rc\n"), failures++;
    for (size_t r = 0; r < ns - f; r++)
        if (sel[r] == 2 || sel[r] == 6 || (r && sel[r] <= sel[r - 1])) {
            printf("FAIL %s multi-krum selected source %u\n", k->name, sel[r]), failures++;
            break;
        }
    out[0] = 123.0f;
    if (spirt_agg_krum(k, out, (const float *const *)x, ns, n, 4, 1, sel) != SPIRT_AGG_EINVAL ||
        spirt_agg_krum(k, out, (const float *const *)x, ns, n, f, ns - f + 1, sel) != SPIRT_AGG_EINVAL ||
        spirt_agg_krum(k, out, (const float *const *)x, ns, n, f, 0, sel) != SPIRT_AGG_EINVAL ||
        spirt_agg_trimmed_mean(k, out, (const float *const *)x, ns, n, 5) != SPIRT_AGG_EINVAL ||
        spirt_agg_median(k, out, (const float *const *)x, 0, n) != SPIRT_AGG_EINVAL ||
        spirt_agg_centered_clip(k, out, (const float *const *)x, ns, n, NAN, 1, NULL) != SPIRT_AGG_EINVAL ||
        spirt_agg_centered_clip(k, out, (const float *const *)x, ns, n, -1.0f, 1, NULL) != SPIRT_AGG_EINVAL ||
        out[0] != 123.0f)
        printf("FAIL %s robust aggregation accepted bad arguments\n", k->name), failures++;
    /* tau = Inf from a center: one step is center + (sum of (x - center)) / count */
    spirt_agg_centered_clip(k, out, (const float *const *)x, ns, n, INFINITY, 1, x[0]);
    for (size_t i = 0; i < n; i++) {
        float acc = x[0][i] - x[0][i];
        for (size_t j = 1; j < ns; j++) acc += x[j][i] - x[0][i];
        const float want = x[0][i] + acc / (float)ns;
        if (bits_of(out[i]) != bits_of(want)) {
            printf("FAIL %s centered_clip without clipping [%zu]: %.9g, want %.9g\n", k->name, i, out[i], want), failures++;
            break;
        }
    }
}

/* GEMM: the one kernel allowed to round differently per path */
static void check_gemm(const spirt_kernels *k, const spirt_kernels *ref, size_t n) {
    const size_t M = n / 8 + 1, N = n % 13 + 1, K = 9;
    float *A = f32s(M * K, 0, NULL), *B = f32s(K * N, 0, NULL), *C1 = f32s(M * N, 0, NULL), *C2 = f32s(M * N, 0, NULL);
    for (size_t i = 0; i < M * K; i++) A[i] = rnd(1.0f);
    for (size_t i = 0; i < K * N; i++) B[i] = rnd(1.0f);
    for (int ta = 0; ta < 2; ta++) {
        k->sgemm(ta, 0, M, N, K, 1.0f, A, ta ? M : K, B, N, 0.0f, C1, N);
        ref->sgemm(ta, 0, M, N, K, 1.0f, A, ta ? M : K, B, N, 0.0f, C2, N);
        for (size_t i = 0; i < M * N; i++)
            if (!(fabsf(C1[i] - C2[i]) <= 1e-5f + 1e-5f * fabsf(C2[i]))) {
                printf("FAIL %s sgemm n=%zu [%zu]: got %.9g, want %.9g\n", k->name, n, i, C1[i], C2[i]);
                failures++;
                break;
            }
    }
}

int main(void) {
    const spirt_kernels *ref = spirt_kernels_by_name("scalar");
    check_sort_network();
    static const size_t large[] = {1000, 4099, SPIRT_REDUCE_BLOCK - 1, SPIRT_REDUCE_BLOCK, 2 * SPIRT_REDUCE_BLOCK + 37,
                                   100003, (1 << 20) + 37};
    int passed = 0, failed = 0;
    for (const char *const *name = spirt_kernels_available(); *name; name++) {
        const spirt_kernels *k = spirt_kernels_by_name(*name);
        const int before = failures;
        for (size_t n = 0; n <= 200; n++)
            for (size_t off = 0; off < 4; off++) {
                check_elementwise(k, ref, n, off);
                check_reductions(k, ref, n, off);
                check_gemm(k, ref, n);
                if (n <= 40 || n % 16 == 7) check_robust(k, ref, n, off);
                release(k->name, n);
            }
        for (size_t s = 0; s < sizeof(large) / sizeof(large[0]); s++)
            for (size_t off = large[s] > 100000 ? 3 : 0; off < 4; off += 3) { /* the largest: one misaligned start */
                check_elementwise(k, ref, large[s], off);
                check_reductions(k, ref, large[s], off);
                if (off == 0 && large[s] > 1000 && large[s] <= 2 * SPIRT_REDUCE_BLOCK + 37) check_robust(k, ref, large[s], off);
                release(k->name, large[s]);
            }
        check_code_spaces(k, ref);
        check_robust_rules(k);
        release(k->name, 65536);
        printf("%s path against scalar: %s\n", *name, failures == before ? "identical" : "MISMATCH");
        failures == before ? passed++ : failed++;
    }
    printf("native: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
