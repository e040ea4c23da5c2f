// Plain TypeScript versions of every kernel: the test oracle for each SIMD path and the baseline the
// benchmark measures against. They compute what the kernels define, bit for bit: float32 arithmetic is
// float64 arithmetic rounded by Math.fround after every operation (exact for + - * / and sqrt, as the
// kernels fuse no multiply-add), reductions follow the kernels' fixed block and lane order, and NaN
// results are NaN (the kernels write them as 0x7fc00000). gemm is the exception: double accumulation.
import type { AdamOptions } from './kernels';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fr = Math.fround;

/** Float32 bits of each element, NaN payloads included (a plain read of a NaN may not keep them). */
function bitsOf(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}

/** Products rounded, added in source order; without weights the sum in source order divided by the count. */
export function weightedSum(sources: readonly Float32Array[], weights: ArrayLike<number> | null, out: Float32Array): Float32Array {
  const w = weights ? Array.from(weights, fr) : null;
  const term = (j: number, x: number) => (w ? fr(w[j] * x) : x);
  for (let i = 0; i < out.length; i++) {
    let acc = term(0, sources[0][i]);
    for (let j = 1; j < sources.length; j++) acc = fr(acc + term(j, sources[j][i]));
    out[i] = w ? acc : acc / sources.length;
  }
  return out;
}

export function mean(sources: readonly Float32Array[], out: Float32Array): Float32Array {
  return weightedSum(sources, null, out);
}

export function axpy(y: Float32Array, a: number, x: Float32Array): Float32Array {
  const af = fr(a);
  for (let i = 0; i < y.length; i++) y[i] = y[i] + fr(af * x[i]);
  return y;
}

export function scale(x: Float32Array, a: number, out: Float32Array): Float32Array {
  const af = fr(a);
  for (let i = 0; i < x.length; i++) out[i] = af * x[i];
  return out;
}

/** Elements per reduction block (SPIRT_REDUCE_BLOCK) and double lanes per block, as the kernels use them. */
export const REDUCE_BLOCK = 16384;
const REDUCE_LANES = 32;

/** sum over i of a[i] * b[i], or of (a[i] - b[i])^2, in double in the kernels' order: per block of REDUCE_BLOCK,
 * element i in lane i % 32, lanes folded l += l + w for w = 16..1; block sums added in block order from 0. */
function blockedSum(a: Float32Array, b: Float32Array, squaredDiff: boolean): number {
  const lanes = new Float64Array(REDUCE_LANES), n = a.length;
  const term = (i: number) => (squaredDiff ? (a[i] - b[i]) * (a[i] - b[i]) : a[i] * b[i]);
  let total = 0;
  for (let start = 0; start < n; start += REDUCE_BLOCK) {
    lanes.fill(0);
    const end = Math.min(n, start + REDUCE_BLOCK);
    let i = start;
    for (; i + REDUCE_LANES <= end; i += REDUCE_LANES) for (let l = 0; l < REDUCE_LANES; l++) lanes[l] += term(i + l);
    for (let l = 0; i < end; i++, l++) lanes[l] += term(i);
    for (let w = REDUCE_LANES / 2; w >= 1; w /= 2) for (let l = 0; l < w; l++) lanes[l] += lanes[l + w];
    total += lanes[0];
  }
  return total;
}

/** sum a[i] * b[i] in the kernels' order (float products are exact in double). */
export function dot(a: Float32Array, b: Float32Array): number {
  return blockedSum(a, b, false);
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
  if (Number.isFinite(norm) && coef < 1) for (const t of tensors) scale(t, coef, t);
  return norm;
}

type Vector = Float32Array | Float64Array;

export interface SgdReferenceOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  velocity?: Vector;
  /** 1-based step of the momentum buffer: 1 sets it to the gradient (PyTorch's first step); absent: a later step */
  step?: number;
}

/**
 * torch.optim.SGD's update, one operation at a time, each rounded by `round`: Math.fround (the default)
 * gives the kernels' float32 bits; `(x) => x` with Float64Array param and velocity is PyTorch's formula
 * in float64. d = g + wd*p; buf = step 1 ? d : m*buf + (1-dampening)*d; d = nesterov ? d + m*buf : buf;
 * p = p + (-lr)*d. Terms with a zero coefficient are skipped, as the kernels skip them.
 */
