// Every kernel of the SIMD path this process runs, against the plain TS reference, bit for bit (gemm within
// a tolerance). `npm test` runs this file once per path the CPU supports (scripts/test-simd-paths.js sets
// SPIRT_SIMD), so every path is pinned to the same bytes.
import * as k from '../src/kernels';
import * as ref from '../src/reference';
import { ArgumentError } from '../src/errors';
import { atElementOffset, expectClose, randomF32, rng } from './random';

const SIZES = [0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 4099];
const OFFSETS = [0, 1, 3];
const cases = SIZES.flatMap((n) => OFFSETS.map((off) => [n, off] as const));

const CANONICAL_NAN = 0x7fc00000;
const bitsOf = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
const hex = (b: number) => `0x${b.toString(16).padStart(8, '0')}`;

/** NaN with payloads (quiet, signaling, negative), +-Inf, +-0, subnormals, float16/bfloat16 ties and overflow. */
const SPECIAL_BITS = [0x7fc00000, 0xffc12345, 0x7f800001, 0xff800123, 0x7f800000, 0xff800000, 0, 0x80000000, 1,
  0x807fffff, 0x7f7fffff, 0x477fe000, 0x477ff000, 0x3f801000, 0x33000000, 0x3f808000, 0x3f818000, 0x7f7f8000];

/** Puts a special value at about one element in ten. */
function withSpecials(x: Float32Array, seed: number): Float32Array {
  const bits = bitsOf(x), r = rng(seed);
  for (let i = 0; i < x.length; i++) if (r() < 0.1) bits[i] = SPECIAL_BITS[Math.floor(r() * SPECIAL_BITS.length)];
  return x;
}

/** Arithmetic output against the reference, bit for bit; where the reference is NaN the kernel writes 0x7fc00000. */
function expectExact(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length).toBe(expected.length);
  const a = bitsOf(actual), e = bitsOf(expected);
  for (let i = 0; i < expected.length; i++) {
    const want = Number.isNaN(expected[i]) ? CANONICAL_NAN : e[i];
    if (a[i] !== want) throw new Error(`${what}[${i}]: got ${actual[i]} (${hex(a[i])}), expected ${expected[i]} (${hex(want)})`);
  }
}

/** Same bit patterns, NaN payloads included (conversions). */
function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) throw new Error(`${what}[${i}]: got ${hex(actual[i])}, expected ${hex(expected[i])}`);
  }
}

/** Double results: the same number, or both NaN. */
const expectSameNumber = (actual: number, expected: number) => expect(Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected))).toBe(true);

const specialF32 = (n: number, seed: number, scale = 1) => withSpecials(randomF32(n, seed, scale), seed + 1);

