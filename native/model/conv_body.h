/* The convolution kernels of conv.h, written once over a vector of LANES floats. Each conv_<isa>.c defines
 * LANES, the vector type `vec` (a GCC vector, or float for one lane), SPLAT(x), CONV_SUFFIX, CONV_NAME and
 * CONV_REGISTERS (vector registers: 32 or 16), then includes this file.
 *
 * Each kernel is a register tile: a few output channels (or input channels) x a few adjacent columns of vector
 * accumulators, kept in registers while the loop walks the other dimensions. Tile sizes are compile-time
 * constants (always_inline with constant arguments, one switch case per size), so the loops unroll fully and the
 * accumulators never touch memory. */
#include <string.h>

#include "conv.h"

#define CONV_CAT2(a, b) a##_##b
#define CONV_CAT(a, b) CONV_CAT2(a, b)
#define CFN(name) CONV_CAT(name, CONV_SUFFIX)

/* vector i of a row of vectors */
#define VAT(p, i) (*(const vec *)((p) + (ptrdiff_t)(i) * LANES))
#define VOUT(p, i) (*(vec *)((p) + (ptrdiff_t)(i) * LANES))

/* Largest tile any ISA uses: accumulator arrays have this size; each ISA's limits (CONV_*_MAX) are at most it. */
#define TILE_MAX_A 6
#define TILE_MAX_B 5

/* Tile limits (rows x columns of accumulators) that leave room for the operands in the register file */
#if CONV_REGISTERS >= 32
#define CONV_FWD_OC_MAX 6 /* 24 accumulators + 4 inputs */
#define CONV_FWD_X_MAX 4
#define CONV_WGRAD_OC_MAX 3 /* 15 accumulators: at 4 x 5 GCC spills one across the pixel loop */
#define CONV_WGRAD_K_MAX 5
#define CONV_IGRAD_IC_MAX 6 /* 24 accumulators + 4 output gradients */
#define CONV_IGRAD_X_MAX 4
#else
#define CONV_FWD_OC_MAX 3
#define CONV_FWD_X_MAX 4
#define CONV_WGRAD_OC_MAX 2
#define CONV_WGRAD_K_MAX 5
#define CONV_IGRAD_IC_MAX 3
#define CONV_IGRAD_X_MAX 4
#endif

#define UNROLL _Pragma("GCC unroll 8")
#define TILE static inline __attribute__((always_inline)) void

#if LANES == 1
typedef int ivec; /* a comparison's mask: all bits set or none */
#define VMASK(cond) (-(int)(cond))
static inline vec CFN(select)(ivec mask, vec yes, vec no) {
    union { float f; int i; } y = {yes}, n = {no}, r;
    r.i = (y.i & mask) | (n.i & ~mask);
    return r.f;
}
#else
typedef int ivec __attribute__((vector_size(sizeof(vec)), __may_alias__));
#define VMASK(cond) (cond)
static inline vec CFN(select)(ivec mask, vec yes, vec no) { return (vec)(((ivec)yes & mask) | ((ivec)no & ~mask)); }
#endif

static inline float CFN(lane_sum)(vec v) {
#if LANES == 1
    return v;
#else
    float s = 0.0f;
    for (int l = 0; l < LANES; l++) s += v[l];
    return s;
#endif
}

/* out[oc0 + o][oy][ox0 + j] for o < OCB, j < XB */
TILE CFN(forward_tile)(const spirt_conv_shape *s, const float *in, const float *w, const float *bias, float *out,
                       size_t oc0, size_t oy, size_t ox0, const int OCB, const int XB) {
    vec acc[TILE_MAX_A][TILE_MAX_B];
    UNROLL for (int o = 0; o < OCB; o++) UNROLL for (int j = 0; j < XB; j++) acc[o][j] = SPLAT(bias[oc0 + o]);
    const size_t kk = s->k * s->k, wstride = s->in_c * kk;
    for (size_t ic = 0; ic < s->in_c; ic++)
        for (size_t ky = 0; ky < s->k; ky++) {
            const float *row = in + ((ic * s->in_h + oy + ky) * s->in_w + ox0) * LANES;
            const float *wrow = w + oc0 * wstride + ic * kk + ky * s->k;
            for (size_t kx = 0; kx < s->k; kx++) {
                vec x[TILE_MAX_B];
                UNROLL for (int j = 0; j < XB; j++) x[j] = VAT(row, kx + j);
                UNROLL for (int o = 0; o < OCB; o++) {
                    const vec wv = SPLAT(wrow[o * wstride + kx]);
                    UNROLL for (int j = 0; j < XB; j++) acc[o][j] += wv * x[j];
                }
            }
        }
    UNROLL for (int o = 0; o < OCB; o++) {
        float *dst = out + (((oc0 + o) * s->out_h + oy) * s->out_w + ox0) * LANES;
        UNROLL for (int j = 0; j < XB; j++) VOUT(dst, j) = acc[o][j];
    }
}

