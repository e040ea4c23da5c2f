// The one file that loads the compiled addon (spirt.node) and types it. The addon is loaded lazily, on the first
// kernel or model call, so the rest of spirt (wire format, TensorStore, launcher, CLI) runs without it.
import { locateBinary } from './binaries';
import { NativeLoadError } from './errors';
import { packageRoot } from './paths';

/** The engine's view of a model spec (see src/model/spec.ts toNativeSpec). */
export interface NativeModelSpec {
  input: number[];
  classes: number;
  layers: Array<Record<string, number | string>>;
}

export interface NativeModelHandle {
  readonly paramCount: number;
  readonly inputSize: number;
  readonly layout: Array<{ name: string; shape: number[]; offset: number }>;
  init(params: Float32Array, seed: number): void;
  gradient(params: Float32Array, batches: Array<{ images: Float32Array; labels: Uint8Array }>, grad: Float32Array): Promise<number>;
  evaluate(params: Float32Array, images: Float32Array, labels: Uint8Array): Promise<{ loss: number; correct: number }>;
}

/**
 * The addon's bulk kernels, synchronous forms. Callers (src/kernels.ts) validate arguments; the addon only
 * checks types and lengths. Each is also exported as `nameAsync` (see NativeAddon).
 */
export interface NativeBulkKernels {
  weightedSum(out: Float32Array, sources: Float32Array[], weights: Float32Array | null): void;
  axpy(y: Float32Array, a: number, x: Float32Array): void;
  scale(out: Float32Array, x: Float32Array, a: number): void;
  /** a sum: never split across threads, so the async form gives the same bits */
  dot(a: Float32Array, b: Float32Array): number;
  sumSq(x: Float32Array): number;
  maxAbs(x: Float32Array): number;
  sgd(param: Float32Array, grad: Float32Array, velocity: Float32Array | null, lr: number, momentum: number,
    dampening: number, weightDecay: number, nesterov: boolean, firstStep?: boolean): void;
  adam(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, decoupled: boolean, step: number): void;
  f32ToF16(out: Uint16Array, x: Float32Array): void;
  f16ToF32(out: Float32Array, h: Uint16Array): void;
  f32ToBf16(out: Uint16Array, x: Float32Array): void;
  bf16ToF32(out: Float32Array, h: Uint16Array): void;
  /** resolves to how many inputs were NaN (written as 0) */
  quantizeI8(out: Int8Array, x: Float32Array, scale: number): number;
  dequantizeI8(out: Float32Array, q: Int8Array, scale: number): void;
  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, A: Float32Array, lda: number,
    B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number): void;
}

export type BulkKernelName = keyof NativeBulkKernels;

/** `nameAsync`: the same arguments; runs on the addon's thread pool, split across it, and resolves to the result. */
export type AsyncKernels = {
  [K in BulkKernelName as `${K}Async`]: (...args: Parameters<NativeBulkKernels[K]>) => Promise<ReturnType<NativeBulkKernels[K]>>;
};

/** Raw addon surface. */
export interface NativeAddon extends NativeBulkKernels, AsyncKernels {
  readonly simdPath: string;
  readonly simdAvailable: readonly string[];
  /** worker threads of the addon's pool: SPIRT_THREADS, or the hardware's thread count */
  readonly threads: number;
  topK(grad: Float32Array, residual: Float32Array, k: number, indices: Uint32Array, values: Float32Array): number;
  clipByGlobalNorm(tensors: Float32Array[], maxNorm: number): number;
  NativeModel: new (spec: NativeModelSpec) => NativeModelHandle;
}

function load(): NativeAddon {
  const file = locateBinary('addon');
  try {
    return require(file) as NativeAddon;
  } catch (e) {
    throw new NativeLoadError('ERR_ADDON_LOAD',
      `spirt native addon ${file} failed to load: ${(e as Error).message}. Rebuild it for this Node.js and platform ` +
      `with 'npm run build:native' in ${packageRoot}`);
  }
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use; throws NativeLoadError saying what was searched and how to fix it. */
export function native(): NativeAddon {
  return (addon ??= load());
}
