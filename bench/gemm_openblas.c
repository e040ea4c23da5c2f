/* Single-threaded SGEMM GFLOP/s: spirt's GEMM against OpenBLAS cblas_sgemm, side by side, same inputs.
 * Built only by bench/model.js (needs Debian's libopenblas-dev). Prints one JSON line per shape. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "spirt_kernels.h"

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *error = "";
    const spirt_kernels *k = spirt_kernels_select(&error);
    if (!k) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    openblas_set_num_threads(1);
    /* square sizes, then the MLP's layer shapes at batch 64: forward, weight gradient, input gradient */
    static const size_t shapes[][3] = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
                                       {64, 256, 784}, {784, 256, 64}, {64, 784, 256}};
    const int reps = argc > 1 ? atoi(argv[1]) : 5;
    { /* half a second of work first, so the clock has ramped up before the first shape is timed */
        float *w = calloc(512 * 512 * 3, sizeof(float));
        for (double t0 = now(); now() - t0 < 0.5;) {
            k->sgemm(0, 0, 512, 512, 512, 1.0f, w, 512, w + 512 * 512, 512, 0.0f, w + 2 * 512 * 512, 512);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 512, 512, 512, 1.0f, w, 512, w + 512 * 512, 512, 0.0f, w + 2 * 512 * 512, 512);
        }
        free(w);
    }
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        const size_t m = shapes[s][0], n = shapes[s][1], kk = shapes[s][2];
        float *A = malloc(m * kk * 4), *B = malloc(kk * n * 4), *C1 = malloc(m * n * 4), *C2 = malloc(m * n * 4);
        for (size_t i = 0; i < m * kk; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < kk * n; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        double best_spirt = 1e30, best_blas = 1e30;
        for (int r = 0; r <= reps; r++) { /* the first round warms caches and is not counted */
            double t0 = now();
            k->sgemm(0, 0, m, n, kk, 1.0f, A, kk, B, n, 0.0f, C1, n);
            double t1 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)kk, 1.0f, A, (int)kk, B, (int)n, 0.0f, C2, (int)n);
            double t2 = now();
            if (r && t1 - t0 < best_spirt) best_spirt = t1 - t0;
            if (r && t2 - t1 < best_blas) best_blas = t2 - t1;
        }
        double maxdiff = 0;
        for (size_t i = 0; i < m * n; i++) maxdiff = fmax(maxdiff, fabs((double)C1[i] - C2[i]));
        const double flop = 2.0 * m * n * kk;
        printf("{\"m\": %zu, \"n\": %zu, \"k\": %zu, \"spirt_gflops\": %.2f, \"openblas_gflops\": %.2f, \"max_abs_diff\": %.3g}\n",
               m, n, kk, flop / best_spirt / 1e9, flop / best_blas / 1e9, maxdiff);
        free(A);
        free(B);
        free(C1);
        free(C2);
    }
    return 0;
}