describe(`kernels on the ${k.simd.path} path`, () => {
  test('the forced path is the one running', () => {
    if (process.env.SPIRT_SIMD) expect(k.simd.path).toBe(process.env.SPIRT_SIMD);
    expect(k.simd.available).toContain(k.simd.path);
    expect(k.simd.available).toContain('scalar');
  });

  test.each(cases)('mean and weighted sum, n=%i offset=%i', (n, off) => {
    for (const count of [1, 2, 3, 8]) {
      const srcs = Array.from({ length: count }, (_, j) => atElementOffset(specialF32(n, 100 + j + n), off));
      expectExact(k.mean(srcs), ref.mean(srcs, new Float32Array(n)), 'mean');
      const weights = Array.from({ length: count }, (_, j) => 0.1 + j);
      expectExact(k.weightedSum(srcs, weights, atElementOffset(new Float32Array(n), off)),
        ref.weightedSum(srcs, weights, new Float32Array(n)), 'weightedSum');
    }
  });

  test('mean may write into one of its sources', () => {
    const a = randomF32(1001, 1), b = randomF32(1001, 2);
    const expected = ref.mean([a, b], new Float32Array(1001));
    expectExact(k.mean([a, b], a), expected, 'mean');
  });

  test.each(cases)('axpy, scale, dot, l2Norm, maxAbs, n=%i offset=%i', (n, off) => {
    for (const special of [false, true]) {
      const x = atElementOffset(special ? specialF32(n, 7 + n) : randomF32(n, 7 + n), off);
      const y = atElementOffset(special ? specialF32(n, 8 + n) : randomF32(n, 8 + n), off);
      expectExact(k.axpy(Float32Array.from(y), -0.7, x), ref.axpy(Float32Array.from(y), -0.7, x), 'axpy');
      expectExact(k.scale(x, 3.3), ref.scale(x, 3.3, new Float32Array(n)), 'scale');
      expectSameNumber(k.dot(x, y), ref.dot(x, y));
      expectSameNumber(k.l2Norm(x), ref.l2Norm(x));
      expectSameNumber(k.maxAbs(x), ref.maxAbs(x));
    }
  });

  test.each([0, 1, 3])('large outputs take the streaming-store path, offset=%i', (off) => {
    const n = (1 << 20) + 37; // > 4 MB of float32 output
    const srcs = [atElementOffset(specialF32(n, 1), off), atElementOffset(specialF32(n, 2), off)];
    const out = atElementOffset(new Float32Array(n), off);
    expectExact(k.mean(srcs, out), ref.mean(srcs, new Float32Array(n)), 'mean');
    expectExact(k.scale(srcs[0], 3, out), ref.scale(srcs[0], 3, new Float32Array(n)), 'scale');
    const h = k.toFloat16(srcs[0]);
    expectSameBits(bitsOf(k.fromFloat16(h, out)), bitsOf(ref.fromFloat16(h, new Float32Array(n))), 'fromFloat16');
    const b = k.toBFloat16(srcs[0]);
    expectSameBits(bitsOf(k.fromBFloat16(b, out)), bitsOf(ref.fromBFloat16(b, new Float32Array(n))), 'fromBFloat16');
    const q = k.quantizeInt8(atElementOffset(randomF32(n, 3), off), { scale: 0.01 });
    expectExact(k.dequantizeInt8(q.values, q.scale, out), ref.dequantizeInt8(q.values, q.scale, new Float32Array(n)), 'dequantize');
  });

  test('reductions: exact over many blocks, and a block-wise split adds up to the same bits', () => {
    const n = 3_000_001;
    const ones = new Float32Array(n).fill(1);
    expect(k.dot(ones, ones)).toBe(n);
    const x = randomF32(n, 5), y = randomF32(n, 6);
    expect(k.dot(x, y)).toBe(ref.dot(x, y));
    expect(k.l2Norm(x)).toBe(ref.l2Norm(x));
    // how a caller splitting across threads must combine: one call per block, block sums added in order
    let blocks = 0;
    for (let s = 0; s < n; s += ref.REDUCE_BLOCK) blocks += k.dot(x.subarray(s, s + ref.REDUCE_BLOCK), y.subarray(s, s + ref.REDUCE_BLOCK));
    expect(blocks).toBe(k.dot(x, y));
  });

  test('clipByGlobalNorm scales every tensor together', () => {
    const a = randomF32(33, 1, 10), b = randomF32(100, 2, 10);
    const ra = Float32Array.from(a), rb = Float32Array.from(b);
    expect(k.clipByGlobalNorm([a, b], 1)).toBe(ref.clipByGlobalNorm([ra, rb], 1));
    expectExact(a, ra, 'a');
    expectExact(b, rb, 'b');
    expect(Math.sqrt(k.dot(a, a) + k.dot(b, b))).toBeCloseTo(1, 4);
    const small = Float32Array.of(0.1, 0.2);
    k.clipByGlobalNorm([small], 10);
    expect(Array.from(small)).toEqual([Math.fround(0.1), Math.fround(0.2)]);
  });

  test.each(cases)('SGD with momentum, dampening, Nesterov, weight decay, n=%i offset=%i', (n, off) => {
    for (const opts of [
      { lr: 0.1 },
      { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
      { lr: 0.01, momentum: 0.9, nesterov: true, dampening: 0 },
      { lr: 0.02, momentum: 0.5, dampening: 0.3, weightDecay: 0.01 },
    ]) {
      const p = atElementOffset(specialF32(n, 1 + n), off), g = atElementOffset(specialF32(n, 2 + n), off);
      const pr = Float32Array.from(p);
      const v = opts.momentum ? atElementOffset(randomF32(n, 3 + n, 0.1), off) : undefined;
      const vr = v ? Float32Array.from(v) : undefined;
      for (let step = 1; step <= 3; step++) {
        k.sgdStep(p, g, { ...opts, step, ...(v ? { velocity: v } : {}) });
        ref.sgdStep(pr, g, { ...opts, step, ...(vr ? { velocity: vr } : {}) });
      }
      expectExact(p, pr, 'param');
      if (v) expectExact(v, vr!, 'velocity');
    }
  });

  const SGD_COMBINATIONS = [0, 0.9].flatMap((momentum) => [0, 0.5].flatMap((dampening) => [false, true].flatMap((nesterov) =>
    [0, 0.01].map((weightDecay) => ({ lr: 0.1, momentum, dampening, nesterov, weightDecay }))))).filter((o) => o.momentum > 0 || !o.nesterov);

  test.each(SGD_COMBINATIONS)('SGD follows PyTorch over 10 steps: %p', (opts) => {
    const n = 67, off = 1;
    const p = atElementOffset(randomF32(n, 41), off), p32 = Float32Array.from(p), p64 = Float64Array.from(p);
    // whatever the velocity holds before step 1 is replaced by the gradient
    const v = atElementOffset(randomF32(n, 42), off), v32 = Float32Array.from(v), v64 = new Float64Array(n);
    for (let step = 1; step <= 10; step++) {
      const g = randomF32(n, 100 + step);
      k.sgdStep(p, g, { ...opts, velocity: v, step });
      ref.sgdStep(p32, g, { ...opts, velocity: v32, step });
      ref.sgdStep(p64, g, { ...opts, velocity: v64, step }, (x) => x);
    }
    expectExact(p, p32, 'param against the float32 reference');
    expectClose(p, p64, 1e-5, 1e-6, 'param against PyTorch in float64');
    if (opts.momentum > 0) expectClose(v, v64, 1e-5, 1e-6, 'velocity against PyTorch in float64');
  });

  test('SGD: the first step takes the gradient undampened, as PyTorch does', () => {
    const p = Float32Array.of(0), v = Float32Array.of(123);
    k.sgdStep(p, Float32Array.of(1), { lr: 1, momentum: 0.9, dampening: 0.5, velocity: v, step: 1 });
    expect(p[0]).toBe(-1);
    expect(v[0]).toBe(1);
    k.sgdStep(p, Float32Array.of(1), { lr: 1, momentum: 0.9, dampening: 0.5, velocity: v, step: 2 });
    expect(v[0]).toBe(Math.fround(Math.fround(0.9) + 0.5)); // 0.9 * 1 + 0.5 * 1
    expect(p[0]).toBe(Math.fround(-1 - v[0]));
  });

  test('SGD without dampening needs no step: a zero velocity starts as PyTorch does', () => {
    const n = 33, p = randomF32(n, 51), p64 = Float64Array.from(p), v = new Float32Array(n), v64 = new Float64Array(n);
    for (let step = 1; step <= 10; step++) {
      const g = randomF32(n, 200 + step);
      k.sgdStep(p, g, { lr: 0.1, momentum: 0.9, velocity: v });
      ref.sgdStep(p64, g, { lr: 0.1, momentum: 0.9, velocity: v64, step }, (x) => x);
    }
    expectClose(p, p64, 1e-5, 1e-6, 'param');
  });

  test.each(cases)('Adam and AdamW, bias-corrected, n=%i offset=%i', (n, off) => {
    for (const decoupled of [false, true]) {
      const p = atElementOffset(specialF32(n, 11 + n), off), pr = Float32Array.from(p);
      const state = { m: atElementOffset(new Float32Array(n), off), v: atElementOffset(new Float32Array(n), off) };
      const stateRef = { m: new Float32Array(n), v: new Float32Array(n) };
      for (const step of [1, 2, 3, 4, 1_000_003]) {
        const g = randomF32(n, 1000 * step + n);
        const opts = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled, step };
        k.adamStep(p, g, state, opts);
        ref.adamStep(pr, g, stateRef, opts);
      }
      expectExact(p, pr, 'param');
      expectExact(state.m, stateRef.m, 'm');
      expectExact(state.v, stateRef.v, 'v');
    }
  });

  test('float16: every half converts to float32 exactly, NaN payloads kept and made quiet', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    expectSameBits(bitsOf(k.fromFloat16(all)), bitsOf(ref.fromFloat16(all, new Float32Array(65536))), 'fromFloat16');
    expect(bitsOf(k.fromFloat16(Uint16Array.of(0x7c01, 0xfe00)))[0]).toBe(0x7fc02000);
  });

  test('float16: float32 -> half rounds to nearest even, including ties, subnormals, overflow and NaN payloads', () => {
    const r = rng(3);
    const values: number[] = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e6, -1e6, 5.96e-8, 2.98e-8, 2.9802322e-8, 1e-9, Infinity, -Infinity];
    for (let h = 0; h < 0x7c00; h += 7) {
      const lo = ref.f16ToF32(h), hi = ref.f16ToF32(h + 1);
      values.push((lo + hi) / 2, -(lo + hi) / 2, lo, hi);
    }
    for (let i = 0; i < 5000; i++) values.push((r() * 2 - 1) * 2 ** Math.floor(r() * 40 - 28));
    for (const off of OFFSETS) {
      const x = atElementOffset(withSpecials(Float32Array.from(values), 9), off);
      expectSameBits(k.toFloat16(x), ref.toFloat16(x, new Uint16Array(x.length)), 'toFloat16');
    }
    const nan = new Float32Array(2);
    bitsOf(nan).set([0x7f800001, 0xffc12345]); // signaling with a low payload, negative quiet
    expect(Array.from(k.toFloat16(nan))).toEqual([0x7e00, 0xfe09]);
  });

  test('bfloat16: round to nearest even both ways, NaN payloads kept and made quiet', () => {
    const r = rng(4);
    const values: number[] = [0, -0, 1, -1, 3.4e38, -3.4e38, Infinity, -Infinity, 1.00390625, 1.01171875];
    for (let i = 0; i < 5000; i++) values.push((r() * 2 - 1) * 2 ** Math.floor(r() * 60 - 30));
    for (const off of OFFSETS) {
      const x = atElementOffset(withSpecials(Float32Array.from(values), 10), off);
      const h = k.toBFloat16(x);
      expectSameBits(h, ref.toBFloat16(x, new Uint16Array(x.length)), 'toBFloat16');
      expectSameBits(bitsOf(k.fromBFloat16(h)), bitsOf(ref.fromBFloat16(h, new Float32Array(x.length))), 'fromBFloat16');
    }
    const nan = new Float32Array(1);
    bitsOf(nan)[0] = 0x7f800001;
    expect(k.toBFloat16(nan)[0]).toBe(0x7fc0);
  });

  test.each(cases)('int8 quantize/dequantize, n=%i offset=%i', (n, off) => {
    const x = atElementOffset(randomF32(n, 21 + n, 5), off);
    const { values, scale } = k.quantizeInt8(x);
    expectSameBits(values, ref.quantizeInt8(x, scale, new Int8Array(n)), 'quantize');
    const back = k.dequantizeInt8(values, scale);
    expectExact(back, ref.dequantizeInt8(values, scale, new Float32Array(n)), 'dequantize');
    for (let i = 0; i < n; i++) expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual(scale / 2 + 1e-6);
    const withInf = atElementOffset(randomF32(n, 22 + n, 5), off);
    if (n > 2) withInf[1] = -Infinity;
    expectSameBits(k.quantizeInt8(withInf, { scale: 0.03 }).values, ref.quantizeInt8(withInf, 0.03, new Int8Array(n)), 'explicit scale');
  });

  test('int8 quantize: x / scale rounded half to even, clamped, Inf saturates', () => {
    const x = Float32Array.of(0.5, 1.5, 2.5, -0.5, -1.5, 200, -200, Infinity, -Infinity, 126.5, 0, -0, 0, 0, 0, 0, 3.5);
    const q = k.quantizeInt8(x, { scale: 1 }).values;
    expect(Array.from(q)).toEqual([0, 2, 2, 0, -2, 127, -127, 127, -127, 126, 0, 0, 0, 0, 0, 0, 4]);
    // the float32 quotient decides, where a multiply by the float32 reciprocal would differ:
    // 0.09f / 0.02f = 4.5000005 -> 5 (reciprocal: 4.5 -> 4); 0.21f / 0.14f = 1.5 -> 2 (reciprocal: 1.4999999 -> 1)
    expect(Array.from(k.quantizeInt8(Float32Array.of(0.09, -0.09), { scale: 0.02 }).values)).toEqual([5, -5]);
    expect(Array.from(k.quantizeInt8(Float32Array.of(0.21, -0.21), { scale: 0.14 }).values)).toEqual([2, -2]);
  });

  test('int8 quantize: the scale is used and returned as its float32 value', () => {
    const x = randomF32(50, 23);
    const { values, scale } = k.quantizeInt8(x, { scale: 0.1 });
    expect(scale).toBe(Math.fround(0.1));
    expect(Array.from(values)).toEqual(Array.from(ref.quantizeInt8(x, Math.fround(0.1), new Int8Array(50))));
    const auto = k.quantizeInt8(Float32Array.of(1, -3, 2));
    expect(auto.scale).toBe(Math.fround(3 / 127));
    expect(Array.from(auto.values)).toEqual([42, -127, 85]);
    expect(k.quantizeInt8(new Float32Array(4)).scale).toBe(1);
    // subnormal data still gets a non-zero scale
    const tiny = k.quantizeInt8(Float32Array.of(2 ** -149, -(2 ** -148)));
    expect(tiny.scale).toBe(2 ** -149);
    expect(Array.from(tiny.values)).toEqual([1, -2]);
  });

  test('int8 quantize: NaN throws with a default scale and with an explicit one alike', () => {
    const x = Float32Array.of(1, NaN, -2);
    expect(() => k.quantizeInt8(x)).toThrow(/x holds NaN, which int8 cannot represent/);
    expect(() => k.quantizeInt8(x, { scale: 0.5 })).toThrow(/x holds NaN, which int8 cannot represent/);
    const big = randomF32(100_003, 24);
    big[99_999] = NaN;
    expect(() => k.quantizeInt8(big, { scale: 0.01 })).toThrow(/holds NaN/);
    expect(() => k.quantizeInt8(Float32Array.of(1, Infinity))).toThrow(/finite int8 scale/);
    expect(() => k.quantizeInt8(x, { scale: 1e-50 })).toThrow(/not a positive finite float32/);
    expect(() => k.quantizeInt8(x, { scale: 1e39 })).toThrow(/not a positive finite float32/);
    expect(() => k.quantizeInt8(x, { scale: 0 })).toThrow(/scale must be in/);
  });

  test.each([[0, 0], [1, 1], [17, 5], [1000, 10], [4099, 4099], [4099, 5000]])('top-k with error feedback, n=%i k=%i', (n, kk) => {
    const residual = randomF32(n, 31 + n, 0.01), residualRef = Float32Array.from(residual);
    for (let step = 0; step < 3; step++) {
      const g = randomF32(n, 40 + step + n);
      const got = k.topKWithErrorFeedback(g, kk, residual);
      const want = ref.topKWithErrorFeedback(g, kk, residualRef);
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      expect(Array.from(got.values)).toEqual(Array.from(want.values));
      expect(Array.from(residual)).toEqual(Array.from(residualRef));
    }
  });

  test('top-k: ties are broken by lowest index, NaN is sent first, nothing is lost', () => {
    const g = Float32Array.of(1, -1, 1, NaN, 0.5, -1, -Infinity);
    const residual = new Float32Array(7);
    const { indices, values } = k.topKWithErrorFeedback(g, 4, residual);
    expect(Array.from(indices)).toEqual([0, 1, 3, 6]);
    expect(values[0]).toBe(1);
    expect(Number.isNaN(values[2])).toBe(true);
    expect(values[3]).toBe(-Infinity);
    expect(Array.from(residual)).toEqual([0, 0, 1, 0, 0.5, -1, 0]);
    const ref2 = ref.topKWithErrorFeedback(g, 4, new Float32Array(7));
    expect(Array.from(ref2.indices)).toEqual([0, 1, 3, 6]);
    // k = 1 with NaN and Inf present: NaN goes first
    expect(Array.from(k.topKWithErrorFeedback(g, 1, new Float32Array(7)).indices)).toEqual([3]);
    // more ties than places: the lowest indices win, +0 and -0 tie
    const ties = Float32Array.of(0.5, 2, -2, 0, 2, -0, -2);
    expect(Array.from(k.topKWithErrorFeedback(ties, 2, new Float32Array(7)).indices)).toEqual([1, 2]);
    expect(Array.from(k.topKWithErrorFeedback(ties, 5, new Float32Array(7)).indices)).toEqual([0, 1, 2, 4, 6]);
    expect(Array.from(k.topKWithErrorFeedback(ties, 6, new Float32Array(7)).indices)).toEqual([0, 1, 2, 3, 4, 6]);
  });

  test('NaN and Inf: a NaN result is the canonical NaN, Inf propagates', () => {
    const n = 37;
    const x = randomF32(n, 9);
    bitsOf(x)[3] = 0xffc12345; // negative NaN with a payload
    x[20] = Infinity;
    x[33] = -Infinity;
    const m = k.mean([x, randomF32(n, 10)]);
    expect(bitsOf(m)[3]).toBe(CANONICAL_NAN);
    expect(m[20]).toBe(Infinity);
    expect(m[33]).toBe(-Infinity);
    expect(bitsOf(k.scale(x, 0))[20]).toBe(CANONICAL_NAN); // 0 * Inf
    expect(Number.isNaN(k.dot(x, x))).toBe(true);
    expect(Number.isNaN(k.maxAbs(x))).toBe(true);
    const y = Float32Array.from(x);
    y[3] = 0;
    expect(k.maxAbs(y)).toBe(Infinity);
    const p = new Float32Array(n);
    k.sgdStep(p, x, { lr: 1 });
    expect(bitsOf(p)[3]).toBe(CANONICAL_NAN);
    expect(p[20]).toBe(-Infinity);
    expect(Number.isNaN(k.clipByGlobalNorm([Float32Array.from(x)], 1))).toBe(true);
  });

  test('async variants give the same results as the sync ones, split across threads', async () => {
    const n = 300_001;
    const srcs = [randomF32(n, 1), randomF32(n, 2), randomF32(n, 3)];
    expect(Array.from(await k.meanAsync(srcs))).toEqual(Array.from(k.mean(srcs)));
    expect(Array.from(await k.weightedSumAsync(srcs, [1, 2, 3]))).toEqual(Array.from(k.weightedSum(srcs, [1, 2, 3])));
    const y1 = Float32Array.from(srcs[0]), y2 = Float32Array.from(srcs[0]);
    expect(Array.from(await k.axpyAsync(y1, 2, srcs[1]))).toEqual(Array.from(k.axpy(y2, 2, srcs[1])));
    expect(Array.from(await k.scaleAsync(srcs[0], 0.5))).toEqual(Array.from(k.scale(srcs[0], 0.5)));
    // sums are never split across threads: the same bits
    expect(await k.dotAsync(srcs[0], srcs[1])).toBe(k.dot(srcs[0], srcs[1]));
    expect(await k.l2NormAsync(srcs[0])).toBe(k.l2Norm(srcs[0]));
    expect(await k.maxAbsAsync(srcs[2])).toBe(k.maxAbs(srcs[2]));
    const pa = Float32Array.from(srcs[0]), pb = Float32Array.from(srcs[0]);
    const sa = { m: new Float32Array(n), v: new Float32Array(n) }, sb = { m: new Float32Array(n), v: new Float32Array(n) };
    await k.adamStepAsync(pa, srcs[1], sa, { lr: 0.01, step: 1 });
    k.adamStep(pb, srcs[1], sb, { lr: 0.01, step: 1 });
    expect(Array.from(pa)).toEqual(Array.from(pb));
    const va = new Float32Array(n), vb = new Float32Array(n);
    await k.sgdStepAsync(pa, srcs[2], { lr: 0.1, momentum: 0.9, dampening: 0.5, velocity: va, step: 1 });
    k.sgdStep(pb, srcs[2], { lr: 0.1, momentum: 0.9, dampening: 0.5, velocity: vb, step: 1 });
    expect(Array.from(pa)).toEqual(Array.from(pb));
    expect(Array.from(va)).toEqual(Array.from(srcs[2]));
    expect(Array.from(await k.toFloat16Async(srcs[0]))).toEqual(Array.from(k.toFloat16(srcs[0])));
    expect(Array.from(await k.toBFloat16Async(srcs[0]))).toEqual(Array.from(k.toBFloat16(srcs[0])));
    const h = k.toFloat16(srcs[0]), b = k.toBFloat16(srcs[0]), q = k.quantizeInt8(srcs[0]);
    expect(Array.from(await k.fromFloat16Async(h))).toEqual(Array.from(k.fromFloat16(h)));
    expect(Array.from(await k.fromBFloat16Async(b))).toEqual(Array.from(k.fromBFloat16(b)));
    expect(Array.from(await k.dequantizeInt8Async(q.values, q.scale))).toEqual(Array.from(k.dequantizeInt8(q.values, q.scale)));
  });

  test.each([
    [1, 1, 1], [3, 5, 7], [12, 32, 256], [13, 33, 257], [50, 70, 300], [128, 96, 600], [7, 1000, 3], [0, 5, 5], [5, 5, 0],
  ])('gemm m=%i n=%i k=%i, every transpose, alpha and beta', (m, n, depth) => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const A = randomF32(m * depth, m + 3 * depth), B = randomF32(depth * n, n + 5 * depth), C0 = randomF32(m * n, 77);
      for (const [alpha, beta] of [[1, 0], [0.5, 2]]) {
        const opts = { transA, transB, alpha, beta };
        const got = k.gemm(m, n, depth, A, B, Float32Array.from(C0), opts);
        const want = ref.gemm(m, n, depth, A, B, Float32Array.from(C0), opts);
        expectClose(got, want, 1e-5, 1e-5 * Math.sqrt(depth + 1), `gemm ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
      }
    }
  });

  test('gemmAsync splits rows across threads with the same result', async () => {
    const [m, n, depth] = [333, 129, 77];
    const A = randomF32(m * depth, 1), B = randomF32(depth * n, 2);
    expect(Array.from(await k.gemmAsync(m, n, depth, A, B))).toEqual(Array.from(k.gemm(m, n, depth, A, B)));
    const At = randomF32(depth * m, 3);
    expect(Array.from(await k.gemmAsync(m, n, depth, At, B, undefined, { transA: true })))
      .toEqual(Array.from(k.gemm(m, n, depth, At, B, undefined, { transA: true })));
  });

  test('mismatched or wrong arguments throw clear errors before any work', async () => {
    const a = new Float32Array(4), b = new Float32Array(5);
    expect(() => k.mean([a, b])).toThrow(/sources\[1\] has 5 elements, expected 4/);
    expect(() => k.mean([])).toThrow(ArgumentError);
    expect(() => k.mean([a, [1, 2, 3, 4] as any])).toThrow(/must be a Float32Array, got Array/);
    expect(() => k.weightedSum([a, a], [1])).toThrow(/weights has 1 elements, expected 2/);
    expect(() => k.weightedSum([a], [NaN])).toThrow(/weights\[0\] must be a finite number/);
    expect(() => k.axpy(a, 1, b)).toThrow(/x has 5 elements/);
    expect(() => k.dot(a, b)).toThrow(ArgumentError);
    expect(() => k.scale(a, 2, b)).toThrow(/out has 5 elements/);
    expect(() => k.sgdStep(a, a, { lr: -1 })).toThrow(/lr must be in/);
    expect(() => k.sgdStep(a, a, { lr: 0.1, momentum: 0.9 })).toThrow(/velocity/);
    expect(() => k.sgdStep(a, a, { lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum/);
    expect(() => k.sgdStep(a, a, { lr: 0.1, momentum: 0.9, dampening: 0.1, velocity: a })).toThrow(/needs the 1-based step/);
    expect(() => k.sgdStep(a, a, { lr: 0.1, momentum: 0.9, velocity: a, step: 0 })).toThrow(/step must be an integer >= 1/);
    expect(() => k.sgdStep(a, a, { lr: 0.1, step: 1.5 })).toThrow(/step must be an integer >= 1/);
    expect(() => k.adamStep(a, a, { m: a, v: b }, { lr: 0.1, step: 1 })).toThrow(/state.v has 5 elements/);
    expect(() => k.adamStep(a, a, { m: a, v: a }, { lr: 0.1, step: 0 })).toThrow(/step must be an integer >= 1/);
    expect(() => k.adamStep(a, a, { m: a, v: a }, { lr: 0.1, beta1: 1, step: 1 })).toThrow(/beta1/);
    expect(() => k.toFloat16(a, new Uint16Array(3))).toThrow(/out has 3 elements/);
    expect(() => k.fromFloat16(a as any)).toThrow(/must be a Uint16Array/);
    expect(() => k.dequantizeInt8(new Int8Array(2), 0.1, a)).toThrow(/out has 4 elements/);
    expect(() => k.topKWithErrorFeedback(a, -1, a)).toThrow(/k must be an integer >= 0/);
    expect(() => k.topKWithErrorFeedback(a, 1, b)).toThrow(/residual has 5 elements/);
    expect(() => k.clipByGlobalNorm([a], -1)).toThrow(/maxNorm/);
    await expect(k.meanAsync([a, b])).rejects.toThrow(ArgumentError);
    expect(() => k.gemm(2, 2, 2, a, b)).toThrow(/B has 5 elements, expected 4/);
    expect(() => k.gemm(2, 2, 2, a, a, b)).toThrow(/C has 5 elements, expected 4/);
    expect(() => k.gemm(-1, 2, 2, a, a)).toThrow(/m must be an integer >= 0/);
    await expect(k.adamStepAsync(a, b, { m: a, v: a }, { lr: 0.1, step: 1 })).rejects.toThrow(/grad has 5 elements/);
  });
});

// The oracle TENSOR.AGG is checked against (the C kernels are pinned to it bit for bit by test:native's
// scalar checks and across paths by memcmp): its semantics, on cases small enough to work out by hand.
describe('robust aggregation reference', () => {
  const cols = (...columns: number[][]) => columns[0].map((_, j) => Float32Array.from(columns, (c) => c[j]));

  test('median and trimmed mean order values with -0 below +0 and NaN above +Inf', () => {
    const out = new Float32Array(4);
    ref.median(cols([1, 5, 3], [4, 2, 3], [NaN, 1, 2], [0, -0, -0]), out);
    expect(Array.from(out)).toEqual([3, 3, 2, -0]);
    expect(Object.is(out[3], -0)).toBe(true);
    const even = ref.median(cols([1, 2, 3, 10]), new Float32Array(1));
    expect(even[0]).toBe(2.5);
    expect(ref.trimmedMean(cols([1, 2, 3, 100, -50]), 1, new Float32Array(1))[0]).toBe(2);
    expect(Number.isNaN(ref.trimmedMean(cols([1, NaN, NaN]), 1, new Float32Array(1))[0])).toBe(true);
    expect(() => ref.trimmedMean(cols([1, 2, 3, 4]), 2, new Float32Array(1))).toThrow(/more than 4 sources/);
  });

  test('Krum leaves an outlier out; Multi-Krum averages the m best', () => {
    const near = [[0.1, 0], [0, 0.1], [-0.1, 0], [0, -0.1]], far = [30, -30];
    const sources = [...near.slice(0, 2), far, ...near.slice(2)].map((v) => Float32Array.from(v));
    const out = new Float32Array(2);
    const one = ref.krum(sources, 1, 1, out);
    expect(one).toHaveLength(1);
    expect(one[0]).not.toBe(2);
    expect(Array.from(out)).toEqual(Array.from(sources[one[0]]));
    expect(Array.from(ref.krum(sources, 1, 4, out))).toEqual([0, 1, 3, 4]);
    expect(Array.from(out)).toEqual([0, 0]);
    expect(() => ref.krum(sources, 2, 1, out)).toThrow(/2f \+ 3/);
  });

  test('centered clipping moves the center by the clipped mean difference', () => {
    const sources = [Float32Array.of(10), Float32Array.of(0)];
    // |10 - 0| = 10 > tau = 1: that difference counts a tenth; |0 - 0| = 0 counts fully
    expect(ref.centeredClip(sources, 1, 1, null, new Float32Array(1))[0]).toBe(0.5);
    expect(ref.centeredClip(sources, Infinity, 1, null, new Float32Array(1))[0]).toBe(5);
    expect(ref.centeredClip(sources, 0, 3, Float32Array.of(4), new Float32Array(1))[0]).toBe(4);
    expect(ref.centeredClip([Float32Array.of(NaN), Float32Array.of(2)], Infinity, 1, null, new Float32Array(1))[0]).toBe(1);
  });
});
