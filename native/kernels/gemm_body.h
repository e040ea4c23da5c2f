/* Single-precision GEMM over the same vector vocabulary as simd_body.h, BLIS-style: B is packed into
 * panels GEMM_NR columns wide, A into panels GEMM_MR rows tall, and a register-blocked micro-kernel keeps
 * a GEMM_MR x GEMM_NR tile of C in GEMM_MR * GEMM_NRV vector accumulators while it walks K. Each ISA file
 * defines GEMM_MR and GEMM_NRV (vectors per tile row) before including this. */
#include <stdlib.h>

#define GEMM_NR (GEMM_NRV * VW)
#define GEMM_KC 256 /* a KC x NR panel of B stays in L1 */
#define GEMM_MC (GEMM_MR * 24) /* an MC x KC block of A stays in L2 */
#define GEMM_NC 3072 /* a KC x NC block of B stays in L2/L3 */

/* element (i, p) of op(A) and (p, j) of op(B), row-major storage */
#define A_AT(A, lda, ta, i, p) ((ta) ? (A)[(size_t)(p) * (lda) + (i)] : (A)[(size_t)(i) * (lda) + (p)])
#define B_AT(B, ldb, tb, p, j) ((tb) ? (B)[(size_t)(j) * (ldb) + (p)] : (B)[(size_t)(p) * (ldb) + (j)])

/* packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row panels, zero-padding the last one */
static void FN(gemm_pack_a)(float *dst, const float *A, size_t lda, int ta, size_t i0, size_t mc, size_t p0, size_t kc) {
    for (size_t ir = 0; ir < mc; ir += GEMM_MR) {
        const size_t rows = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
        for (size_t p = 0; p < kc; p++) {
            for (size_t r = 0; r < rows; r++) dst[r] = A_AT(A, lda, ta, i0 + ir + r, p0 + p);
            for (size_t r = rows; r < GEMM_MR; r++) dst[r] = 0.0f;
            dst += GEMM_MR;
        }
    }
}

/* packs rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into NR-column panels, zero-padding the last one */
static void FN(gemm_pack_b)(float *dst, const float *B, size_t ldb, int tb, size_t p0, size_t kc, size_t j0, size_t nc) {
    for (size_t jr = 0; jr < nc; jr += GEMM_NR) {
        const size_t cols = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
        for (size_t p = 0; p < kc; p++) {
            if (!tb && cols == GEMM_NR) {
                memcpy(dst, B + (p0 + p) * ldb + j0 + jr, GEMM_NR * sizeof(float));
            } else {
                for (size_t c = 0; c < cols; c++) dst[c] = B_AT(B, ldb, tb, p0 + p, j0 + jr + c);
                for (size_t c = cols; c < GEMM_NR; c++) dst[c] = 0.0f;
            }
            dst += GEMM_NR;
        }
    }
}

/* C[0..rows, 0..cols] += alpha * Apanel . Bpanel over kc; a full tile is updated straight from registers */
static void FN(gemm_micro)(size_t kc, const float *a, const float *b, float alpha, float *C, size_t ldc, size_t rows, size_t cols) {
    VF acc[GEMM_MR][GEMM_NRV];
    for (int r = 0; r < GEMM_MR; r++)
        for (int v = 0; v < GEMM_NRV; v++) acc[r][v] = VSET1(0.0f);
    for (size_t p = 0; p < kc; p++) {
        VF bv[GEMM_NRV];
        for (int v = 0; v < GEMM_NRV; v++) bv[v] = VLOAD(b + v * VW);
        for (int r = 0; r < GEMM_MR; r++) {
            const VF av = VSET1(a[r]);
            for (int v = 0; v < GEMM_NRV; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
        }
        a += GEMM_MR;
        b += GEMM_NR;
    }
    const VF valpha = VSET1(alpha);
    if (rows == GEMM_MR && cols == GEMM_NR) {
        for (int r = 0; r < GEMM_MR; r++)
            for (int v = 0; v < GEMM_NRV; v++)
                VSTORE(C + r * ldc + v * VW, VFMA(valpha, acc[r][v], VLOAD(C + r * ldc + v * VW)));
        return;
    }
    float tile[GEMM_MR * GEMM_NR];
    for (int r = 0; r < GEMM_MR; r++)
        for (int v = 0; v < GEMM_NRV; v++) VSTORE(tile + r * GEMM_NR + v * VW, acc[r][v]);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) C[r * ldc + c] += alpha * tile[r * GEMM_NR + c];
}

/* C = alpha * op(A) . op(B) + beta * C, row-major; op(A) is M x K, op(B) is K x N. Returns -1 when out of memory. */
static int FN(sgemm)(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                     const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    for (size_t i = 0; i < M; i++) {
        if (beta == 0.0f) memset(C + i * ldc, 0, N * sizeof(float));
        else if (beta != 1.0f) FN(scale)(C + i * ldc, C + i * ldc, beta, N);
    }
    if (M == 0 || N == 0 || K == 0 || alpha == 0.0f) return 0;
    const size_t nc_max = N < GEMM_NC ? N : GEMM_NC, kc_max = K < GEMM_KC ? K : GEMM_KC;
    float *pb = aligned_alloc(64, ((kc_max * (nc_max + GEMM_NR) * sizeof(float)) + 63) / 64 * 64);
    float *pa = aligned_alloc(64, ((kc_max * (GEMM_MC + GEMM_MR) * sizeof(float)) + 63) / 64 * 64);
    if (!pa || !pb) {
        free(pa);
        free(pb);
        return -1;
    }
    for (size_t jc = 0; jc < N; jc += GEMM_NC) {
        const size_t nc = N - jc < GEMM_NC ? N - jc : GEMM_NC;
        for (size_t pc = 0; pc < K; pc += GEMM_KC) {
            const size_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            FN(gemm_pack_b)(pb, B, ldb, tb, pc, kc, jc, nc);
            for (size_t ic = 0; ic < M; ic += GEMM_MC) {
                const size_t mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;
                FN(gemm_pack_a)(pa, A, lda, ta, ic, mc, pc, kc);
                for (size_t jr = 0; jr < nc; jr += GEMM_NR) {
                    const size_t cols = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
                    for (size_t ir = 0; ir < mc; ir += GEMM_MR) {
                        const size_t rows = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
                        FN(gemm_micro)(kc, pa + ir * kc, pb + jr * kc, alpha, C + (ic + ir) * ldc + jc + jr, ldc, rows, cols);
                    }
                }
            }
        }
    }
    free(pa);
    free(pb);
    return 0;
}
