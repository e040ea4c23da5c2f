/* AVX2 + FMA + F16C path: 8 floats per vector. */
#include "spirt_kernels.h"
#include <immintrin.h>

typedef __m256 VF;
#define VW 8
#define SIMD_SUFFIX avx2
#define SIMD_NAME "avx2"
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSTORE_NT(p, v) _mm256_stream_ps((p), (v))
#define VFENCE() _mm_sfence()
#define VSET1(x) _mm256_set1_ps(x)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VSQRT(a) _mm256_sqrt_ps(a)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
#define VZERO_NAN(a) _mm256_and_ps(a, _mm256_cmp_ps(a, a, _CMP_ORD_Q))
#define VROUND(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VISNAN(a) _mm256_cmp_ps(a, a, _CMP_UNORD_Q)
#define VCOUNT_NAN(a) ((size_t)__builtin_popcount((unsigned)_mm256_movemask_ps(VISNAN(a))))
#define VCANON(a) _mm256_blendv_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)), VISNAN(a))
typedef __m256i VI;
#define VP_ZERO() _mm256_setzero_si256()
#define VP_ADD(p, v) _mm256_max_epu32(p, _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7fffffff)))
static inline uint32_t VP_MAX(__m256i p) {
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(m);
}
#define VI_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define VI_STORE(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define VI_MIN(a, b) _mm256_min_epi32(a, b)
#define VI_MAX(a, b) _mm256_max_epi32(a, b)
#define VI_FLIP(b) _mm256_xor_si256(b, _mm256_srli_epi32(_mm256_srai_epi32(b, 31), 1))
#define VKEY(v) VI_FLIP(_mm256_castps_si256(VCANON(v)))
#define VUNKEY(k) _mm256_castsi256_ps(VI_FLIP(k))

typedef __m256d VD;
#define VDW 4
#define VD_ZERO() _mm256_setzero_pd()
#define VD_LOADF(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define VD_ADD(a, b) _mm256_add_pd(a, b)
#define VD_SUB(a, b) _mm256_sub_pd(a, b)
#define VD_MUL(a, b) _mm256_mul_pd(a, b)
#define VD_STORE(p, v) _mm256_storeu_pd((p), (v))

static inline void VSTORE_I8(int8_t *p, __m256 v) {
    __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(_mm256_cvtps_epi32(v)),
                                  _mm256_extracti128_si256(_mm256_cvtps_epi32(v), 1));
    _mm_storel_epi64((__m128i *)p, _mm_packs_epi16(i16, i16));
}
#define VLOAD_I8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define VSTORE_F16(p, v) _mm_storeu_si128((__m128i *)(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT))
#define VLOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

/* bf16 = upper half of the float, rounded to nearest even; NaN stays a quiet NaN */
static inline void VSTORE_BF16(uint16_t *p, __m256 v) {
    __m256i bits = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
    __m256i isnan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    __m256i r = _mm256_blendv_epi8(rounded, quiet, isnan);
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128((__m128i *)p, packed);
}
#define VLOAD_BF16(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))

#define GEMM_MR 6
#define GEMM_NRV 2

#include "simd_body.h"
#include "gemm_body.h"
#include "robust_body.h"
#include "simd_table.h"