/* dweight[oc0 + o][ic][ky][kx0 + t] += sum over blocks, pixels and lanes of dout[oc0 + o][oy][ox] * in[ic][oy + ky][ox + kx0 + t] */
TILE CFN(weight_grad_tile)(const spirt_conv_shape *s, size_t blocks, const float *in, const float *dout, float *dw,
                           size_t oc0, size_t ic, size_t ky, size_t kx0, const int OCB, const int KB) {
    vec acc[TILE_MAX_A][TILE_MAX_B];
    UNROLL for (int o = 0; o < OCB; o++) UNROLL for (int t = 0; t < KB; t++) acc[o][t] = SPLAT(0.0f);
    const size_t plane = s->out_h * s->out_w * LANES, in_block = s->in_c * s->in_h * s->in_w * LANES;
    for (size_t b = 0; b < blocks; b++)
        for (size_t oy = 0; oy < s->out_h; oy++) {
            const float *drow = dout + b * s->out_c * plane + (oc0 * s->out_h + oy) * s->out_w * LANES;
            const float *irow = in + b * in_block + ((ic * s->in_h + oy + ky) * s->in_w + kx0) * LANES;
            for (size_t ox = 0; ox < s->out_w; ox++) {
                vec d[TILE_MAX_A];
                UNROLL for (int o = 0; o < OCB; o++) d[o] = VAT(drow + o * plane, ox);
                UNROLL for (int t = 0; t < KB; t++) { /* one input vector live at a time: no spills at 4 x 5 */
                    const vec x = VAT(irow, ox + t);
                    UNROLL for (int o = 0; o < OCB; o++) acc[o][t] += d[o] * x;
                }
            }
        }
    const size_t kk = s->k * s->k;
    UNROLL for (int o = 0; o < OCB; o++) UNROLL for (int t = 0; t < KB; t++)
        dw[((oc0 + o) * s->in_c + ic) * kk + ky * s->k + kx0 + t] += CFN(lane_sum)(acc[o][t]);
}

/* din[ic0 + c][y][x0 + j] (unpadded input) for c < ICB, j < XB: the sum over output channels and the kernel
 * rows and columns that reach the tile (no zero row, nor a zero column of the whole tile, visited) of weight x
 * dout_wide, whose zero columns cover the tile's edges */
TILE CFN(input_grad_tile)(const spirt_conv_shape *s, const float *dout_wide, const float *w, float *din, size_t ic0,
                          size_t y, size_t x0, const int ICB, const int XB) {
    vec acc[TILE_MAX_A][TILE_MAX_B];
    UNROLL for (int c = 0; c < ICB; c++) UNROLL for (int j = 0; j < XB; j++) acc[c][j] = SPLAT(0.0f);
    const size_t kk = s->k * s->k, wide = s->out_w + 2 * (s->k - 1), iy = y + s->pad;
    const size_t ky_first = iy + 1 > s->out_h ? iy + 1 - s->out_h : 0, ky_end = iy + 1 < s->k ? iy + 1 : s->k;
    const size_t ix = x0 + s->pad, kx_first = ix + 1 > s->out_w ? ix + 1 - s->out_w : 0, kx_end = ix + XB < s->k ? ix + XB : s->k;
    for (size_t oc = 0; oc < s->out_c; oc++)
        for (size_t ky = ky_first; ky < ky_end; ky++) {
            /* dout_wide column of input column ix at kx = 0; each kx steps one column left */
            const float *drow = dout_wide + ((oc * s->out_h + iy - ky) * wide + ix + s->k - 1) * LANES;
            const float *wrow = w + (oc * s->in_c + ic0) * kk + ky * s->k;
            for (size_t kx = kx_first; kx < kx_end; kx++) {
                vec d[TILE_MAX_B];
                UNROLL for (int j = 0; j < XB; j++) d[j] = VAT(drow, (ptrdiff_t)j - (ptrdiff_t)kx);
                UNROLL for (int c = 0; c < ICB; c++) {
                    const vec wv = SPLAT(wrow[c * kk + kx]);
                    UNROLL for (int j = 0; j < XB; j++) acc[c][j] += wv * d[j];
                }
            }
        }
    const size_t h = s->in_h - 2 * s->pad, wd = s->in_w - 2 * s->pad;
    UNROLL for (int c = 0; c < ICB; c++) {
        float *dst = din + (((ic0 + c) * h + y) * wd + x0) * LANES;
        UNROLL for (int j = 0; j < XB; j++) VOUT(dst, j) = acc[c][j];
    }
}

