// Validated, typed entry points to the native SIMD kernels. Each bulk kernel has a synchronous form for
// small inputs and an `...Async` form that runs off the event loop, split across cores. Async forms borrow
// the arrays given: leave them untouched until the promise settles.
//
// Every kernel but gemm gives the same bits on every SIMD path (scalar, AVX2, AVX-512, NEON), so peers on
// different CPUs stay identical: float32 operations in a fixed order with no fused multiply-add (src/reference.ts
// reproduces each bit for bit), reductions in a fixed block order in double. A NaN result of arithmetic (a NaN
// input, Inf - Inf, 0 * Inf) is written as the one quiet NaN 0x7fc00000; conversions keep NaN payloads.
import { ArgumentError } from './errors';
import { native } from './native';
import {
  outputArray, requireArray, requireF32, requireInteger, requireNumber, requireSameLength,
} from './validate';

/** The SIMD path this process runs (chosen at load; SPIRT_SIMD=scalar|avx2|avx512|neon forces one) and those it could. */
export const simd = { path: native.simdPath, available: [...native.simdAvailable] } as const;

function sourcesOf(sources: readonly Float32Array[]): Float32Array[] {
  if (!Array.isArray(sources) || sources.length === 0) {
    throw new ArgumentError('ERR_ARGUMENT', 'sources must be a non-empty array of Float32Array');
  }
  const n = requireF32(sources[0], 'sources[0]').length;
  sources.forEach((s, i) => requireSameLength(n, requireF32(s, `sources[${i}]`), `sources[${i}]`));
  return [...sources];
}

function weightedArgs(sources: readonly Float32Array[], weights: ArrayLike<number> | null, out?: Float32Array) {
  const srcs = sourcesOf(sources);
  let w: Float32Array | null = null;
  if (weights !== null) {
    if (weights === undefined || typeof weights.length !== 'number') {
      throw new ArgumentError('ERR_ARGUMENT', 'weights must be an array of numbers');
    }
    requireSameLength(srcs.length, weights, 'weights');
    w = Float32Array.from(Array.from(weights, (x, i) => requireNumber(x, `weights[${i}]`)));
  }
  return [outputArray(out, Float32Array, srcs[0].length), srcs, w] as const;
}

/** Element-wise mean of equal-length vectors, the averaging kernel: the float32 sum in source order, divided by
 * the count (one correctly rounded division). `out` may be one of the sources. */
export function mean(sources: readonly Float32Array[], out?: Float32Array): Float32Array {
  const args = weightedArgs(sources, null, out);
  native.weightedSum(...args);
  return args[0];
}
export async function meanAsync(sources: readonly Float32Array[], out?: Float32Array): Promise<Float32Array> {
  const args = weightedArgs(sources, null, out);
  await native.weightedSum(...args, true);
  return args[0];
}

/** out = sum_j weights[j] * sources[j] in float32: each product rounded, then added in source order. */
export function weightedSum(sources: readonly Float32Array[], weights: ArrayLike<number>, out?: Float32Array): Float32Array {
  const args = weightedArgs(sources, weights, out);
  native.weightedSum(...args);
  return args[0];
}
export async function weightedSumAsync(sources: readonly Float32Array[], weights: ArrayLike<number>, out?: Float32Array): Promise<Float32Array> {
  const args = weightedArgs(sources, weights, out);
  await native.weightedSum(...args, true);
  return args[0];
}

function axpyArgs(y: Float32Array, a: number, x: Float32Array) {
  requireF32(y, 'y');
  requireSameLength(y.length, requireF32(x, 'x'), 'x');
  return [y, requireNumber(a, 'a', { finite: false }), x] as const;
}
/** y += a * x, in place (the product rounded, then added); returns y. */
export function axpy(y: Float32Array, a: number, x: Float32Array): Float32Array {
  native.axpy(...axpyArgs(y, a, x));
  return y;
}
export async function axpyAsync(y: Float32Array, a: number, x: Float32Array): Promise<Float32Array> {
  await native.axpy(...axpyArgs(y, a, x), true);
  return y;
}

