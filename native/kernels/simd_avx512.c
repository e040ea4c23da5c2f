/* AVX-512 (F, BW, DQ, VL) path: 16 floats per vector. */
#include "spirt_kernels.h"
#include <immintrin.h>

typedef __m512 VF;
#define VW 16
#define SIMD_SUFFIX avx512
#define SIMD_NAME "avx512"
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSTORE_NT(p, v) _mm512_stream_ps((p), (v))
#define VFENCE() _mm_sfence()
#define VSET1(x) _mm512_set1_ps(x)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VSQRT(a) _mm512_sqrt_ps(a)
#define VMAX(a, b) _mm512_max_ps(a, b)
#define VMIN(a, b) _mm512_min_ps(a, b)
#define VZERO_NAN(a) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, a, _CMP_ORD_Q), a)
#define VROUND(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VISNAN(a) _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q)
#define VCOUNT_NAN(a) ((size_t)__builtin_popcount((unsigned)VISNAN(a)))
#define VCANON(a) _mm512_mask_mov_ps(a, VISNAN(a), _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)))
typedef __m512i VI;
#define VP_ZERO() _mm512_setzero_si512()
#define VP_ADD(p, v) _mm512_max_epu32(p, _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)))
#define VP_MAX(p) _mm512_reduce_max_epu32(p)
#define VI_LOAD(p) _mm512_loadu_si512(p)
#define VI_STORE(p, v) _mm512_storeu_si512(p, v)
#define VI_MIN(a, b) _mm512_min_epi32(a, b)
#define VI_MAX(a, b) _mm512_max_epi32(a, b)
#define VI_FLIP(b) _mm512_xor_si512(b, _mm512_srli_epi32(_mm512_srai_epi32(b, 31), 1))
#define VKEY(v) VI_FLIP(_mm512_castps_si512(VCANON(v)))
#define VUNKEY(k) _mm512_castsi512_ps(VI_FLIP(k))

typedef __m512d VD;
#define VDW 8
#define VD_ZERO() _mm512_setzero_pd()
#define VD_LOADF(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define VD_ADD(a, b) _mm512_add_pd(a, b)
#define VD_SUB(a, b) _mm512_sub_pd(a, b)
#define VD_MUL(a, b) _mm512_mul_pd(a, b)
#define VD_STORE(p, v) _mm512_storeu_pd((p), (v))

#define VSTORE_I8(p, v) _mm_storeu_si128((__m128i *)(p), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)))
#define VLOAD_I8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#define VSTORE_F16(p, v) _mm256_storeu_si256((__m256i *)(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT))
#define VLOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))

static inline void VSTORE_BF16(uint16_t *p, __m512 v) {
    __m512i bits = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
    __m512i r = _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), quiet);
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(r));
}
#define VLOAD_BF16(p) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))

#define GEMM_MR 12
#define GEMM_NRV 2

#include "simd_body.h"
#include "gemm_body.h"
#include "robust_body.h"
#include "simd_table.h"