export function sgdStep<T extends Vector>(param: T, grad: ArrayLike<number>, o: SgdReferenceOptions & { velocity?: T },
  round: (x: number) => number = fr): T {
  const lr = round(o.lr), mom = round(o.momentum ?? 0), wd = round(o.weightDecay ?? 0);
  const keep = round(1 - round(o.dampening ?? 0)), v = o.velocity, first = o.step === 1;
  for (let i = 0; i < param.length; i++) {
    let d = wd !== 0 ? round(grad[i] + round(wd * param[i])) : grad[i];
    if (mom !== 0 && v) {
      v[i] = first ? d : round(round(mom * v[i]) + round(keep * d));
      d = o.nesterov ? round(d + round(mom * v[i])) : v[i];
    }
    param[i] = round(param[i] + round(-lr * d));
  }
  return param;
}

/** beta^t by square-and-multiply in double, as the kernels compute it (libm pow may differ between machines). */
function power(beta: number, t: number): number {
  let r = 1;
  for (let b = beta, e = t; e > 0; e = Math.floor(e / 2), b *= b) if (e % 2 === 1) r *= b;
  return r;
}

/** The kernels' Adam/AdamW, bit for bit: g += l2*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*(g*g);
 * p = shrink*p - (lr*bc1*m) / (sqrt(v*bc2) + eps), hyperparameters as float32, bias corrections from double. */
export function adamStep(param: Float32Array, grad: Float32Array, state: { m: Float32Array; v: Float32Array }, o: AdamOptions): Float32Array {
  const [lr, b1, b2, eps, wd] = [o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, o.weightDecay ?? 0].map(fr);
  const bc1 = fr(1 / (1 - power(b1, o.step))), bc2 = fr(1 / (1 - power(b2, o.step)));
  const stepSize = fr(lr * bc1), c1 = fr(1 - b1), c2 = fr(1 - b2);
  const l2 = o.decoupled ? 0 : wd, shrink = o.decoupled ? fr(1 - fr(lr * wd)) : 1;
  const { m, v } = state;
  for (let i = 0; i < param.length; i++) {
    const g = l2 !== 0 ? fr(grad[i] + fr(l2 * param[i])) : grad[i];
    m[i] = fr(b1 * m[i]) + fr(c1 * g);
    v[i] = fr(b2 * v[i]) + fr(c2 * fr(g * g));
    const denom = fr(fr(Math.sqrt(fr(v[i] * bc2))) + eps);
    param[i] = fr(shrink * param[i]) - fr(fr(stepSize * m[i]) / denom);
  }
  return param;
}

/** IEEE half from float32 bits, round to nearest even, by integer arithmetic. NaN keeps its sign and top
 * 9 payload bits and becomes quiet, as F16C and NEON converters do. */
