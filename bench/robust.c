/* Robust aggregation against the plain mean, side by side in one run: N float32 sources of n elements (default
 * 8 x 11.69M, one ResNet-18 gradient per peer), each rule's best of R interleaved runs, on one SIMD path
 * (SPIRT_SIMD picks).
 * Prints JSON. Build and run from the repository root after the native build:
 *   cc -O2 -Inative/kernels bench/robust.c build/libspirt_kernels.a -lm -o /tmp/robust && /tmp/robust [n] [N] [R] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "spirt_kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 11690000, nsrc = argc > 2 ? strtoull(argv[2], NULL, 10) : 8;
    const int reps = argc > 3 ? atoi(argv[3]) : 5;
    const char *error = "";
    const spirt_kernels *k = spirt_kernels_select(&error);
    if (!k || nsrc < 5 || nsrc > 64) return fprintf(stderr, "%s (needs 5 <= N <= 64)\n", k ? "" : error), 1;
    float **src = malloc(nsrc * sizeof(float *)), *out = malloc(n * sizeof(float));
    uint32_t selected[64];
    unsigned seed = 1;
    for (size_t j = 0; j < nsrc; j++) {
        src[j] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) seed = seed * 1103515245u + 12345u, src[j][i] = (float)(seed >> 9) / 8388608.0f - 1.0f;
    }
    const float *const *s = (const float *const *)src;
    const size_t f = (nsrc - 3) / 2;
    const char *names[] = {"mean", "median", "trimmed", "krum", "multikrum", "cclip"};
    double best[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
    for (int r = 0; r < reps; r++) /* rules interleaved, so a busy moment hits them alike */
        for (int rule = 0; rule < 6; rule++) {
            const double t0 = now();
            switch (rule) {
            case 0: k->weighted_sum(out, s, NULL, nsrc, n); break;
            case 1: spirt_agg_median(k, out, s, nsrc, n); break;
            case 2: spirt_agg_trimmed_mean(k, out, s, nsrc, n, 1); break;
            case 3: spirt_agg_krum(k, out, s, nsrc, n, f, 1, selected); break;
            case 4: spirt_agg_krum(k, out, s, nsrc, n, f, nsrc - f, selected); break;
            case 5: spirt_agg_centered_clip(k, out, s, nsrc, n, 1.0f, 1, NULL); break;
            }
            const double t = now() - t0;
            if (t < best[rule]) best[rule] = t;
        }
    printf("{\"path\": \"%s\", \"n\": %zu, \"sources\": %zu, \"f\": %zu, \"ms\": {", k->name, n, nsrc, f);
    for (int rule = 0; rule < 6; rule++) printf("%s\"%s\": %.2f", rule ? ", " : "", names[rule], best[rule] * 1e3);
    printf("}, \"vs_mean\": {");
    for (int rule = 1; rule < 6; rule++) printf("%s\"%s\": %.2f", rule > 1 ? ", " : "", names[rule], best[rule] / best[0]);
    printf("}}\n");
    return 0;
}
