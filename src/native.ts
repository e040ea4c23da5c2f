// The one file that loads the compiled addon (build/Release/spirt.node) and types it.
import fs from 'node:fs';
import path from 'node:path';
import { NativeLoadError } from './errors';
import { buildDir, packageRoot } from './paths';

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

/** Raw addon surface. Callers (src/kernels.ts) validate arguments; a trailing `true` runs a kernel off the event loop. */
export interface NativeAddon {
  readonly simdPath: string;
  readonly simdAvailable: readonly string[];
  weightedSum(out: Float32Array, sources: Float32Array[], weights: Float32Array | null, async?: boolean): void | Promise<void>;
  axpy(y: Float32Array, a: number, x: Float32Array, async?: boolean): void | Promise<void>;
  scale(out: Float32Array, x: Float32Array, a: number, async?: boolean): void | Promise<void>;
  dot(a: Float32Array, b: Float32Array, async?: boolean): number | Promise<number>;
  sumSq(x: Float32Array, async?: boolean): number | Promise<number>;
  maxAbs(x: Float32Array, async?: boolean): number | Promise<number>;
  sgd(param: Float32Array, grad: Float32Array, velocity: Float32Array | null, lr: number, momentum: number,
    dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean, async?: boolean): void | Promise<void>;
  adam(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, decoupled: boolean, step: number, async?: boolean): void | Promise<void>;
  f32ToF16(out: Uint16Array, x: Float32Array, async?: boolean): void | Promise<void>;
  f16ToF32(out: Float32Array, h: Uint16Array, async?: boolean): void | Promise<void>;
  f32ToBf16(out: Uint16Array, x: Float32Array, async?: boolean): void | Promise<void>;
  bf16ToF32(out: Float32Array, h: Uint16Array, async?: boolean): void | Promise<void>;
  /** returns how many elements of x were NaN (written as 0) */
  quantizeI8(out: Int8Array, x: Float32Array, scale: number, async?: boolean): number | Promise<number>;
  dequantizeI8(out: Float32Array, q: Int8Array, scale: number, async?: boolean): void | Promise<void>;
  topK(grad: Float32Array, residual: Float32Array, k: number, indices: Uint32Array, values: Float32Array): number;
  clipByGlobalNorm(tensors: Float32Array[], maxNorm: number): number;
  NativeModel: new (spec: NativeModelSpec) => NativeModelHandle;
  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, A: Float32Array, lda: number,
    B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number, async?: boolean): void | Promise<void>;
}

function load(): NativeAddon {
  const prebuilt = path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'spirt.node');
  const file = [path.join(buildDir, 'spirt.node'), prebuilt].find((f) => fs.existsSync(f));
  if (!file) {
    throw new NativeLoadError('ERR_ADDON_MISSING',
      `spirt native addon not found in ${buildDir} or ${path.dirname(prebuilt)}: run 'npm run build:native'`);
  }
  try {
    return require(file) as NativeAddon;
  } catch (e) {
    throw new NativeLoadError('ERR_ADDON_LOAD', `spirt native addon failed to load: ${(e as Error).message}`);
  }
}

export const native: NativeAddon = load();
