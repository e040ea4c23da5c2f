/* Memory bandwidth on this machine, STREAM-style: copy (a = b) and triad (a = b + s*c) over float32 arrays,
 * single-threaded, best of R repetitions. Prints JSON: {"copy_gbps": x, "triad_gbps": y}.
 * Bytes counted as STREAM does: 2 arrays moved for copy, 3 for triad (no write-allocate traffic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 11690000;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    float *a = aligned_alloc(64, ((n * 4 + 63) / 64) * 64), *b = aligned_alloc(64, ((n * 4 + 63) / 64) * 64),
          *c = aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < n; i++) a[i] = 0.0f, b[i] = (float)i, c[i] = 0.5f;
    const float s = 3.0f;
    double copy_best = 1e30, triad_best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++) a[i] = b[i];
        double t1 = now();
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        double t2 = now();
        if (t1 - t0 < copy_best) copy_best = t1 - t0;
        if (t2 - t1 < triad_best) triad_best = t2 - t1;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    printf("{\"copy_gbps\": %.3f, \"triad_gbps\": %.3f}\n", 2.0 * n * 4 / copy_best / 1e9, 3.0 * n * 4 / triad_best / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
