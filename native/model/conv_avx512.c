/* AVX-512 convolutions: 16 samples per vector, 32 registers. */
#if defined(__x86_64__)
typedef float vec __attribute__((vector_size(64), __may_alias__));
#define LANES 16
#define SPLAT(x) ((vec){} + (x))
#define CONV_SUFFIX avx512
#define CONV_NAME "avx512"
#define CONV_REGISTERS 32
#include "conv_body.h"
#endif