/* A switch over tile sizes a x b up to the ISA's limits, one case per size, calling CALL(a, b) with constants. */
#define TILE_CASE(a, b, CALL) \
    case (a) * 8 + (b):       \
        CALL(a, b);           \
        break;
#define TILE_COLS1(a, CALL) TILE_CASE(a, 1, CALL)
#define TILE_COLS2(a, CALL) TILE_COLS1(a, CALL) TILE_CASE(a, 2, CALL)
#define TILE_COLS3(a, CALL) TILE_COLS2(a, CALL) TILE_CASE(a, 3, CALL)
#define TILE_COLS4(a, CALL) TILE_COLS3(a, CALL) TILE_CASE(a, 4, CALL)
#define TILE_COLS5(a, CALL) TILE_COLS4(a, CALL) TILE_CASE(a, 5, CALL)
#define TILE_PASTE2(a, b) a##b
#define TILE_PASTE(a, b) TILE_PASTE2(a, b)
#define TILE_ROW(a, maxb, CALL) TILE_PASTE(TILE_COLS, maxb)(a, CALL)
#define TILE_ROWS1(maxb, CALL) TILE_ROW(1, maxb, CALL)
#define TILE_ROWS2(maxb, CALL) TILE_ROWS1(maxb, CALL) TILE_ROW(2, maxb, CALL)
#define TILE_ROWS3(maxb, CALL) TILE_ROWS2(maxb, CALL) TILE_ROW(3, maxb, CALL)
#define TILE_ROWS4(maxb, CALL) TILE_ROWS3(maxb, CALL) TILE_ROW(4, maxb, CALL)
#define TILE_ROWS5(maxb, CALL) TILE_ROWS4(maxb, CALL) TILE_ROW(5, maxb, CALL)
#define TILE_ROWS6(maxb, CALL) TILE_ROWS5(maxb, CALL) TILE_ROW(6, maxb, CALL)
#define TILE_SWITCH(a, b, maxa, maxb, CALL) \
    switch ((a) * 8 + (b)) { TILE_PASTE(TILE_ROWS, maxa)(maxb, CALL) }

/* n split into the fewest tiles of at most max, as even as possible (16 by 6: 6, 5, 5): tile t's size */
static inline size_t CFN(tile_count)(size_t n, int max) { return (n + (size_t)max - 1) / (size_t)max; }
static inline int CFN(tile_size)(size_t n, size_t count, size_t t) { return (int)(n / count + (t < n % count)); }

static void CFN(forward)(const spirt_conv_shape *s, const float *in, const float *w, const float *bias, float *out) {
    const size_t oc_tiles = CFN(tile_count)(s->out_c, CONV_FWD_OC_MAX), x_tiles = CFN(tile_count)(s->out_w, CONV_FWD_X_MAX);
    for (size_t ot = 0, oc0 = 0; ot < oc_tiles; oc0 += CFN(tile_size)(s->out_c, oc_tiles, ot++)) {
        const int ocb = CFN(tile_size)(s->out_c, oc_tiles, ot);
        for (size_t oy = 0; oy < s->out_h; oy++)
            for (size_t xt = 0, ox0 = 0; xt < x_tiles; ox0 += CFN(tile_size)(s->out_w, x_tiles, xt++)) {
                const int xb = CFN(tile_size)(s->out_w, x_tiles, xt);
#define CALL(a, b) CFN(forward_tile)(s, in, w, bias, out, oc0, oy, ox0, a, b)
                TILE_SWITCH(ocb, xb, CONV_FWD_OC_MAX, CONV_FWD_X_MAX, CALL)
#undef CALL
            }
    }
}

