/* Every SIMD path of this build against the scalar path, in one process, at the C level: the check that
 * also runs where Node cannot (e.g. the NEON path under qemu-aarch64). Exits 1 on the first mismatch.
 * Built and run by scripts/test-native.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spirt_kernels.h"

static unsigned rng_state = 12345;
static float rnd(void) {
    rng_state = rng_state * 1103515245u + 12345u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int failures = 0;
static void check(const char *path, const char *what, size_t n, const float *got, const float *want, float rtol, float atol) {
    for (size_t i = 0; i < n; i++) {
        const float g = got[i], w = want[i];
        if (isnan(g) && isnan(w)) continue;
        if (!(fabsf(g - w) <= atol + rtol * fabsf(w))) {
            printf("FAIL %s %s n=%zu [%zu]: got %.9g, want %.9g\n", path, what, n, i, g, w);
            failures++;
            return;
        }
    }
}

static float *fresh(size_t n, int fill) {
    float *a = malloc((n + 8) * sizeof(float));
    for (size_t i = 0; i < n + 8; i++) a[i] = fill ? rnd() : 0.0f;
    return a;
}

static void compare(const spirt_kernels *k, const spirt_kernels *ref, size_t n, size_t off) {
    float *x = fresh(n + off, 1) + off, *y = fresh(n + off, 1) + off, *z = fresh(n + off, 1) + off;
    float *a = fresh(n, 0), *b = fresh(n, 0);
    const float *srcs[3] = {x, y, z};
    const float w[3] = {0.5f, -1.5f, 2.0f};
    k->weighted_sum(a, srcs, w, 3, n);
    ref->weighted_sum(b, srcs, w, 3, n);
    check(k->name, "weighted_sum", n, a, b, 1e-6f, 1e-6f);
    memcpy(a, y, n * 4), memcpy(b, y, n * 4);
    k->axpy(a, 0.3f, x, n);
    ref->axpy(b, 0.3f, x, n);
    check(k->name, "axpy", n, a, b, 1e-6f, 1e-6f);
    k->scale(a, x, 3.0f, n);
    ref->scale(b, x, 3.0f, n);
    check(k->name, "scale", n, a, b, 0, 0);
    float d1 = (float)k->dot(x, y, n), d2 = (float)ref->dot(x, y, n);
    check(k->name, "dot", 1, &d1, &d2, 1e-5f, 1e-5f);
    d1 = k->maxabs(x, n), d2 = ref->maxabs(x, n);
    check(k->name, "maxabs", 1, &d1, &d2, 0, 0);
    spirt_sgd_params sp = {0.1f, 0.9f, 0.0f, 0.01f, 1};
    float *v1 = fresh(n, 0), *v2 = fresh(n, 0);
    memcpy(a, z, n * 4), memcpy(b, z, n * 4);
    for (int s = 0; s < 3; s++) k->sgd(a, x, v1, n, &sp), ref->sgd(b, x, v2, n, &sp);
    check(k->name, "sgd", n, a, b, 1e-5f, 1e-6f);
    spirt_adam_params ap = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 1};
    float *m1 = fresh(n, 0), *m2 = fresh(n, 0);
    memset(v1, 0, n * 4), memset(v2, 0, n * 4);
    for (ap.step = 1; ap.step <= 3; ap.step++) k->adam(a, y, m1, v1, n, &ap), ref->adam(b, y, m2, v2, n, &ap);
    check(k->name, "adam", n, a, b, 1e-5f, 1e-6f);
    uint16_t *h1 = malloc(n * 2 + 2), *h2 = malloc(n * 2 + 2);
    k->f32_to_f16(h1, x, n);
    ref->f32_to_f16(h2, x, n);
    for (size_t i = 0; i < n; i++)
        if (h1[i] != h2[i]) { printf("FAIL %s f32_to_f16 n=%zu [%zu]\n", k->name, n, i); failures++; break; }
    k->f16_to_f32(a, h1, n), ref->f16_to_f32(b, h1, n);
    check(k->name, "f16_to_f32", n, a, b, 0, 0);
    k->f32_to_bf16(h1, x, n);
    ref->f32_to_bf16(h2, x, n);
    for (size_t i = 0; i < n; i++)
        if (h1[i] != h2[i]) { printf("FAIL %s f32_to_bf16 n=%zu [%zu]\n", k->name, n, i); failures++; break; }
    k->bf16_to_f32(a, h1, n), ref->bf16_to_f32(b, h1, n);
    check(k->name, "bf16_to_f32", n, a, b, 0, 0);
    int8_t *q1 = malloc(n + 1), *q2 = malloc(n + 1);
    k->quantize_i8(q1, z, 0.01f, n);
    ref->quantize_i8(q2, z, 0.01f, n);
    for (size_t i = 0; i < n; i++)
        if (q1[i] != q2[i]) { printf("FAIL %s quantize_i8 n=%zu [%zu]: %d vs %d\n", k->name, n, i, q1[i], q2[i]); failures++; break; }
    k->dequantize_i8(a, q1, 0.01f, n), ref->dequantize_i8(b, q1, 0.01f, n);
    check(k->name, "dequantize_i8", n, a, b, 0, 0);
    /* GEMM on an (n/8+1) x 9 by 9 x (n%13+1) problem, both transposes of A */
    const size_t M = n / 8 + 1, N = n % 13 + 1, K = 9;
    float *A = fresh(M * K, 1), *B = fresh(K * N, 1), *C1 = fresh(M * N, 0), *C2 = fresh(M * N, 0);
    for (int ta = 0; ta < 2; ta++) {
        k->sgemm(ta, 0, M, N, K, 1.0f, A, ta ? M : K, B, N, 0.0f, C1, N);
        ref->sgemm(ta, 0, M, N, K, 1.0f, A, ta ? M : K, B, N, 0.0f, C2, N);
        check(k->name, "sgemm", M * N, C1, C2, 1e-5f, 1e-5f);
    }
    free(x - off), free(y - off), free(z - off), free(a), free(b), free(v1), free(v2), free(m1), free(m2);
    free(h1), free(h2), free(q1), free(q2), free(A), free(B), free(C1), free(C2);
}

int main(void) {
    const spirt_kernels *ref = spirt_kernels_by_name("scalar");
    static const size_t sizes[] = {0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 1000, 4099};
    int passed = 0, failed = 0;
    for (const char *const *name = spirt_kernels_available(); *name; name++) {
        const spirt_kernels *k = spirt_kernels_by_name(*name);
        const int before = failures;
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            for (size_t off = 0; off < 3; off++) compare(k, ref, sizes[s], off);
        printf("%s path against scalar: %s\n", *name, failures == before ? "ok" : "MISMATCH");
        failures == before ? passed++ : failed++;
    }
    printf("native: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
