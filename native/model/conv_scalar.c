/* Portable convolutions: one sample per "vector". */
typedef float vec;
#define LANES 1
#define SPLAT(x) ((vec)(x))
#define CONV_SUFFIX scalar
#define CONV_NAME "scalar"
#define CONV_REGISTERS 16
#include "conv_body.h"

#include <string.h>

extern const spirt_conv_kernels spirt_conv_avx2, spirt_conv_avx512, spirt_conv_neon;

const spirt_conv_kernels *spirt_conv_kernels_for(const char *simd_path) {
#if defined(__x86_64__)
    if (strcmp(simd_path, "avx512") == 0) return &spirt_conv_avx512;
    if (strcmp(simd_path, "avx2") == 0) return &spirt_conv_avx2;
#endif
#if defined(__aarch64__)
    if (strcmp(simd_path, "neon") == 0) return &spirt_conv_neon;
#endif
    return &spirt_conv_scalar;
}