static void CFN(weight_grad)(const spirt_conv_shape *s, size_t blocks, const float *in, const float *dout, float *dw,
                             float *db) {
    const size_t oc_tiles = CFN(tile_count)(s->out_c, CONV_WGRAD_OC_MAX), k_tiles = CFN(tile_count)(s->k, CONV_WGRAD_K_MAX);
    for (size_t ot = 0, oc0 = 0; ot < oc_tiles; oc0 += CFN(tile_size)(s->out_c, oc_tiles, ot++)) {
        const int ocb = CFN(tile_size)(s->out_c, oc_tiles, ot);
        for (size_t ic = 0; ic < s->in_c; ic++)
            for (size_t ky = 0; ky < s->k; ky++)
                for (size_t kt = 0, kx0 = 0; kt < k_tiles; kx0 += CFN(tile_size)(s->k, k_tiles, kt++)) {
                    const int kb = CFN(tile_size)(s->k, k_tiles, kt);
#define CALL(a, b) CFN(weight_grad_tile)(s, blocks, in, dout, dw, oc0, ic, ky, kx0, a, b)
                    TILE_SWITCH(ocb, kb, CONV_WGRAD_OC_MAX, CONV_WGRAD_K_MAX, CALL)
#undef CALL
                }
    }
    const size_t pixels = s->out_h * s->out_w;
    for (size_t oc = 0; oc < s->out_c; oc++) {
        vec sum = SPLAT(0.0f);
        for (size_t b = 0; b < blocks; b++)
            for (size_t p = 0; p < pixels; p++) sum += VAT(dout + (b * s->out_c + oc) * pixels * LANES, p);
        db[oc] += CFN(lane_sum)(sum);
    }
}

static void CFN(input_grad)(const spirt_conv_shape *s, const float *dout_wide, const float *w, float *din) {
    const size_t h = s->in_h - 2 * s->pad, wd = s->in_w - 2 * s->pad;
    const size_t ic_tiles = CFN(tile_count)(s->in_c, CONV_IGRAD_IC_MAX), x_tiles = CFN(tile_count)(wd, CONV_IGRAD_X_MAX);
    for (size_t it = 0, ic0 = 0; it < ic_tiles; ic0 += CFN(tile_size)(s->in_c, ic_tiles, it++)) {
        const int icb = CFN(tile_size)(s->in_c, ic_tiles, it);
        for (size_t y = 0; y < h; y++)
            for (size_t xt = 0, x0 = 0; xt < x_tiles; x0 += CFN(tile_size)(wd, x_tiles, xt++)) {
                const int xb = CFN(tile_size)(wd, x_tiles, xt);
#define CALL(a, b) CFN(input_grad_tile)(s, dout_wide, w, din, ic0, y, x0, a, b)
                TILE_SWITCH(icb, xb, CONV_IGRAD_IC_MAX, CONV_IGRAD_X_MAX, CALL)
#undef CALL
            }
    }
}

static void CFN(pool_forward)(size_t c, size_t h, size_t w, const float *in, float *out) {
    const size_t oh = h / 2, ow = w / 2;
    for (size_t plane = 0; plane < c; plane++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                const float *top = in + ((plane * h + 2 * oy) * w + 2 * ox) * LANES;
                const vec a = VAT(top, 0), b = VAT(top, 1), cc = VAT(top, w), d = VAT(top, w + 1);
                vec best = a;
                best = CFN(select)(VMASK(b > best), b, best);
                best = CFN(select)(VMASK(cc > best), cc, best);
                best = CFN(select)(VMASK(d > best), d, best);
                VOUT(out, (plane * oh + oy) * ow + ox) = best;
            }
}

static void CFN(pool_backward)(size_t c, size_t h, size_t w, const float *in, const float *out, const float *dout,
                               float *din) {
    const size_t oh = h / 2, ow = w / 2;
    if (h % 2 || w % 2) memset(din, 0, c * h * w * LANES * sizeof(float)); /* rows or columns no window covers */
    const vec zero = SPLAT(0.0f);
    for (size_t plane = 0; plane < c; plane++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                const size_t top = ((plane * h + 2 * oy) * w + 2 * ox) * LANES, at = (plane * oh + oy) * ow + ox;
                const vec m = VAT(out, at), g = VAT(dout, at);
                const ivec ea = VMASK(VAT(in + top, 0) == m), eb = VMASK(VAT(in + top, 1) == m);
                const ivec ec = VMASK(VAT(in + top, w) == m), ed = VMASK(VAT(in + top, w + 1) == m);
                VOUT(din + top, 0) = CFN(select)(ea, g, zero);
                VOUT(din + top, 1) = CFN(select)(eb & ~ea, g, zero);
                VOUT(din + top, w) = CFN(select)(ec & ~(ea | eb), g, zero);
                VOUT(din + top, w + 1) = CFN(select)(ed & ~(ea | eb | ec), g, zero);
            }
}

const spirt_conv_kernels CONV_CAT(spirt_conv, CONV_SUFFIX) = {
    CONV_NAME, LANES, CFN(forward), CFN(weight_grad), CFN(input_grad), CFN(pool_forward), CFN(pool_backward),
};
