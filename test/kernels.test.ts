// Every kernel of the SIMD path this process runs, against the plain TS reference. `npm test` runs this
// file once per path the CPU supports (scripts/test-simd-paths.js sets SPIRT_SIMD).
import * as k from '../src/kernels';
import * as ref from '../src/reference';
import { ArgumentError } from '../src/errors';
import { atElementOffset, expectClose, randomF32, rng } from './random';

const SIZES = [0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 4099];
const OFFSETS = [0, 1, 3];
const cases = SIZES.flatMap((n) => OFFSETS.map((off) => [n, off] as const));

describe(`kernels on the ${k.simd.path} path`, () => {
  test('the forced path is the one running', () => {
    if (process.env.SPIRT_SIMD) expect(k.simd.path).toBe(process.env.SPIRT_SIMD);
    expect(k.simd.available).toContain(k.simd.path);
    expect(k.simd.available).toContain('scalar');
  });

  test.each(cases)('mean and weighted sum, n=%i offset=%i', (n, off) => {
    for (const count of [1, 2, 3, 8]) {
      const srcs = Array.from({ length: count }, (_, j) => atElementOffset(randomF32(n, 100 + j + n), off));
      const expected = ref.mean(srcs, new Float32Array(n));
      expectClose(k.mean(srcs), expected, 1e-6, 1e-7, 'mean');
      const weights = Array.from({ length: count }, (_, j) => 0.5 + j);
      expectClose(k.weightedSum(srcs, weights, atElementOffset(new Float32Array(n), off)),
        ref.weightedSum(srcs, weights, new Float32Array(n)), 1e-6, 1e-6, 'weightedSum');
    }
  });

  test('mean may write into one of its sources', () => {
    const a = randomF32(1001, 1), b = randomF32(1001, 2);
    const expected = ref.mean([a, b], new Float32Array(1001));
    expectClose(k.mean([a, b], a), expected, 1e-6, 1e-7);
  });

  test.each(cases)('axpy, scale, dot, l2Norm, maxAbs, n=%i offset=%i', (n, off) => {
    const x = atElementOffset(randomF32(n, 7 + n), off);
    const y = atElementOffset(randomF32(n, 8 + n), off);
    const yRef = Float32Array.from(y);
    expectClose(k.axpy(y, -0.75, x), ref.axpy(yRef, -0.75, x), 1e-6, 1e-6, 'axpy');
    expectClose(k.scale(x, 3.5), ref.scale(x, 3.5, new Float32Array(n)), 1e-7, 0, 'scale');
    const sumAbs = x.reduce((s, v, i) => s + Math.abs(v * y[i]), 0);
    expect(Math.abs(k.dot(x, y) - ref.dot(x, y))).toBeLessThanOrEqual(1e-6 * sumAbs + 1e-12);
    expect(k.l2Norm(x)).toBeCloseTo(ref.l2Norm(x), 5);
    expect(k.maxAbs(x)).toBe(ref.maxAbs(x));
  });

  test.each([0, 1, 3])('large outputs take the streaming-store path, offset=%i', (off) => {
    const n = (1 << 20) + 37; // > 4 MB of float32 output
    const srcs = [atElementOffset(randomF32(n, 1), off), atElementOffset(randomF32(n, 2), off)];
    const out = atElementOffset(new Float32Array(n), off);
    expectClose(k.mean(srcs, out), ref.mean(srcs, new Float32Array(n)), 1e-6, 1e-7, 'mean');
    expectClose(k.scale(srcs[0], 3, out), ref.scale(srcs[0], 3, new Float32Array(n)), 1e-7, 0, 'scale');
    const h = k.toFloat16(srcs[0]);
    expectClose(k.fromFloat16(h, out), Array.from(h, ref.f16ToF32), 0, 0, 'fromFloat16');
    const b = k.toBFloat16(srcs[0]);
    expectClose(k.fromBFloat16(b, out), Array.from(b, ref.bf16ToF32), 0, 0, 'fromBFloat16');
    const q = k.quantizeInt8(srcs[0]);
    expectClose(k.dequantizeInt8(q.values, q.scale, out), ref.dequantizeInt8(q.values, q.scale, new Float32Array(n)), 0, 0, 'dequantize');
  });

  test('long reductions stay accurate (double flush)', () => {
    const n = 3_000_001;
    const ones = new Float32Array(n).fill(1);
    expect(k.dot(ones, ones)).toBe(n);
    const x = randomF32(n, 5);
    expect(Math.abs(k.dot(x, x) - ref.dot(x, x)) / ref.dot(x, x)).toBeLessThan(1e-6);
  });

  test('clipByGlobalNorm scales every tensor together', () => {
    const a = randomF32(33, 1, 10), b = randomF32(100, 2, 10);
    const ra = Float32Array.from(a), rb = Float32Array.from(b);
    const norm = k.clipByGlobalNorm([a, b], 1);
    expect(norm).toBeCloseTo(ref.clipByGlobalNorm([ra, rb], 1), 3);
    expectClose(a, ra, 1e-5, 1e-7);
    expectClose(b, rb, 1e-5, 1e-7);
    expect(Math.sqrt(k.dot(a, a) + k.dot(b, b))).toBeCloseTo(1, 4);
    const small = Float32Array.of(0.1, 0.2);
    k.clipByGlobalNorm([small], 10);
    expect(Array.from(small)).toEqual([Math.fround(0.1), Math.fround(0.2)]);
  });

  test.each(cases)('SGD with momentum, Nesterov, weight decay, n=%i offset=%i', (n, off) => {
    for (const opts of [
      { lr: 0.1 },
      { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
      { lr: 0.01, momentum: 0.9, nesterov: true, dampening: 0 },
      { lr: 0.02, momentum: 0.5, dampening: 0.3, weightDecay: 0.01 },
    ]) {
      const p = atElementOffset(randomF32(n, 1 + n), off), g = atElementOffset(randomF32(n, 2 + n), off);
      const pr = Float32Array.from(p);
      const v = opts.momentum ? atElementOffset(randomF32(n, 3 + n, 0.1), off) : undefined;
      const vr = v ? Float32Array.from(v) : undefined;
      for (let step = 0; step < 3; step++) {
        k.sgdStep(p, g, { ...opts, ...(v ? { velocity: v } : {}) });
        ref.sgdStep(pr, g, { ...opts, ...(vr ? { velocity: vr } : {}) });
      }
      expectClose(p, pr, 1e-5, 1e-6, 'param');
      if (v) expectClose(v, vr!, 1e-5, 1e-6, 'velocity');
    }
  });

  test.each(cases)('Adam and AdamW, bias-corrected, n=%i offset=%i', (n, off) => {
    for (const decoupled of [false, true]) {
      const p = atElementOffset(randomF32(n, 11 + n), off), pr = Float32Array.from(p);
      const state = { m: atElementOffset(new Float32Array(n), off), v: atElementOffset(new Float32Array(n), off) };
      const stateRef = { m: new Float32Array(n), v: new Float32Array(n) };
      for (let step = 1; step <= 4; step++) {
        const g = randomF32(n, 1000 * step + n);
        const opts = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled, step };
        k.adamStep(p, g, state, opts);
        ref.adamStep(pr, g, stateRef, opts);
      }
      expectClose(p, pr, 1e-5, 1e-6, 'param');
      expectClose(state.m, stateRef.m, 1e-5, 1e-7, 'm');
      expectClose(state.v, stateRef.v, 1e-5, 1e-9, 'v');
    }
  });

  test('float16: every half converts to float32 exactly', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f = k.fromFloat16(all);
    for (let i = 0; i < 65536; i++) {
      const e = ref.f16ToF32(i);
      if (Number.isNaN(e)) expect(Number.isNaN(f[i])).toBe(true);
      else expect(f[i]).toBe(e);
    }
  });

  test('float16: float32 -> half rounds to nearest even, including ties, subnormals and overflow', () => {
    const r = rng(3);
    const values: number[] = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e6, -1e6, 5.96e-8, 2.98e-8, 2.9802322e-8, 1e-9, Infinity, -Infinity, NaN];
    for (let h = 0; h < 0x7c00; h += 7) {
      const lo = ref.f16ToF32(h), hi = ref.f16ToF32(h + 1);
      values.push((lo + hi) / 2, -(lo + hi) / 2, lo, hi);
    }
    for (let i = 0; i < 5000; i++) values.push((r() * 2 - 1) * 2 ** Math.floor(r() * 40 - 28));
    for (const off of OFFSETS) {
      const x = atElementOffset(Float32Array.from(values), off);
      const h = k.toFloat16(x);
      for (let i = 0; i < x.length; i++) {
        const e = ref.f32ToF16(x[i]);
        if (Number.isNaN(x[i])) expect(h[i] & 0x7c00).toBe(0x7c00);
        else if (h[i] !== e) throw new Error(`toFloat16(${x[i]}) = ${h[i].toString(16)}, expected ${e.toString(16)}`);
      }
    }
  });

  test('bfloat16: round to nearest even both ways, NaN stays NaN', () => {
    const r = rng(4);
    const values: number[] = [0, -0, 1, -1, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 1.00390625, 1.01171875];
    for (let i = 0; i < 5000; i++) values.push((r() * 2 - 1) * 2 ** Math.floor(r() * 60 - 30));
    const x = Float32Array.from(values);
    const h = k.toBFloat16(x);
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i])) expect(Number.isNaN(ref.bf16ToF32(h[i]))).toBe(true);
      else expect(h[i]).toBe(ref.f32ToBf16(x[i]));
    }
    const back = k.fromBFloat16(h);
    for (let i = 0; i < x.length; i++) expect(Object.is(back[i], ref.bf16ToF32(h[i])) || Number.isNaN(back[i])).toBe(true);
  });

  test.each(cases)('int8 quantize/dequantize, n=%i offset=%i', (n, off) => {
    const x = atElementOffset(randomF32(n, 21 + n, 5), off);
    const { values, scale } = k.quantizeInt8(x);
    expect(Array.from(values)).toEqual(Array.from(ref.quantizeInt8(x, scale, new Int8Array(n))));
    const back = k.dequantizeInt8(values, scale);
    expectClose(back, ref.dequantizeInt8(values, scale, new Float32Array(n)), 0, 0);
    for (let i = 0; i < n; i++) expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual(scale / 2 + 1e-6);
  });

  test('int8 quantize clamps, rounds half to even, maps NaN to 0', () => {
    const x = Float32Array.of(0.5, 1.5, 2.5, -0.5, -1.5, 200, -200, NaN, Infinity, -Infinity, 126.5, 0, 0, 0, 0, 0, 3.5);
    const q = k.quantizeInt8(x, { scale: 1 }).values;
    expect(Array.from(q)).toEqual([0, 2, 2, 0, -2, 127, -127, 0, 127, -127, 126, 0, 0, 0, 0, 0, 4]);
    expect(() => k.quantizeInt8(Float32Array.of(1, NaN))).toThrow(/NaN or Inf/);
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

  test('top-k: ties are broken by index, NaN is sent first, nothing is lost', () => {
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
  });

  test('NaN and Inf propagate through the element-wise kernels', () => {
    const n = 37;
    const x = randomF32(n, 9);
    x[3] = NaN;
    x[20] = Infinity;
    x[33] = -Infinity;
    const m = k.mean([x, randomF32(n, 10)]);
    expect(Number.isNaN(m[3])).toBe(true);
    expect(m[20]).toBe(Infinity);
    expect(m[33]).toBe(-Infinity);
    expect(Number.isNaN(k.dot(x, x))).toBe(true);
    expect(Number.isNaN(k.maxAbs(x))).toBe(true);
    const y = Float32Array.from(x);
    y[3] = 0;
    expect(k.maxAbs(y)).toBe(Infinity);
    const p = new Float32Array(n);
    k.sgdStep(p, x, { lr: 1 });
    expect(Number.isNaN(p[3])).toBe(true);
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
    await k.sgdStepAsync(pa, srcs[2], { lr: 0.1, momentum: 0.9, velocity: va });
    k.sgdStep(pb, srcs[2], { lr: 0.1, momentum: 0.9, velocity: vb });
    expect(Array.from(pa)).toEqual(Array.from(pb));
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
