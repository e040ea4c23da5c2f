// The module's numerics: SGD's first momentum step as PyTorch takes it, and the half-precision mean
// correctly rounded (measured against a float64 reference on random data).
import * as ref from '../../src/reference';
import { rng } from '../random';
import { bytesOf, getF32, serverWithClient, setF32, u16 } from './util';

const s = serverWithClient();

describe('TENSOR.SGD with momentum', () => {
  test('a missing VELOCITY key is the first step: buf = g undampened, then buf = m*buf + (1-d)*g', async () => {
    await setF32(s.r, 'p', [1], Float32Array.of(0));
    await setF32(s.r, 'g', [1], Float32Array.of(1));
    await s.r.del('vel');
    const step = () => s.r.call('TENSOR.SGD', 'p', 'g', 'LR', '1', 'MOMENTUM', '0.9', 'DAMPENING', '0.5', 'VELOCITY', 'vel');
    expect(await step()).toBe('OK');
    expect(Array.from(await getF32(s.r, 'p'))).toEqual([-1]);
    expect(Array.from(await getF32(s.r, 'vel'))).toEqual([1]);
    expect(await step()).toBe('OK');
    const buf = Math.fround(Math.fround(Math.fround(0.9) * 1) + Math.fround(0.5) * 1); // 1.4 in float32 steps
    expect(Array.from(await getF32(s.r, 'vel'))).toEqual([buf]);
    expect(Array.from(await getF32(s.r, 'p'))).toEqual([Math.fround(-1 - buf)]);
    // an existing velocity (a restore, another optimizer's state) continues: no first-step reset
    await setF32(s.r, 'vel', [1], Float32Array.of(2));
    await setF32(s.r, 'p', [1], Float32Array.of(0));
    expect(await step()).toBe('OK');
    expect(Array.from(await getF32(s.r, 'vel'))).toEqual([Math.fround(Math.fround(0.9) * 2 + 0.5)]);
  });

  test('NESTEROV and WEIGHTDECAY on the first step follow PyTorch too', async () => {
    await setF32(s.r, 'p', [2], Float32Array.of(1, -2));
    await setF32(s.r, 'g', [2], Float32Array.of(0.5, 0.25));
    await s.r.del('vel');
    await s.r.call('TENSOR.SGD', 'p', 'g', 'LR', '0.5', 'MOMENTUM', '0.5', 'DAMPENING', '0.5', 'NESTEROV', 'WEIGHTDECAY', '0.5', 'VELOCITY', 'vel');
    // g' = g + wd*p = [1, -0.75]; buf = g'; update g' + m*buf = 1.5*g'; p -= 0.5 * 1.5 * g'
    expect(Array.from(await getF32(s.r, 'vel'))).toEqual([1, -0.75]);
    expect(Array.from(await getF32(s.r, 'p'))).toEqual([1 - 0.75, -2 + 0.5625]);
  });
});

/** Every value of a 16-bit float format, as doubles, sorted, with the bit patterns (NaNs left out). */
function grid(decode: (h: number) => number): { values: Float64Array; bits: Uint16Array } {
  const all: Array<[number, number]> = [];
  for (let h = 0; h < 65536; h++) {
    const v = decode(h);
    if (!Number.isNaN(v) && !(v === 0 && h !== 0)) all.push([v, h]); // one zero: +0
  }
  all.sort((a, b) => a[0] - b[0]);
  return { values: Float64Array.from(all, ([v]) => v), bits: Uint16Array.from(all, ([, h]) => h) };
}

/** The correctly rounded 16-bit value of a double: nearest on the grid, ties to the even bit pattern. */
function roundTo(g: ReturnType<typeof grid>, x: number): number {
  let lo = 0, hi = g.values.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (g.values[mid] <= x) lo = mid;
    else hi = mid;
  }
  const dl = Math.abs(x - g.values[lo]), dh = Math.abs(g.values[hi] - x);
  if (dl !== dh) return dl < dh ? g.bits[lo] : g.bits[hi];
  return (g.bits[lo] & 1) === 0 ? g.bits[lo] : g.bits[hi];
}

describe('TENSOR.AVG of half-precision tensors', () => {
  test.each([
    ['FLOAT16', ref.f16ToF32, ref.f32ToF16],
    ['BFLOAT16', ref.bf16ToF32, ref.f32ToBf16],
  ] as const)('%s: every element is the correctly rounded mean, for 2 to 16 sources', async (dtype, decode, encode) => {
    const g = grid(decode);
    const r = rng(dtype.length);
    const n = 6000;
    const report: string[] = [];
    let wrong = 0;
    for (let count = 2; count <= 16; count++) {
      const srcs = Array.from({ length: count }, () => Uint16Array.from({ length: n }, () => encode((r() * 2 - 1) * 4 ** (r() * 6 - 3))));
      const keys = srcs.map((_, j) => `{h}:s${j}`);
      for (let j = 0; j < count; j++) await s.r.call('TENSOR.SET', keys[j], dtype, 'SHAPE', String(n), 'BLOB', bytesOf(srcs[j]));
      expect(await s.r.call('TENSOR.AVG', '{h}:mean', ...keys)).toBe('OK');
      const got = u16((await s.r.callBuffer('TENSOR.GET', '{h}:mean')) as Buffer);
      let off = 0;
      for (let i = 0; i < n; i++) {
        let sum = 0; // exact: a few dozen bits at most
        for (let j = 0; j < count; j++) sum += decode(srcs[j][i]);
        if (got[i] !== roundTo(g, sum / count)) off++;
      }
      report.push(`n=${count}: ${off}/${n}`);
      wrong += off;
    }
    expect({ dtype, elementsOff: report.join(', ') }).toEqual({ dtype, elementsOff: report.map((x) => x.replace(/: \d+/, ': 0')).join(', ') });
    expect(wrong).toBe(0);
  });

  test('NaN and infinities propagate as IEEE arithmetic does, NaN as the canonical quiet NaN', async () => {
    const h = Uint16Array.of(0x7c00, 0x7c00, 0x7e01, 0x3c00, 0x7bff);
    const k = Uint16Array.of(0xfc00, 0x3c00, 0x3c00, 0x7c01, 0x7bff);
    await s.r.call('TENSOR.SET', '{x}:a', 'FLOAT16', 'SHAPE', '5', 'BLOB', bytesOf(h));
    await s.r.call('TENSOR.SET', '{x}:b', 'FLOAT16', 'SHAPE', '5', 'BLOB', bytesOf(k));
    await s.r.call('TENSOR.AVG', '{x}:m', '{x}:a', '{x}:b');
    // inf-inf, inf, NaN, NaN, the largest half (its double sum does not overflow)
    expect(Array.from(u16((await s.r.callBuffer('TENSOR.GET', '{x}:m')) as Buffer))).toEqual([0x7e00, 0x7c00, 0x7e00, 0x7e00, 0x7bff]);
  });
});