export function f32BitsToF16(bits: number): number {
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

export function f32ToF16(x: number): number {
  f32[0] = x;
  return f32BitsToF16(u32[0]);
}

/** float32 bits of a half; NaN keeps sign and payload and becomes quiet. */
export function f16ToF32Bits(h: number): number {
  if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) return (((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13)) >>> 0;
  f32[0] = f16ToF32(h);
  return u32[0];
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 = the upper half of the float32, rounded to nearest even; NaN keeps its top bits and becomes quiet. */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) >>> 0 > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBf16(x: number): number {
  f32[0] = x;
  return f32BitsToBf16(u32[0]);
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** Whole-array conversions on bits, NaN payloads included. */
function narrow(x: Float32Array, out: Uint16Array, convert: (bits: number) => number): Uint16Array {
  bitsOf(x).forEach((b, i) => { out[i] = convert(b); });
  return out;
}
function widen(h: Uint16Array, out: Float32Array, convert: (half: number) => number): Float32Array {
  const bits = bitsOf(out);
  h.forEach((v, i) => { bits[i] = convert(v); });
  return out;
}
export const toFloat16 = (x: Float32Array, out: Uint16Array) => narrow(x, out, f32BitsToF16);
export const fromFloat16 = (h: Uint16Array, out: Float32Array) => widen(h, out, f16ToF32Bits);
export const toBFloat16 = (x: Float32Array, out: Uint16Array) => narrow(x, out, f32BitsToBf16);
export const fromBFloat16 = (h: Uint16Array, out: Float32Array) => widen(h, out, (v) => (v << 16) >>> 0);

/** q = clamp(fround(x / scale), -127, 127) rounded half to even, NaN -> 0; scale taken as its float32 value. */
export function quantizeInt8(x: Float32Array, scale: number, out: Int8Array): Int8Array {
  const s = fr(scale);
  for (let i = 0; i < x.length; i++) {
    const q = fr(x[i] / s);
    out[i] = Number.isNaN(q) ? 0 : roundHalfEven(Math.min(127, Math.max(-127, q)));
  }
  return out;
}

export function dequantizeInt8(q: Int8Array, scale: number, out: Float32Array): Float32Array {
  const s = fr(scale);
  for (let i = 0; i < q.length; i++) out[i] = s * q[i];
  return out;
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Keys that order float32 values as the robust kernels sort them: -0 below +0, every NaN above +Inf. */
function orderKey(x: number): number {
  if (Number.isNaN(x)) return 0x7fc00000;
  f32[0] = x;
  const b = u32[0] | 0;
  return b < 0 ? b ^ 0x7fffffff : b;
}
const byOrderKey = (a: number, b: number) => orderKey(a) - orderKey(b);

/** Coordinate-wise trimmed mean: drop the trim smallest and largest, add the rest ascending, divide by the count. */
export function trimmedMean(sources: readonly Float32Array[], trim: number, out: Float32Array): Float32Array {
  const count = sources.length - 2 * trim;
  if (!(trim >= 0 && count > 0)) throw new RangeError(`trimming ${trim} from each end needs more than ${2 * trim} sources`);
  for (let i = 0; i < out.length; i++) {
    const column = sources.map((s) => s[i]).sort(byOrderKey);
    let acc = column[trim];
    for (let j = trim + 1; j < trim + count; j++) acc = fr(acc + column[j]);
    out[i] = acc / count;
  }
  return out;
}

/** Coordinate-wise median: trimmedMean with trim = floor((count - 1) / 2). */
export function median(sources: readonly Float32Array[], out: Float32Array): Float32Array {
  return trimmedMean(sources, (sources.length - 1) >> 1, out);
}

/** sum (a[i] - b[i])^2 with the difference and square in double, in the kernels' order. */
export function sqDist(a: Float32Array, b: Float32Array): number {
  return blockedSum(a, b, true);
}

/** a before b: smaller first, NaN last */
const ascendingNaNLast = (a: number, b: number) => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : Number.isNaN(b) ? -1 : a - b);

/**
 * Multi-Krum against f Byzantine sources: score = sum of the squared distances to the count - f - 2 nearest
 * others (smallest first); the m lowest scores (NaN highest, ties to the lower index) are averaged with mean().
 * Returns the selected indices, ascending. m = 1 is Krum.
 */
export function krum(sources: readonly Float32Array[], f: number, m: number, out: Float32Array): Uint32Array {
  const count = sources.length;
  if (count < 2 * f + 3 || m < 1 || m > count - f) throw new RangeError(`Krum needs count >= 2f + 3 and 1 <= m <= count - f`);
  const dist = sources.map((a, i) => sources.map((b, j) => (i < j ? sqDist(a, b) : 0)));
  const scores = sources.map((_, i) => sources.map((_, j) => (i < j ? dist[i][j] : dist[j][i])).filter((_, j) => j !== i)
    .sort(ascendingNaNLast).slice(0, count - f - 2).reduce((s, d) => s + d, 0));
  const selected = Uint32Array.from(sources.keys()).sort((a, b) => ascendingNaNLast(scores[a], scores[b]) || a - b)
    .subarray(0, m).sort();
  mean(Array.from(selected, (j) => sources[j]), out);
  return selected;
}

/**
 * Centered clipping: v = center (zeros when null), then each iteration c_j = min(1, tau / |src_j - v|) in float32
 * (0 when the norm is not finite), v += sum_j c_j (src_j - v) / count, terms with c_j = 0 left out.
 */
export function centeredClip(sources: readonly Float32Array[], tau: number, iterations: number, center: Float32Array | null,
  out: Float32Array): Float32Array {
  const t = fr(tau);
  if (center) out.set(center);
  else out.fill(0);
  for (let it = 0; it < iterations; it++) {
    const coef = sources.map((s) => {
      const norm = Math.sqrt(sqDist(s, out));
      return !Number.isFinite(norm) ? 0 : norm > t ? fr(t / norm) : 1;
    });
    const used = sources.map((_, j) => j).filter((j) => coef[j] !== 0);
    if (used.length === 0) continue;
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      let acc = fr(coef[used[0]] * fr(sources[used[0]][i] - v));
      for (const j of used.slice(1)) acc = fr(acc + fr(coef[j] * fr(sources[j][i] - v)));
      out[i] = v + fr(acc / sources.length);
    }
  }
  return out;
}

/** Reference top-k with error feedback: NaN ranks above Inf, equal magnitudes go by ascending index. */
export function topKWithErrorFeedback(grad: Float32Array, k: number, residual: Float32Array) {
  for (let i = 0; i < grad.length; i++) residual[i] = fr(residual[i] + grad[i]);
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
