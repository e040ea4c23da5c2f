// Validated, typed entry points to the native SIMD kernels. Each bulk kernel is described once (how the caller's
// arguments become the addon's, and what the call returns) and exported twice: `name` runs it on the calling
// thread, for small inputs; `nameAsync` runs it off the event loop on the addon's thread pool. Async forms borrow
// the arrays given: leave them untouched until the promise settles.
//
// Every kernel but gemm gives the same bits on every SIMD path (scalar, AVX2, AVX-512, NEON), so peers on
// different CPUs stay identical: float32 operations in a fixed order with no fused multiply-add (src/reference.ts
// reproduces each bit for bit), reductions in a fixed block order in double. A NaN result of arithmetic (a NaN
// input, Inf - Inf, 0 * Inf) is written as the one quiet NaN 0x7fc00000; conversions keep NaN payloads.
import { ArgumentError } from './errors';
import { BulkKernelName, NativeBulkKernels, native } from './native';
import { AdamOptions, SgdOptions, adamHyperparameters, sgdHyperparameters } from './optim';
import {
  outputArray, requireArray, requireF32, requireInteger, requireNumber, requireSameLength,
} from './validate';

export type { AdamOptions, SgdOptions } from './optim';

/**
 * The SIMD path this process runs (chosen when the addon loads; SPIRT_SIMD=scalar|avx2|avx512|neon forces one) and
 * those it could. Getters: reading them loads the addon, importing this module does not.
 */
export const simd = {
  get path(): string {
    return native().simdPath;
  },
  get available(): string[] {
    return [...native().simdAvailable];
  },
};

type NativeArgs<K extends BulkKernelName> = Parameters<NativeBulkKernels[K]>;
type NativeResult<K extends BulkKernelName> = ReturnType<NativeBulkKernels[K]>;

/**
 * One bulk kernel: `prepare` validates the caller's arguments into the addon's (throwing ArgumentError before any
 * work), `finish` makes the caller's result from them and the addon's. Returns the synchronous and async forms.
 */
function bulkKernel<K extends BulkKernelName, P extends unknown[], R>(
  name: K,
  prepare: (...args: P) => NativeArgs<K>,
  finish: (args: NativeArgs<K>, result: NativeResult<K>) => R,
): { sync: (...args: P) => R; async: (...args: P) => Promise<R> } {
  const asyncName = `${name}Async` as const;
  return {
    sync: (...args) => {
      const a = prepare(...args);
      return finish(a, (native()[name] as (...x: NativeArgs<K>) => NativeResult<K>)(...a));
    },
    async: async (...args) => {
      const a = prepare(...args);
      return finish(a, await (native()[asyncName] as unknown as (...x: NativeArgs<K>) => Promise<NativeResult<K>>)(...a));
    },
  };
}

/** The first native argument: the output array the kernel wrote. */
const written = <T>(args: readonly [T, ...unknown[]]): T => args[0];

function sourcesOf(sources: readonly Float32Array[]): Float32Array[] {
  if (!Array.isArray(sources) || sources.length === 0) {
    throw new ArgumentError('ERR_ARGUMENT', 'sources must be a non-empty array of Float32Array');
  }
  const n = requireF32(sources[0], 'sources[0]').length;
  sources.forEach((s, i) => requireSameLength(n, requireF32(s, `sources[${i}]`), `sources[${i}]`));
  return [...sources];
}

function weightedArgs(sources: readonly Float32Array[], weights: ArrayLike<number> | null, out?: Float32Array): NativeArgs<'weightedSum'> {
  const srcs = sourcesOf(sources);
  let w: Float32Array | null = null;
  if (weights !== null) {
    if (weights === undefined || typeof weights.length !== 'number') {
      throw new ArgumentError('ERR_ARGUMENT', 'weights must be an array of numbers');
    }
    requireSameLength(srcs.length, weights, 'weights');
    w = Float32Array.from(Array.from(weights, (x, i) => requireNumber(x, `weights[${i}]`)));
  }
  return [outputArray(out, Float32Array, srcs[0].length), srcs, w];
}

