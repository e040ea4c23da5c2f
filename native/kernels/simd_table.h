/* The kernel table of one ISA file: included last, after simd_body.h, gemm_body.h and robust_body.h. */
const spirt_kernels KCAT(spirt_kernels, SIMD_SUFFIX) = {
    SIMD_NAME,
    FN(weighted_sum), FN(axpy), FN(scale), FN(dot), FN(sumsq), FN(maxabs),
    FN(sgd), FN(adam),
    FN(f32_to_f16), FN(f16_to_f32), FN(f32_to_bf16), FN(bf16_to_f32),
    FN(quantize_i8), FN(dequantize_i8),
    FN(sgemm),
    FN(trimmed_mean), FN(sqdist), FN(clip_step),
};