function scaleArgs(x: Float32Array, a: number, out?: Float32Array) {
  requireF32(x, 'x');
  return [outputArray(out, Float32Array, x.length), x, requireNumber(a, 'a', { finite: false })] as const;
}
/** out = a * x (out may be x). */
export function scale(x: Float32Array, a: number, out?: Float32Array): Float32Array {
  const args = scaleArgs(x, a, out);
  native.scale(...args);
  return args[0];
}
export async function scaleAsync(x: Float32Array, a: number, out?: Float32Array): Promise<Float32Array> {
  const args = scaleArgs(x, a, out);
  await native.scale(...args, true);
  return args[0];
}

function dotArgs(a: Float32Array, b: Float32Array) {
  requireF32(a, 'a');
  requireSameLength(a.length, requireF32(b, 'b'), 'b');
  return [a, b] as const;
}
/**
 * Dot product in double (float products are exact there), in a fixed order: blocks of 16384 elements, each
 * summed in 32 lanes (element i in lane i % 32) folded pairwise, block sums added in order. Identical on every
 * SIMD path; NaN if any product is NaN.
 */
export function dot(a: Float32Array, b: Float32Array): number {
  return native.dot(...dotArgs(a, b)) as number;
}
export function dotAsync(a: Float32Array, b: Float32Array): Promise<number> {
  return native.dot(...dotArgs(a, b), true) as Promise<number>;
}

/** sqrt(dot(x, x)). */
export function l2Norm(x: Float32Array): number {
  return Math.sqrt(native.sumSq(requireF32(x, 'x')) as number);
}
export async function l2NormAsync(x: Float32Array): Promise<number> {
  return Math.sqrt(await (native.sumSq(requireF32(x, 'x'), true) as Promise<number>));
}

/** max |x|; NaN when x holds a NaN; 0 for an empty array. Exact, so the same everywhere. */
export function maxAbs(x: Float32Array): number {
  return native.maxAbs(requireF32(x, 'x')) as number;
}

/**
 * Scales all tensors together so their global L2 norm is at most maxNorm (coefficient maxNorm / (norm + 1e-6),
 * as PyTorch's clip_grad_norm_). Returns the norm before clipping; a non-finite norm leaves the tensors as they are.
 */
export function clipByGlobalNorm(tensors: readonly Float32Array[], maxNorm: number): number {
  if (!Array.isArray(tensors)) throw new ArgumentError('ERR_ARGUMENT', 'tensors must be an array of Float32Array');
  tensors.forEach((t, i) => requireF32(t, `tensors[${i}]`));
  return native.clipByGlobalNorm([...tensors], requireNumber(maxNorm, 'maxNorm', { min: 0 }));
}

export interface SgdOptions {
  lr: number;
  /** momentum factor; > 0 needs `velocity` */
  momentum?: number;
  /** velocity buffer (starts at zero), updated in place */
  velocity?: Float32Array;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient */
  weightDecay?: number;
  /**
   * 1-based step count of the velocity buffer, as PyTorch counts it: on step 1 the velocity becomes the gradient,
   * undampened, whatever it held; later steps use velocity = momentum * velocity + (1 - dampening) * gradient.
   * Required when momentum > 0 and dampening > 0. Without dampening it may be left out: then every step is a later
   * step, and a zero-filled velocity gives PyTorch's first step anyway.
   */
  step?: number;
}

/** Validated SGD hyperparameters with defaults: shared by the kernel and TENSOR.SGD. */
export function sgdHyperparameters(o: Omit<SgdOptions, 'velocity'>) {
  const momentum = requireNumber(o.momentum ?? 0, 'momentum', { min: 0 });
  if (o.nesterov && !(momentum > 0)) throw new ArgumentError('ERR_ARGUMENT', 'nesterov needs momentum > 0');
  return {
    lr: requireNumber(o.lr, 'lr', { min: 0 }), momentum,
    dampening: requireNumber(o.dampening ?? 0, 'dampening', { min: 0, max: 1 }),
    weightDecay: requireNumber(o.weightDecay ?? 0, 'weightDecay', { min: 0 }), nesterov: Boolean(o.nesterov),
  };
}

