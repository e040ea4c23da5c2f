/* AVX2 + FMA convolutions: 8 samples per vector, 16 registers. */
#if defined(__x86_64__)
typedef float vec __attribute__((vector_size(32), __may_alias__));
#define LANES 8
#define SPLAT(x) ((vec){} + (x))
#define CONV_SUFFIX avx2
#define CONV_NAME "avx2"
#define CONV_REGISTERS 16
#include "conv_body.h"
#endif