/** Element-wise mean of equal-length vectors, the averaging kernel: the float32 sum in source order, divided by
 * the count (one correctly rounded division). `out` may be one of the sources. */
export const { sync: mean, async: meanAsync } = bulkKernel('weightedSum',
  (sources: readonly Float32Array[], out?: Float32Array) => weightedArgs(sources, null, out), written);

/** out = sum_j weights[j] * sources[j] in float32: each product rounded, then added in source order. */
export const { sync: weightedSum, async: weightedSumAsync } = bulkKernel('weightedSum',
  (sources: readonly Float32Array[], weights: ArrayLike<number>, out?: Float32Array) => weightedArgs(sources, weights, out), written);

/** y += a * x, in place; returns y. */
export const { sync: axpy, async: axpyAsync } = bulkKernel('axpy',
  (y: Float32Array, a: number, x: Float32Array): NativeArgs<'axpy'> => {
  requireF32(y, 'y');
  requireSameLength(y.length, requireF32(x, 'x'), 'x');
  return [y, requireNumber(a, 'a', { finite: false }), x];
}, written);

/** out = a * x (out may be x). */
export const { sync: scale, async: scaleAsync } = bulkKernel('scale',
  (x: Float32Array, a: number, out?: Float32Array): NativeArgs<'scale'> => {
  requireF32(x, 'x');
  return [outputArray(out, Float32Array, x.length), x, requireNumber(a, 'a', { finite: false })];
}, written);

/**
 * Dot product in double (float products are exact there), in a fixed order: blocks of 16384 elements, each
 * summed in 32 lanes (element i in lane i % 32) folded pairwise, block sums added in order. Identical on every
 * SIMD path; NaN if any product is NaN. The async form gives the same bits (a sum is never split across threads).
 */
export const { sync: dot, async: dotAsync } = bulkKernel('dot', (a: Float32Array, b: Float32Array): NativeArgs<'dot'> => {
  requireF32(a, 'a');
  requireSameLength(a.length, requireF32(b, 'b'), 'b');
  return [a, b];
}, (_, r) => r);

/** sqrt(dot(x, x)). */
export const { sync: l2Norm, async: l2NormAsync } = bulkKernel('sumSq',
  (x: Float32Array): NativeArgs<'sumSq'> => [requireF32(x, 'x')], (_, r) => Math.sqrt(r));

/** max |x|; NaN when x holds a NaN; 0 for an empty array. Exact, so the same everywhere. */
export const { sync: maxAbs, async: maxAbsAsync } = bulkKernel('maxAbs',
  (x: Float32Array): NativeArgs<'maxAbs'> => [requireF32(x, 'x')], (_, r) => r);

/**
 * Scales all tensors together so their global L2 norm is at most maxNorm (coefficient maxNorm / (norm + 1e-6),
 * as PyTorch's clip_grad_norm_). Returns the norm before clipping; a non-finite norm leaves the tensors as they are.
 */
export function clipByGlobalNorm(tensors: readonly Float32Array[], maxNorm: number): number {
  if (!Array.isArray(tensors)) throw new ArgumentError('ERR_ARGUMENT', 'tensors must be an array of Float32Array');
  tensors.forEach((t, i) => requireF32(t, `tensors[${i}]`));
  return native().clipByGlobalNorm([...tensors], requireNumber(maxNorm, 'maxNorm', { min: 0 }));
}

/**
 * SGD step in place, torch.optim.SGD's update in float32: d = grad + weightDecay * param;
 * velocity = (step 1 ? d : momentum * velocity + (1 - dampening) * d); d = nesterov ? d + momentum * velocity : velocity;
 * param -= lr * d. Returns param.
 */
