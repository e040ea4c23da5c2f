/* Portable scalar path: the reference every SIMD path is tested against, the vector code with one lane.
 * Built with -fno-tree-vectorize (and -ffp-contract=off, as every kernel file) so it stays one float op at a time. */
#include "spirt_kernels.h"
#include <math.h>
#include <string.h>

typedef float VF;
#define VW 1
#define SIMD_SUFFIX scalar
#define SIMD_NAME "scalar"
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VSTORE_NT(p, v) VSTORE(p, v)
#define VFENCE() ((void)0)
#define VSET1(x) ((float)(x))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
/* GEMM only, which is not bit-identical across paths: the vector paths fuse, this one rounds twice */
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VSQRT(a) sqrtf(a)
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VMIN(a, b) ((a) < (b) ? (a) : (b))
#define VZERO_NAN(a) ((a) != (a) ? 0.0f : (a))
#define VCOUNT_NAN(a) ((size_t)((a) != (a)))
#define VCANON(a) ((a) != (a) ? NAN : (a))
typedef int32_t VI;
#define VP_ZERO() 0
static inline VI VP_ADD(VI p, float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    b &= 0x7fffffffu;
    return (uint32_t)p > b ? p : (VI)b;
}
#define VP_MAX(p) ((uint32_t)(p))
#define VI_LOAD(p) (*(p))
#define VI_STORE(p, v) (*(p) = (v))
#define VI_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VI_MAX(a, b) ((a) > (b) ? (a) : (b))
static inline VI VKEY(float v) {
    int32_t b;
    v = VCANON(v);
    memcpy(&b, &v, 4);
    return b ^ (int32_t)((uint32_t)(b >> 31) >> 1);
}
static inline float VUNKEY(VI k) {
    const int32_t b = k ^ (int32_t)((uint32_t)(k >> 31) >> 1);
    float v;
    memcpy(&v, &b, 4);
    return v;
}
#define VROUND(a) rintf(a)
#define VSTORE_I8(p, v) (*(p) = (int8_t)(v))
#define VLOAD_I8(p) ((float)*(p))
#define VSTORE_F16(p, v) (*(p) = spirt_f32_to_f16_scalar(v))
#define VLOAD_F16(p) spirt_f16_to_f32_scalar(*(p))
#define VSTORE_BF16(p, v) (*(p) = spirt_f32_to_bf16_scalar(v))
#define VLOAD_BF16(p) spirt_bf16_to_f32_scalar(*(p))

typedef double VD;
#define VDW 1
#define VD_ZERO() 0.0
#define VD_LOADF(p) ((double)*(p))
#define VD_ADD(a, b) ((a) + (b))
#define VD_SUB(a, b) ((a) - (b))
#define VD_MUL(a, b) ((a) * (b))
#define VD_STORE(p, v) (*(p) = (v))

#define GEMM_MR 4
#define GEMM_NRV 4

#include "simd_body.h"
#include "gemm_body.h"
#include "robust_body.h"
#include "simd_table.h"
