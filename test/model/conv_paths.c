/* Every convolution table of this build (native/model/conv.h) against a double-precision reference, at the C
 * level, so the NEON path is checked too (under qemu-aarch64). Shapes include LeNet's layers, odd sizes, padding
 * and several blocks. Exits 1 on a mismatch. Built and run by scripts/test-native.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"

static unsigned rng_state = 777;
static float rnd(void) {
    rng_state = rng_state * 1103515245u + 12345u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *fresh(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    memset(p, 0, n * sizeof(float));
    return p;
}

static int failures = 0;
/* |got - want| within float rounding of a sum whose terms' magnitudes add up to `mass` */
static void expect_near(const char *path, const char *what, size_t at, double got, double want, double mass) {
    if (fabs(got - want) <= 1e-6 + 2e-6 * mass) return;
    if (failures++ < 10) printf("FAIL %s %s [%zu]: got %.9g, want %.9g\n", path, what, at, got, want);
}

/* a reference sum in double, with the magnitude of its terms (the rounding a float sum may show) */
typedef struct {
    double sum, mass;
} reference;
static void add(reference *r, double term) {
    r->sum += term;
    r->mass += fabs(term);
}

/* element (c, y, x) of lane l in block b of a [c][h][w][lanes] buffer */
#define EL(p, b, c, y, x, C, H, W, L, l) (p)[((((b) * (C) + (c)) * (H) + (y)) * (W) + (x)) * (L) + (l)]

static void check_conv(const spirt_conv_kernels *k, size_t in_c, size_t h, size_t w, size_t pad, size_t out_c, size_t ks,
                       size_t blocks) {
    const size_t L = k->lanes, ph = h + 2 * pad, pw = w + 2 * pad, oh = ph - ks + 1, ow = pw - ks + 1, wide = ow + 2 * (ks - 1);
    const spirt_conv_shape s = {in_c, ph, pw, pad, out_c, ks, oh, ow};
    const size_t in_n = blocks * in_c * ph * pw * L, out_n = blocks * out_c * oh * ow * L, wn = out_c * in_c * ks * ks;
    float *in = fresh(in_n), *weight = fresh(wn), *bias = fresh(out_c), *out = fresh(out_n), *dout = fresh(out_n);
    float *dw = fresh(wn), *db = fresh(out_c), *din = fresh(blocks * in_c * h * w * L), *dwide = fresh(out_c * oh * wide * L);
    for (size_t b = 0; b < blocks; b++)
        for (size_t c = 0; c < in_c; c++)
            for (size_t y = 0; y < h; y++)
                for (size_t x = 0; x < w; x++)
                    for (size_t l = 0; l < L; l++) EL(in, b, c, y + pad, x + pad, in_c, ph, pw, L, l) = rnd();
    for (size_t i = 0; i < wn; i++) weight[i] = rnd();
    for (size_t i = 0; i < out_c; i++) bias[i] = rnd();
    for (size_t i = 0; i < out_n; i++) dout[i] = rnd();
    const size_t in_block = in_c * ph * pw * L, out_block = out_c * oh * ow * L;
    for (size_t b = 0; b < blocks; b++) k->forward(&s, in + b * in_block, weight, bias, out + b * out_block);
    k->weight_grad(&s, blocks, in, dout, dw, db);
    char what[96];
    snprintf(what, sizeof what, "conv %zux%zux%zu pad %zu -> %zu k %zu, %zu blocks", in_c, h, w, pad, out_c, ks, blocks);
    for (size_t b = 0; b < blocks; b++)
        for (size_t o = 0; o < out_c; o++)
            for (size_t y = 0; y < oh; y++)
                for (size_t x = 0; x < ow; x++)
                    for (size_t l = 0; l < L; l++) {
                        reference r = {bias[o], fabs(bias[o])};
                        for (size_t c = 0; c < in_c; c++)
                            for (size_t ky = 0; ky < ks; ky++)
                                for (size_t kx = 0; kx < ks; kx++)
                                    add(&r, (double)weight[((o * in_c + c) * ks + ky) * ks + kx] * EL(in, b, c, y + ky, x + kx, in_c, ph, pw, L, l));
                        expect_near(k->name, what, o, EL(out, b, o, y, x, out_c, oh, ow, L, l), r.sum, r.mass);
                    }
    /* the input gradient's reference, scattered from the same loops as the weight gradient's */
    reference *rdin = calloc(in_n, sizeof(reference));
    for (size_t o = 0; o < out_c; o++) {
        reference rb = {0, 0};
        for (size_t b = 0; b < blocks; b++)
            for (size_t i = 0; i < oh * ow * L; i++) add(&rb, dout[b * out_block + o * oh * ow * L + i]);
        expect_near(k->name, "bias gradient", o, db[o], rb.sum, rb.mass);
        for (size_t c = 0; c < in_c; c++)
            for (size_t ky = 0; ky < ks; ky++)
                for (size_t kx = 0; kx < ks; kx++) {
                    const size_t at = ((o * in_c + c) * ks + ky) * ks + kx;
                    reference r = {0, 0};
                    for (size_t b = 0; b < blocks; b++)
                        for (size_t y = 0; y < oh; y++)
                            for (size_t x = 0; x < ow; x++)
                                for (size_t l = 0; l < L; l++) {
                                    const double d = EL(dout, b, o, y, x, out_c, oh, ow, L, l);
                                    add(&r, d * EL(in, b, c, y + ky, x + kx, in_c, ph, pw, L, l));
                                    add(&EL(rdin, b, c, y + ky, x + kx, in_c, ph, pw, L, l), d * weight[at]);
                                }
                    expect_near(k->name, "weight gradient", at, dw[at], r.sum, r.mass);
                }
    }
    for (size_t b = 0; b < blocks; b++) {
        for (size_t r = 0; r < out_c * oh; r++) memcpy(dwide + (r * wide + ks - 1) * L, dout + b * out_block + r * ow * L, ow * L * sizeof(float));
        k->input_grad(&s, dwide, weight, din + b * in_c * h * w * L);
        for (size_t c = 0; c < in_c; c++)
            for (size_t y = 0; y < h; y++)
                for (size_t x = 0; x < w; x++)
                    for (size_t l = 0; l < L; l++) {
                        const reference r = EL(rdin, b, c, y + pad, x + pad, in_c, ph, pw, L, l);
                        expect_near(k->name, "input gradient", c, EL(din, b, c, y, x, in_c, h, w, L, l), r.sum, r.mass);
                    }
    }
    free(rdin);
    free(in), free(weight), free(bias), free(out), free(dout), free(dw), free(db), free(din), free(dwide);
}