function sgdArgs(param: Float32Array, grad: Float32Array, o: SgdOptions) {
  requireF32(param, 'param');
  requireSameLength(param.length, requireF32(grad, 'grad'), 'grad');
  const h = sgdHyperparameters(o);
  if (h.momentum > 0 && o.velocity === undefined) throw new ArgumentError('ERR_ARGUMENT', 'momentum > 0 needs a velocity buffer');
  const velocity = o.velocity === undefined ? null : requireF32(o.velocity, 'velocity');
  if (velocity) requireSameLength(param.length, velocity, 'velocity');
  const step = o.step === undefined ? undefined : requireInteger(o.step, 'step', 1);
  if (h.momentum > 0 && h.dampening > 0 && step === undefined) {
    throw new ArgumentError('ERR_ARGUMENT', 'momentum with dampening needs the 1-based step (step 1 sets velocity = gradient, undampened)');
  }
  return [param, grad, velocity, h.lr, h.momentum, h.dampening, h.weightDecay, h.nesterov, step === 1] as const;
}
/**
 * SGD step in place, torch.optim.SGD's update in float32: d = grad + weightDecay * param;
 * velocity = (step 1 ? d : momentum * velocity + (1 - dampening) * d); d = nesterov ? d + momentum * velocity : velocity;
 * param -= lr * d.
 */
export function sgdStep(param: Float32Array, grad: Float32Array, options: SgdOptions): Float32Array {
  native.sgd(...sgdArgs(param, grad, options));
  return param;
}
export async function sgdStepAsync(param: Float32Array, grad: Float32Array, options: SgdOptions): Promise<Float32Array> {
  await native.sgd(...sgdArgs(param, grad, options), true);
  return param;
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** true: AdamW (decoupled weight decay); false: Adam with L2 added to the gradient */
  decoupled?: boolean;
  /** 1-based step number, for bias correction */
  step: number;
}
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
}

/** Validated Adam hyperparameters with defaults: shared by the kernel and TENSOR.ADAM. */
export function adamHyperparameters(o: AdamOptions) {
  return {
    lr: requireNumber(o.lr, 'lr', { min: 0 }),
    beta1: requireNumber(o.beta1 ?? 0.9, 'beta1', { min: 0, max: 0.999999999 }),
    beta2: requireNumber(o.beta2 ?? 0.999, 'beta2', { min: 0, max: 0.999999999 }),
    eps: requireNumber(o.eps ?? 1e-8, 'eps', { min: Number.MIN_VALUE }),
    weightDecay: requireNumber(o.weightDecay ?? 0, 'weightDecay', { min: 0 }),
    decoupled: Boolean(o.decoupled),
    step: requireInteger(o.step, 'step', 1),
  };
}

function adamArgs(param: Float32Array, grad: Float32Array, state: AdamState, o: AdamOptions) {
  requireF32(param, 'param');
  const n = param.length;
  requireSameLength(n, requireF32(grad, 'grad'), 'grad');
  if (!state) throw new ArgumentError('ERR_ARGUMENT', 'Adam needs a state {m, v}');
  requireSameLength(n, requireF32(state.m, 'state.m'), 'state.m');
  requireSameLength(n, requireF32(state.v, 'state.v'), 'state.v');
  const h = adamHyperparameters(o);
  return [param, grad, state.m, state.v, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.decoupled, h.step] as const;
}
/** Adam / AdamW step in place, bias-corrected (beta^step by exact-order double products, not libm's pow). */
export function adamStep(param: Float32Array, grad: Float32Array, state: AdamState, options: AdamOptions): Float32Array {
  native.adam(...adamArgs(param, grad, state, options));
  return param;
}
export async function adamStepAsync(param: Float32Array, grad: Float32Array, state: AdamState, options: AdamOptions): Promise<Float32Array> {
  await native.adam(...adamArgs(param, grad, state, options), true);
  return param;
}

