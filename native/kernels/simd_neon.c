/* NEON path (arm64, e.g. Graviton Lambdas): 4 floats per vector. NEON is part of the arm64 baseline. */
#include "spirt_kernels.h"
#include <arm_neon.h>

typedef float32x4_t VF;
#define VW 4
#define SIMD_SUFFIX neon
#define SIMD_NAME "neon"
#define VLOAD(p) vld1q_f32(p)
#define VSTORE(p, v) vst1q_f32((p), (v))
/* NEON has no non-temporal vector store; the streaming path stores normally */
#define VSTORE_NT(p, v) VSTORE(p, v)
#define VFENCE() ((void)0)
#define VSET1(x) vdupq_n_f32(x)
#define VADD(a, b) vaddq_f32(a, b)
#define VSUB(a, b) vsubq_f32(a, b)
#define VMUL(a, b) vmulq_f32(a, b)
#define VDIV(a, b) vdivq_f32(a, b)
#define VFMA(a, b, c) vfmaq_f32((c), (a), (b))
#define VSQRT(a) vsqrtq_f32(a)
#define VMAX(a, b) vmaxnmq_f32(a, b)
#define VMIN(a, b) vminnmq_f32(a, b)
#define VZERO_NAN(a) vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vceqq_f32(a, a)))
#define VROUND(a) vrndnq_f32(a)
#define VISNUM(a) vceqq_f32(a, a)
#define VCOUNT_NAN(a) ((size_t)vaddvq_u32(vshrq_n_u32(vmvnq_u32(VISNUM(a)), 31)))
#define VCANON(a) vbslq_f32(VISNUM(a), a, vreinterpretq_f32_u32(vdupq_n_u32(0x7fc00000)))
typedef int32x4_t VI;
#define VP_ZERO() vdupq_n_s32(0)
#define VP_ADD(p, v) \
    vreinterpretq_s32_u32(vmaxq_u32(vreinterpretq_u32_s32(p), vandq_u32(vreinterpretq_u32_f32(v), vdupq_n_u32(0x7fffffff))))
#define VP_MAX(p) vmaxvq_u32(vreinterpretq_u32_s32(p))
#define VI_LOAD(p) vld1q_s32(p)
#define VI_STORE(p, v) vst1q_s32((p), (v))
#define VI_MIN(a, b) vminq_s32(a, b)
#define VI_MAX(a, b) vmaxq_s32(a, b)
#define VI_FLIP(b) veorq_s32(b, vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(vshrq_n_s32(b, 31)), 1)))
#define VKEY(v) VI_FLIP(vreinterpretq_s32_f32(VCANON(v)))
#define VUNKEY(k) vreinterpretq_f32_s32(VI_FLIP(k))

typedef float64x2_t VD;
#define VDW 2
#define VD_ZERO() vdupq_n_f64(0.0)
#define VD_LOADF(p) vcvt_f64_f32(vld1_f32(p))
#define VD_ADD(a, b) vaddq_f64(a, b)
#define VD_SUB(a, b) vsubq_f64(a, b)
#define VD_MUL(a, b) vmulq_f64(a, b)
#define VD_STORE(p, v) vst1q_f64((p), (v))

static inline void VSTORE_I8(int8_t *p, float32x4_t v) {
    int16x4_t h = vqmovn_s32(vcvtnq_s32_f32(v));
    int8x8_t b = vqmovn_s16(vcombine_s16(h, h));
    vst1_lane_s32((int32_t *)p, vreinterpret_s32_s8(b), 0);
}
static inline float32x4_t VLOAD_I8(const int8_t *p) {
    int8x8_t b = vreinterpret_s8_s32(vld1_dup_s32((const int32_t *)p));
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(b))));
}
#define VSTORE_F16(p, v) vst1_u16((p), vreinterpret_u16_f16(vcvt_f16_f32(v)))
#define VLOAD_F16(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))
static inline void VSTORE_BF16(uint16_t *p, float32x4_t v) {
    uint32x4_t bits = vreinterpretq_u32_f32(v);
    uint32x4_t lsb = vandq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(1));
    uint32x4_t rounded = vshrq_n_u32(vaddq_u32(bits, vaddq_u32(lsb, vdupq_n_u32(0x7fff))), 16);
    uint32x4_t quiet = vorrq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(0x40));
    uint32x4_t r = vbslq_u32(vceqq_f32(v, v), rounded, quiet);
    vst1_u16(p, vmovn_u32(r));
}
#define VLOAD_BF16(p) vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(vld1_u16(p)), 16))

#define GEMM_MR 8
#define GEMM_NRV 2

#include "simd_body.h"
#include "gemm_body.h"
#include "robust_body.h"
#include "simd_table.h"
