/* The per-ISA parts of robust aggregation, over the vocabulary of simd_body.h (included after it): the
 * coordinate-wise trimmed mean (median included) and one centered-clipping step. robust.c drives them. */
#include <stdlib.h>

/* Coordinates go TRIM_BLOCK at a time: each source's values become integer keys that order like the floats
 * (VKEY: NaN, made canonical, above +Inf; -0 below +0), a sorting network orders every column of keys with
 * integer min and max, exact on every ISA, and each column's kept middle is added in ascending order, then
 * divided once. Each comparator sweeps the whole block: independent vectors, no chain through memory. */
#define TRIM_BLOCK 256

static void FN(trimmed_block)(float *out, const float *const *src, size_t off, size_t len, size_t nsrc, size_t trim,
                              const uint32_t *pairs, size_t ncmp, int32_t *keys, VF count, VI *probe) {
    const size_t nvec = (len + VW - 1) / VW, last_rem = len % VW;
#define REM(v) ((v) == nvec - 1 ? last_rem : 0)
    for (size_t j = 0; j < nsrc; j++)
        for (size_t v = 0; v < nvec; v++) VI_STORE(keys + j * TRIM_BLOCK + v * VW, VKEY(LOAD_F32(src[j] + off + v * VW, REM(v))));
    for (size_t c = 0; c < 2 * ncmp; c += 2) {
        int32_t *lo = keys + pairs[c] * TRIM_BLOCK, *hi = keys + pairs[c + 1] * TRIM_BLOCK;
        for (size_t v = 0; v < nvec * VW; v += VW) {
            const VI a = VI_LOAD(lo + v), b = VI_LOAD(hi + v);
            VI_STORE(lo + v, VI_MIN(a, b));
            VI_STORE(hi + v, VI_MAX(a, b));
        }
    }
    for (size_t v = 0; v < nvec; v++) {
        VF acc = VUNKEY(VI_LOAD(keys + trim * TRIM_BLOCK + v * VW));
        for (size_t j = trim + 1; j < nsrc - trim; j++) acc = VADD(acc, VUNKEY(VI_LOAD(keys + j * TRIM_BLOCK + v * VW)));
        acc = VDIV(acc, count);
        *probe = VP_ADD(*probe, acc);
        STORE_F32(out + off + v * VW, acc, REM(v));
    }
#undef REM
}

static int FN(trimmed_mean)(float *out, const float *const *src, size_t nsrc, size_t n, size_t trim) {
    const size_t ncmp = spirt_sort_network(nsrc, NULL);
    uint32_t *pairs = malloc((2 * ncmp + 1) * sizeof(uint32_t));
    int32_t *keys = aligned_alloc(64, nsrc * TRIM_BLOCK * sizeof(int32_t)); /* a multiple of 64 bytes */
    if (!pairs || !keys) {
        free(pairs);
        free(keys);
        return -1;
    }
    spirt_sort_network(nsrc, pairs);
    const VF count = VSET1((float)(nsrc - 2 * trim));
    VI probe = VP_ZERO();
    /* a partial block up to out's vector alignment, then whole blocks */
    size_t off = FN(align_head)(out, sizeof(float), n);
    if (off) FN(trimmed_block)(out, src, 0, off, nsrc, trim, pairs, ncmp, keys, count, &probe);
    for (; off < n; off += TRIM_BLOCK)
        FN(trimmed_block)(out, src, off, n - off < TRIM_BLOCK ? n - off : TRIM_BLOCK, nsrc, trim, pairs, ncmp, keys,
                          count, &probe);
    free(pairs);
    free(keys);
    if (VP_NAN(probe)) FN(canonicalize)(out, n);
    return 0;
}

/* v += (sum over sources with coef[j] != 0 of coef[j] * (src[j] - v)) / nsrc, each difference and product
 * rounded, the terms added in source order, then one division */
static void FN(clip_step)(float *v, const float *const *src, const float *coef, size_t nsrc, size_t n) {
    size_t first = 0;
    while (first < nsrc && coef[first] == 0.0f) first++;
    if (first == nsrc) return;
    const VF count = VSET1((float)nsrc);
    VI probe = VP_ZERO();
#define CLIP_STEP(i, rem)                                                                       \
    do {                                                                                        \
        VF v_ = LOAD_F32(v + (i), rem);                                                         \
        VF acc_ = VMUL(VSET1(coef[first]), VSUB(LOAD_F32(src[first] + (i), rem), v_));          \
        for (size_t j = first + 1; j < nsrc; j++)                                               \
            if (coef[j] != 0.0f) acc_ = VADD(acc_, VMUL(VSET1(coef[j]), VSUB(LOAD_F32(src[j] + (i), rem), v_))); \
        v_ = VADD(v_, VDIV(acc_, count));                                                       \
        probe = VP_ADD(probe, v_);                                                              \
        STORE_F32(v + (i), v_, rem);                                                            \
    } while (0)
    FOR_VECTORS(v, n, CLIP_STEP);
#undef CLIP_STEP
    if (VP_NAN(probe)) FN(canonicalize)(v, n);
}