/** float32 -> IEEE float16 bit patterns, round to nearest even; NaN keeps its sign and top payload bits, made quiet. */
export function toFloat16(x: Float32Array, out?: Uint16Array): Uint16Array {
  const o = outputArray(out, Uint16Array, requireF32(x, 'x').length);
  native.f32ToF16(o, x);
  return o;
}
export async function toFloat16Async(x: Float32Array, out?: Uint16Array): Promise<Uint16Array> {
  const o = outputArray(out, Uint16Array, requireF32(x, 'x').length);
  await native.f32ToF16(o, x, true);
  return o;
}
export function fromFloat16(h: Uint16Array, out?: Float32Array): Float32Array {
  const o = outputArray(out, Float32Array, requireArray<Uint16Array>(h, Uint16Array, 'h').length);
  native.f16ToF32(o, h);
  return o;
}
export async function fromFloat16Async(h: Uint16Array, out?: Float32Array): Promise<Float32Array> {
  const o = outputArray(out, Float32Array, requireArray<Uint16Array>(h, Uint16Array, 'h').length);
  await native.f16ToF32(o, h, true);
  return o;
}
export function toBFloat16(x: Float32Array, out?: Uint16Array): Uint16Array {
  const o = outputArray(out, Uint16Array, requireF32(x, 'x').length);
  native.f32ToBf16(o, x);
  return o;
}
export async function toBFloat16Async(x: Float32Array, out?: Uint16Array): Promise<Uint16Array> {
  const o = outputArray(out, Uint16Array, requireF32(x, 'x').length);
  await native.f32ToBf16(o, x, true);
  return o;
}
export function fromBFloat16(h: Uint16Array, out?: Float32Array): Float32Array {
  const o = outputArray(out, Float32Array, requireArray<Uint16Array>(h, Uint16Array, 'h').length);
  native.bf16ToF32(o, h);
  return o;
}

export async function fromBFloat16Async(h: Uint16Array, out?: Float32Array): Promise<Float32Array> {
  const o = outputArray(out, Float32Array, requireArray<Uint16Array>(h, Uint16Array, 'h').length);
  await native.bf16ToF32(o, h, true);
  return o;
}

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
    const m = native.maxAbs(x) as number;
    if (Number.isNaN(m)) throw int8HasNoNaN();
    if (m === Infinity) throw new ArgumentError('ERR_ARGUMENT', 'cannot pick a finite int8 scale for data holding Inf: pass a scale');
    s = m > 0 ? Math.max(Math.fround(m / 127), 2 ** -149) : 1;
  } else {
    s = float32Scale(options.scale);
  }
  if ((native.quantizeI8(values, x, s) as number) > 0) throw int8HasNoNaN();
  return { values, scale: s };
}

/** x = q * scale, scale used as its float32 value. */
export function dequantizeInt8(q: Int8Array, scale: number, out?: Float32Array): Float32Array {
  const o = outputArray(out, Float32Array, requireArray<Int8Array>(q, Int8Array, 'q').length);
  native.dequantizeI8(o, q, requireNumber(scale, 'scale'));
  return o;
}
export async function dequantizeInt8Async(q: Int8Array, scale: number, out?: Float32Array): Promise<Float32Array> {
  const o = outputArray(out, Float32Array, requireArray<Int8Array>(q, Int8Array, 'q').length);
  await native.dequantizeI8(o, q, requireNumber(scale, 'scale'), true);
  return o;
}

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
  native.topK(grad, residual, kk, indices, values);
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

function gemmArgs(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C: Float32Array | undefined, o: GemmOptions) {
  requireInteger(m, 'm', 0);
  requireInteger(n, 'n', 0);
  requireInteger(k, 'k', 0);
  requireSameLength(m * k, requireF32(A, 'A'), 'A');
  requireSameLength(k * n, requireF32(B, 'B'), 'B');
  const c = outputArray(C, Float32Array, m * n, 'C');
  const ta = Boolean(o.transA), tb = Boolean(o.transB);
  return [ta, tb, m, n, k, requireNumber(o.alpha ?? 1, 'alpha'), A, ta ? m : k, B, tb ? k : n,
    requireNumber(o.beta ?? 0, 'beta'), c, n] as const;
}

/** Dense row-major matrix product C (m x n) = alpha * op(A) (m x k) . op(B) (k x n) + beta * C, single-threaded. */
export function gemm(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C?: Float32Array, options: GemmOptions = {}): Float32Array {
  const args = gemmArgs(m, n, k, A, B, C, options);
  native.sgemm(...args);
  return args[11];
}
/** gemm with C's rows split across threads, off the event loop. */
export async function gemmAsync(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C?: Float32Array, options: GemmOptions = {}): Promise<Float32Array> {
  const args = gemmArgs(m, n, k, A, B, C, options);
  await native.sgemm(...args, true);
  return args[11];
}