export const { sync: sgdStep, async: sgdStepAsync } = bulkKernel('sgd',
  (param: Float32Array, grad: Float32Array, options: SgdOptions): NativeArgs<'sgd'> => {
  requireF32(param, 'param');
  requireSameLength(param.length, requireF32(grad, 'grad'), 'grad');
  const h = sgdHyperparameters(options);
  if (h.momentum > 0 && options.velocity === undefined) throw new ArgumentError('ERR_ARGUMENT', 'momentum > 0 needs a velocity buffer');
  const velocity = options.velocity === undefined ? null : requireF32(options.velocity, 'velocity');
  if (velocity) requireSameLength(param.length, velocity, 'velocity');
  const step = options.step === undefined ? undefined : requireInteger(options.step, 'step', 1);
  if (h.momentum > 0 && h.dampening > 0 && step === undefined) {
    throw new ArgumentError('ERR_ARGUMENT', 'momentum with dampening needs the 1-based step (step 1 sets velocity = gradient, undampened)');
  }
  return [param, grad, velocity, h.lr, h.momentum, h.dampening, h.weightDecay, h.nesterov, step === 1];
}, written);

export interface AdamState {
  m: Float32Array;
  v: Float32Array;
}

/** Adam / AdamW step in place, bias-corrected; returns param. */
export const { sync: adamStep, async: adamStepAsync } = bulkKernel('adam',
  (param: Float32Array, grad: Float32Array, state: AdamState, options: AdamOptions): NativeArgs<'adam'> => {
  requireF32(param, 'param');
  const n = param.length;
  requireSameLength(n, requireF32(grad, 'grad'), 'grad');
  if (!state) throw new ArgumentError('ERR_ARGUMENT', 'Adam needs a state {m, v}');
  requireSameLength(n, requireF32(state.m, 'state.m'), 'state.m');
  requireSameLength(n, requireF32(state.v, 'state.v'), 'state.v');
  const h = adamHyperparameters(options);
  return [param, grad, state.m, state.v, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.decoupled, h.step];
}, written);

/** A dtype conversion: `out` (a new array when omitted) receives `input` converted element by element. */
function conversion<K extends 'f32ToF16' | 'f16ToF32' | 'f32ToBf16' | 'bf16ToF32'>(
  name: K, inputType: typeof Float32Array | typeof Uint16Array, inputName: string,
  outputType: typeof Float32Array | typeof Uint16Array,
) {
  type In = NativeArgs<K>[1];
  type Out = NativeArgs<K>[0];
  return bulkKernel(name, (input: In, out?: Out) =>
    [outputArray(out, outputType, requireArray<In>(input, inputType, inputName).length), input] as NativeArgs<K>,
  (args) => args[0] as Out);
}

/** float32 -> IEEE float16 bit patterns, round to nearest even; NaN keeps its sign and top payload bits, made quiet. */
export const { sync: toFloat16, async: toFloat16Async } = conversion('f32ToF16', Float32Array, 'x', Uint16Array);

export const { sync: fromFloat16, async: fromFloat16Async } = conversion('f16ToF32', Uint16Array, 'h', Float32Array);

/** float32 -> bfloat16 bit patterns, round to nearest even. */
export const { sync: toBFloat16, async: toBFloat16Async } = conversion('f32ToBf16', Float32Array, 'x', Uint16Array);

export const { sync: fromBFloat16, async: fromBFloat16Async } = conversion('bf16ToF32', Uint16Array, 'h', Float32Array);

export interface QuantizedInt8 {
  values: Int8Array;
  /** x ≈ values * scale; a float32 value */
  scale: number;
}

/** A scale as the kernels hold it: its float32 value, which must be positive and finite. */
function float32Scale(scale: number): number {
  const s = Math.fround(requireNumber(scale, 'scale', { min: Number.MIN_VALUE }));
  if (!(s > 0 && Number.isFinite(s))) throw new ArgumentError('ERR_RANGE', `scale ${scale} is not a positive finite float32 (it rounds to ${s})`);
  return s;
}

const int8HasNoNaN = () => new ArgumentError('ERR_ARGUMENT', 'x holds NaN, which int8 cannot represent');

