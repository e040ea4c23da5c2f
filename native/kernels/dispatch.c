/* Chooses the kernel table once per process from SPIRT_SIMD or the CPU's features. */
#include "spirt_kernels.h"
#include <stdlib.h>
#include <string.h>

extern const spirt_kernels spirt_kernels_scalar;
#if defined(__x86_64__)
extern const spirt_kernels spirt_kernels_avx2;
extern const spirt_kernels spirt_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const spirt_kernels spirt_kernels_neon;
#endif

static int cpu_runs(const spirt_kernels *k) {
#if defined(__x86_64__)
    if (k == &spirt_kernels_avx512) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    }
    if (k == &spirt_kernels_avx2) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
#endif
    return k != NULL; /* scalar everywhere; NEON is part of the arm64 baseline */
}

/* widest first */
static const spirt_kernels *const all_paths[] = {
#if defined(__x86_64__)
    &spirt_kernels_avx512,
    &spirt_kernels_avx2,
#endif
#if defined(__aarch64__)
    &spirt_kernels_neon,
#endif
    &spirt_kernels_scalar,
};
#define PATH_COUNT (sizeof(all_paths) / sizeof(all_paths[0]))

const spirt_kernels *spirt_kernels_by_name(const char *name) {
    for (size_t i = 0; i < PATH_COUNT; i++)
        if (strcmp(all_paths[i]->name, name) == 0) return cpu_runs(all_paths[i]) ? all_paths[i] : NULL;
    return NULL;
}

const char *const *spirt_kernels_available(void) {
    static const char *names[PATH_COUNT + 1];
    size_t count = 0;
    for (size_t i = 0; i < PATH_COUNT; i++)
        if (cpu_runs(all_paths[i])) names[count++] = all_paths[i]->name;
    names[count] = NULL;
    return names;
}

const spirt_kernels *spirt_kernels_select(const char **error) {
    const char *forced = getenv("SPIRT_SIMD");
    if (forced && *forced && strcmp(forced, "auto") != 0) {
        const spirt_kernels *k = spirt_kernels_by_name(forced);
        if (!k && error) *error = "SPIRT_SIMD names a path that is unknown or not supported by this CPU/build "
                                  "(use scalar, avx2, avx512, neon or auto)";
        return k;
    }
    for (size_t i = 0; i < PATH_COUNT; i++)
        if (cpu_runs(all_paths[i])) return all_paths[i];
    return &spirt_kernels_scalar;
}
