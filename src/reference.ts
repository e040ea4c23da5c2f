// Plain TypeScript versions of every kernel: the test oracle for each SIMD path and the baseline the
// benchmark measures against. Straight loops, float64 intermediates rounded to float32 on store.
import type { AdamOptions, SgdOptions } from './kernels';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function weightedSum(sources: readonly Float32Array[], weights: ArrayLike<number> | null, out: Float32Array): Float32Array {
  const n = out.length;
  const w = weights ? Array.from(weights) : sources.map(() => 1 / sources.length);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let j = 0; j < sources.length; j++) acc += w[j] * sources[j][i];
    out[i] = acc;
  }
  return out;
}

export function mean(sources: readonly Float32Array[], out: Float32Array): Float32Array {
  return weightedSum(sources, null, out);
}

export function axpy(y: Float32Array, a: number, x: Float32Array): Float32Array {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
  return y;
}

export function scale(x: Float32Array, a: number, out: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) out[i] = a * x[i];
  return out;
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function l2Norm(x: Float32Array): number {
  return Math.sqrt(dot(x, x));
}

export function maxAbs(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) return NaN;
    m = Math.max(m, Math.abs(x[i]));
  }
  return m;
}

export function clipByGlobalNorm(tensors: readonly Float32Array[], maxNorm: number): number {
  const norm = Math.sqrt(tensors.reduce((s, t) => s + dot(t, t), 0));
  const coef = maxNorm / (norm + 1e-6);
  if (Number.isFinite(norm) && coef < 1) for (const t of tensors) scale(t, Math.fround(coef), t);
  return norm;
}

export function sgdStep(param: Float32Array, grad: Float32Array, o: SgdOptions): Float32Array {
  const mom = o.momentum ?? 0, damp = o.dampening ?? 0, wd = o.weightDecay ?? 0, v = o.velocity;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i] + wd * param[i];
    if (mom > 0 && v) {
      v[i] = mom * v[i] + (1 - damp) * g;
      g = o.nesterov ? g + mom * v[i] : v[i];
    }
    param[i] -= o.lr * g;
  }
  return param;
}

export function adamStep(param: Float32Array, grad: Float32Array, state: { m: Float32Array; v: Float32Array }, o: AdamOptions): Float32Array {
  // hyperparameters as the kernels hold them: float32 (1 - beta2 differs from 0.001 by 1e-5 relative)
  const [lr, b1, b2, eps, wd] = [o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, o.weightDecay ?? 0].map(Math.fround);
  const bc1 = 1 - b1 ** o.step, bc2 = 1 - b2 ** o.step;
  const { m, v } = state;
  for (let i = 0; i < param.length; i++) {
    if (o.decoupled) param[i] *= 1 - lr * wd;
    const g = grad[i] + (o.decoupled ? 0 : wd * param[i]);
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    param[i] -= (lr * m[i]) / bc1 / (Math.sqrt(v[i] / bc2) + eps);
  }
  return param;
}

/** IEEE half from float32, round to nearest even, by integer arithmetic on the bits. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++;
  return sign | r;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

export function quantizeInt8(x: Float32Array, scale: number, out: Int8Array): Int8Array {
  const inv = Math.fround(1 / Math.fround(scale));
  for (let i = 0; i < x.length; i++) {
    const q = Math.fround(x[i] * inv);
    const c = Number.isNaN(q) ? 0 : Math.min(127, Math.max(-127, q));
    out[i] = roundHalfEven(c);
  }
  return out;
}

export function dequantizeInt8(q: Int8Array, scale: number, out: Float32Array): Float32Array {
  const s = Math.fround(scale);
  for (let i = 0; i < q.length; i++) out[i] = s * q[i];
  return out;
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Reference top-k with error feedback: NaN ranks above Inf, equal magnitudes go by ascending index. */
export function topKWithErrorFeedback(grad: Float32Array, k: number, residual: Float32Array) {
  for (let i = 0; i < grad.length; i++) residual[i] = Math.fround(residual[i] + grad[i]);
  const nan = (v: number) => (Number.isNaN(v) ? 1 : 0);
  const order = Array.from(residual.keys()).sort((a, b) => {
    const ra = residual[a], rb = residual[b];
    return nan(rb) - nan(ra) || (Math.abs(rb) === Math.abs(ra) ? 0 : Math.abs(rb) - Math.abs(ra)) || a - b;
  });
  const chosen = order.slice(0, Math.min(k, grad.length)).sort((a, b) => a - b);
  const indices = Uint32Array.from(chosen);
  const values = Float32Array.from(chosen, (i) => residual[i]);
  for (const i of chosen) residual[i] = 0;
  return { indices, values, length: grad.length };
}

/** Reference matrix product, row-major, double accumulation. */
export function gemm(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C: Float32Array,
  o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Float32Array {
  const alpha = o.alpha ?? 1, beta = o.beta ?? 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (o.transA ? A[p * m + i] : A[i * k + p]) * (o.transB ? B[j * k + p] : B[p * n + j]);
      C[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * n + j]);
    }
  }
  return C;
}