/* exact: the maximum of each window (first one on ties), and the gradient routed to it */
static void check_pool(const spirt_conv_kernels *k, size_t c, size_t h, size_t w) {
    const size_t L = k->lanes, oh = h / 2, ow = w / 2;
    float *in = fresh(c * h * w * L), *out = fresh(c * oh * ow * L), *dout = fresh(c * oh * ow * L), *din = fresh(c * h * w * L);
    for (size_t i = 0; i < c * h * w * L; i++) in[i] = (float)((int)(rnd() * 3)); /* few values: many ties */
    for (size_t i = 0; i < c * oh * ow * L; i++) dout[i] = rnd();
    memset(din, 0x7f, c * h * w * L * sizeof(float)); /* garbage: every element must be written */
    k->pool_forward(c, h, w, in, out);
    k->pool_backward(c, h, w, in, out, dout, din);
    for (size_t p = 0; p < c; p++)
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++)
                for (size_t l = 0; l < L; l++) {
                    const size_t oy = y / 2, ox = x / 2;
                    float want = 0.0f;
                    if (oy < oh && ox < ow) {
                        size_t best_y = 2 * oy, best_x = 2 * ox;
                        for (size_t dy = 0; dy < 2; dy++)
                            for (size_t dx = 0; dx < 2; dx++)
                                if (EL(in, 0, p, 2 * oy + dy, 2 * ox + dx, c, h, w, L, l) > EL(in, 0, p, best_y, best_x, c, h, w, L, l))
                                    best_y = 2 * oy + dy, best_x = 2 * ox + dx;
                        expect_near(k->name, "pool forward", p, EL(out, 0, p, oy, ox, c, oh, ow, L, l),
                                    EL(in, 0, p, best_y, best_x, c, h, w, L, l), 0);
                        if (best_y == y && best_x == x) want = EL(dout, 0, p, oy, ox, c, oh, ow, L, l);
                    }
                    expect_near(k->name, "pool backward", p, EL(din, 0, p, y, x, c, h, w, L, l), want, 0);
                }
    free(in), free(out), free(dout), free(din);
}

int main(void) {
    const char *paths[] = {"scalar",
#if defined(__x86_64__)
                           "avx2", "avx512",
#endif
#if defined(__aarch64__)
                           "neon",
#endif
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (!strcmp(paths[i], "avx512") && !__builtin_cpu_supports("avx512f")) continue;
        if (!strcmp(paths[i], "avx2") && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) continue;
#endif
        const spirt_conv_kernels *k = spirt_conv_kernels_for(paths[i]);
        if (strcmp(k->name, paths[i]) != 0) {
            printf("FAIL no convolution table for %s\n", paths[i]);
            return 1;
        }
        check_conv(k, 1, 28, 28, 2, 6, 5, 2); /* LeNet conv1 */
        check_conv(k, 6, 14, 14, 0, 16, 5, 3); /* LeNet conv2 */
        check_conv(k, 3, 7, 9, 1, 7, 3, 2);
        check_conv(k, 2, 5, 4, 3, 9, 2, 1);
        check_conv(k, 4, 3, 3, 0, 1, 3, 1);
        check_pool(k, 6, 28, 28);
        check_pool(k, 3, 7, 5);
        printf("%s convolutions and pooling: %s\n", k->name, failures ? "FAILED" : "match the reference");
    }
    return failures ? 1 : 0;
}
