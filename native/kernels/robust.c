/* Robust aggregation rules over the per-ISA kernels (trimmed_mean, sqdist, clip_step, weighted_sum). The
 * decisions here (which sources Krum selects, how far centered clipping moves) are made in plain C on bits
 * that every path computes alike, so every path decides alike. */
#include "spirt_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t spirt_sort_network(size_t n, uint32_t *pairs) {
    size_t count = 0;
    for (size_t p = 1; p < n; p += p)
        for (size_t k = p; k >= 1; k /= 2)
            for (size_t j = k % p; j + k < n; j += 2 * k)
                for (size_t i = 0; i < k && i + j + k < n; i++)
                    if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
                        if (pairs) pairs[2 * count] = (uint32_t)(i + j), pairs[2 * count + 1] = (uint32_t)(i + j + k);
                        count++;
                    }
    return count;
}

int spirt_agg_trimmed_mean(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n,
                           size_t trim) {
    if (nsrc == 0 || trim >= nsrc - trim) return SPIRT_AGG_EINVAL;
    return kern->trimmed_mean(out, src, nsrc, n, trim) ? SPIRT_AGG_ENOMEM : 0;
}

int spirt_agg_median(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n) {
    if (nsrc == 0) return SPIRT_AGG_EINVAL;
    return spirt_agg_trimmed_mean(kern, out, src, nsrc, n, (nsrc - 1) / 2);
}

/* a before b: smaller, NaN last */
static int ranks_before(double a, double b) { return a < b || (a == a && b != b); }

/* Stable insertion sort of idx by key (few elements: one per source). */
static void sort_by_key(size_t *idx, size_t count, const double *key) {
    for (size_t i = 1; i < count; i++) {
        const size_t cur = idx[i];
        size_t j = i;
        for (; j > 0 && ranks_before(key[cur], key[idx[j - 1]]); j--) idx[j] = idx[j - 1];
        idx[j] = cur;
    }
}

/* insertion sort of a few indices (one per source) by index */
static void sort_indices(size_t *idx, size_t count) {
    for (size_t i = 1; i < count; i++)
        for (size_t j = i; j > 0 && idx[j] < idx[j - 1]; j--) {
            const size_t t = idx[j];
            idx[j] = idx[j - 1], idx[j - 1] = t;
        }
}

int spirt_agg_krum(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n, size_t f,
                   size_t m, uint32_t *selected) {
    if (nsrc < 2 * f + 3 || m < 1 || m > nsrc - f) return SPIRT_AGG_EINVAL;
    double *dist = calloc(nsrc * nsrc, sizeof(double)), *row = malloc(nsrc * sizeof(double)),
           *scores = malloc(nsrc * sizeof(double));
    size_t *order = malloc(nsrc * sizeof(size_t));
    const float **chosen = malloc(m * sizeof(*chosen));
    int rc = SPIRT_AGG_ENOMEM;
    if (!dist || !row || !scores || !order || !chosen) goto done;
    /* every pair a reduction block at a time, so each block of every source is read from cache: block sums
     * added in order from 0, the same sum sqdist makes of the whole vectors */
    for (size_t off = 0; off < n; off += SPIRT_REDUCE_BLOCK) {
        const size_t len = n - off < SPIRT_REDUCE_BLOCK ? n - off : SPIRT_REDUCE_BLOCK;
        for (size_t i = 0; i < nsrc; i++)
            for (size_t j = i + 1; j < nsrc; j++) dist[i * nsrc + j] += kern->sqdist(src[i] + off, src[j] + off, len);
    }
    for (size_t i = 0; i < nsrc; i++) {
        size_t others = 0;
        for (size_t j = 0; j < nsrc; j++) {
            if (j == i) continue;
            row[j] = i < j ? dist[i * nsrc + j] : dist[j * nsrc + i];
            order[others++] = j;
        }
        sort_by_key(order, others, row);
        scores[i] = 0.0;
        for (size_t r = 0; r < nsrc - f - 2; r++) scores[i] += row[order[r]];
    }
    for (size_t i = 0; i < nsrc; i++) order[i] = i;
    sort_by_key(order, nsrc, scores);
    sort_indices(order, m);
    for (size_t r = 0; r < m; r++) selected[r] = (uint32_t)order[r], chosen[r] = src[order[r]];
    kern->weighted_sum(out, chosen, NULL, m, n);
    rc = 0;
done:
    free(dist);
    free(row);
    free(scores);
    free(order);
    free(chosen);
    return rc;
}

int spirt_agg_centered_clip(const spirt_kernels *kern, float *out, const float *const *src, size_t nsrc, size_t n,
                            float tau, unsigned iterations, const float *center) {
    if (nsrc == 0 || !(tau >= 0.0f)) return SPIRT_AGG_EINVAL;
    float *coef = malloc(nsrc * sizeof(float));
    if (!coef) return SPIRT_AGG_ENOMEM;
    if (center) memmove(out, center, n * sizeof(float));
    else memset(out, 0, n * sizeof(float));
    for (unsigned it = 0; it < iterations; it++) {
        for (size_t j = 0; j < nsrc; j++) {
            const double norm = sqrt(kern->sqdist(src[j], out, n));
            coef[j] = !isfinite(norm) ? 0.0f : norm > tau ? (float)(tau / norm) : 1.0f;
        }
        kern->clip_step(out, src, coef, nsrc, n);
    }
    free(coef);
    return 0;
}
