/* NEON convolutions: 4 samples per vector, 32 registers. */
#if defined(__aarch64__)
typedef float vec __attribute__((vector_size(16), __may_alias__));
#define LANES 4
#define SPLAT(x) ((vec){} + (x))
#define CONV_SUFFIX neon
#define CONV_NAME "neon"
#define CONV_REGISTERS 32
#include "conv_body.h"
#endif