/**
 * Symmetric int8 quantization: q = clamp(x / scale, -127, 127) rounded half to even, where x / scale is the
 * float32 quotient (correctly rounded) and scale is used, and returned, as its float32 value. Without a scale it
 * is float32(max|x| / 127) (at least the smallest float32, 1 when x is all zeros); data holding Inf then has no
 * finite scale and throws. ±Inf with an explicit scale saturates to ±127. Data holding NaN throws either way
 * (int8 has no NaN, and zeroing one would hide a diverged gradient): without a scale before anything is
 * written, with one after the kernel ran, so `out` then holds the other elements' values and 0 for NaN.
 */
export function quantizeInt8(x: Float32Array, options: { scale?: number; out?: Int8Array } = {}): QuantizedInt8 {
  requireF32(x, 'x');
  const values = outputArray(options.out, Int8Array, x.length);
  let s: number;
  if (options.scale === undefined) {
    const m = native().maxAbs(x);
    if (Number.isNaN(m)) throw int8HasNoNaN();
    if (m === Infinity) throw new ArgumentError('ERR_ARGUMENT', 'cannot pick a finite int8 scale for data holding Inf: pass a scale');
    s = m > 0 ? Math.max(Math.fround(m / 127), 2 ** -149) : 1;
  } else {
    s = float32Scale(options.scale);
  }
  if (native().quantizeI8(values, x, s) > 0) throw int8HasNoNaN();
  return { values, scale: s };
}

/** x = q * scale, scale used as its float32 value. */
export const { sync: dequantizeInt8, async: dequantizeInt8Async } = bulkKernel('dequantizeI8',
  (q: Int8Array, scale: number, out?: Float32Array): NativeArgs<'dequantizeI8'> =>
  [outputArray(out, Float32Array, requireArray<Int8Array>(q, Int8Array, 'q').length), q, requireNumber(scale, 'scale')], written);

export interface SparseGradient {
  /** ascending element indices */
  indices: Uint32Array;
  values: Float32Array;
  /** length of the dense vector */
  length: number;
}

/**
 * Top-k sparsification with error feedback: adds grad into residual, sends the k entries of largest magnitude
 * (NaN counts as largest) and keeps the rest in residual for the next step. Equal magnitudes (+0 and -0 included)
 * are broken by lowest index: of the entries tied at the k-th magnitude, the first ones are sent.
 */
export function topKWithErrorFeedback(grad: Float32Array, k: number, residual: Float32Array): SparseGradient {
  requireF32(grad, 'grad');
  requireSameLength(grad.length, requireF32(residual, 'residual'), 'residual');
  const kk = Math.min(requireInteger(k, 'k', 0), grad.length);
  const indices = new Uint32Array(kk);
  const values = new Float32Array(kk);
  native().topK(grad, residual, kk, indices, values);
  return { indices, values, length: grad.length };
}

export interface GemmOptions {
  /** use A transposed: A is stored k x m */
  transA?: boolean;
  /** use B transposed: B is stored n x k */
  transB?: boolean;
  alpha?: number;
  /** C = alpha * op(A) op(B) + beta * C; 0 (default) overwrites C */
  beta?: number;
}

/**
 * Dense row-major matrix product C (m x n) = alpha * op(A) (m x k) . op(B) (k x n) + beta * C, single-threaded;
 * gemmAsync splits C's rows across the thread pool.
 */
export const { sync: gemm, async: gemmAsync } = bulkKernel('sgemm',
  (m: number, n: number, k: number, A: Float32Array, B: Float32Array, C?: Float32Array,
  options: GemmOptions = {}): NativeArgs<'sgemm'> => {
  requireInteger(m, 'm', 0);
  requireInteger(n, 'n', 0);
  requireInteger(k, 'k', 0);
  requireSameLength(m * k, requireF32(A, 'A'), 'A');
  requireSameLength(k * n, requireF32(B, 'B'), 'B');
  const c = outputArray(C, Float32Array, m * n, 'C');
  const ta = Boolean(options.transA), tb = Boolean(options.transB);
  const alpha = requireNumber(options.alpha ?? 1, 'alpha'), beta = requireNumber(options.beta ?? 0, 'beta');
  return [ta, tb, m, n, k, alpha, A, ta ? m : k, B, tb ? k : n, beta, c, n];
}, (args) => args[11]);
