// TENSOR.AGG: every rule exact against src/reference.ts (specials, ties, vector tails, half dtypes, accumulators),
// dest among the sources or as the center, the Krum reply, every bad argument an ERR that changes nothing, key
// positions for COMMAND GETKEYS, ACL and Cluster, the same bytes on the scalar path, and the TensorStore method.
// scripts/test-simd-paths.js runs this file again under every other SPIRT_SIMD path.
import { ArgumentError, TensorCommandError } from '../../src/errors';
import { startRedis } from '../../src/redis/launcher';
import * as ref from '../../src/reference';
import { TensorStore } from '../../src/store/tensorStore';
import { SupportedClient } from '../../src/store/transport';
import { rng } from '../random';
import { bytesOf, client, errorOf, expectConsistent, getF32, serverWithClient, setF32, stopChecked, u16 } from './util';

const s = serverWithClient();

/** Values of many magnitudes with ties (a few repeated values) and, when asked, NaN, infinities and signed zeros. */
function values(n: number, seed: number, specials: boolean): Float32Array {
  const r = rng(seed);
  const pool = [0.5, -0.5, 1, 3];
  const v = Float32Array.from({ length: n }, () => (r() < 0.2 ? pool[Math.floor(r() * pool.length)] : (r() * 2 - 1) * 4 ** (r() * 4 - 2)));
  if (specials) for (const x of [NaN, Infinity, -Infinity, -0, 0]) if (r() < 0.5) v[Math.floor(r() * n)] = x;
  return v;
}

async function setSources(prefix: string, sources: Float32Array[]): Promise<string[]> {
  const keys = sources.map((_, j) => `${prefix}:${j}`);
  for (let j = 0; j < sources.length; j++) await setF32(s.r, keys[j], [sources[j].length], sources[j]);
  return keys;
}

/** what the reference gives for a TENSOR.AGG rule and its words */
function reference(rule: string[], sources: Float32Array[], center: Float32Array | null = null): { out: Float32Array; selected?: number[] } {
  const out = new Float32Array(sources[0].length);
  switch (rule[0]) {
    case 'MEAN': return { out: ref.mean(sources, out) };
    case 'MEDIAN': return { out: ref.median(sources, out) };
    case 'TRIMMED': return { out: ref.trimmedMean(sources, Number(rule[1]), out) };
    case 'KRUM': {
      const m = rule[2] === 'MULTI' ? Number(rule[3]) : 1;
      return { out, selected: Array.from(ref.krum(sources, Number(rule[1]), m, out)) };
    }
    default: {
      const iters = rule.indexOf('ITERS') > 0 ? Number(rule[rule.indexOf('ITERS') + 1]) : 1;
      return { out: ref.centeredClip(sources, Math.fround(Number(rule[1])), iters, center, out) };
    }
  }
}

const RULES: Array<{ counts: number[]; words: (count: number) => string[][] }> = [
  { counts: [1, 2, 5], words: () => [['MEAN']] },
  { counts: [1, 2, 3, 4, 5, 8, 9], words: () => [['MEDIAN']] },
  { counts: [3, 5, 8, 9], words: (n) => Array.from({ length: Math.ceil(n / 2) }, (_, k) => ['TRIMMED', String(k)]) },
  {
    counts: [3, 5, 8, 9],
    words: (n) => [['KRUM', '0'], ['KRUM', String((n - 3) >> 1)], ['KRUM', '1', 'MULTI', String(Math.max(1, n - 1 - 1))], ['KRUM', '0', 'MULTI', String(n)]]
      .filter((w) => n >= 2 * Number(w[1]) + 3),
  },
  {
    counts: [1, 3, 8],
    words: () => [['CCLIP', '0.5'], ['CCLIP', '2', 'ITERS', '3'], ['CCLIP', '0'], ['CCLIP', '1e30', 'ITERS', '2'], ['CCLIP', '0.75', 'ITERS', '4', 'CENTER']],
  },
];

describe('every rule is exact against the reference', () => {
  // lengths around the vector widths, the trimmed kernel's 256-element blocks and the module's 4096 chunk
  const LENGTHS = [1, 7, 33, 257, 4099];

  test.each(RULES.map((r) => ({ name: r.words(9)[0][0], ...r })))('$name', async ({ counts, words }) => {
    for (const n of LENGTHS) {
      for (const count of counts) {
        const sources = Array.from({ length: count }, (_, j) => values(n, 1000 * n + 10 * count + j, j % 3 === 1));
        const keys = await setSources('ex', sources);
        const center = values(n, 7, false);
        await setF32(s.r, 'ex:center', [n], center);
        for (const w of words(count)) {
          const args = w[w.length - 1] === 'CENTER' ? [...w, 'ex:center'] : w;
          const reply = await s.r.call('TENSOR.AGG', 'ex:out', ...args, ...keys);
          const want = reference(w, sources, w.includes('CENTER') ? center : null);
          const what = { n, count, args };
          expect({ ...what, reply }).toEqual({ ...what, reply: want.selected ?? 'OK' });
          expect({ ...what, out: Array.from(await getF32(s.r, 'ex:out')) }).toEqual({ ...what, out: Array.from(want.out) });
        }
      }
    }
  });
});

test('MEAN is TENSOR.AVG, float16 and bfloat16 sources and accumulators included', async () => {
  const n = 301;
  for (const [dtype, narrow] of [['FLOAT16', ref.f32ToF16], ['BFLOAT16', ref.f32ToBf16]] as const) {
    const keys = [];
    for (let j = 0; j < 5; j++) {
      keys.push(`mh:${j}`);
      await s.r.call('TENSOR.SET', keys[j], dtype, 'SHAPE', String(n), 'BLOB', bytesOf(Uint16Array.from(values(n, 50 + j, j === 2), narrow)));
    }
    await s.r.call('TENSOR.AVG', 'mh:avg', ...keys);
    await s.r.call('TENSOR.AGG', 'mh:agg', 'MEAN', ...keys);
    expect(await s.r.callBuffer('TENSOR.GET', 'mh:agg')).toEqual(await s.r.callBuffer('TENSOR.GET', 'mh:avg'));
  }
  await setF32(s.r, 'ma:x', [n], values(n, 60, true));
  await setF32(s.r, 'ma:y', [n], values(n, 61, false));
  await s.r.del('ma:acc');
  await s.r.call('TENSOR.ACCUM', 'ma:acc', 'ma:x', 'WEIGHT', '0.3');
  await s.r.call('TENSOR.ACCUM', 'ma:acc', 'ma:y', 'WEIGHT', '0.7');
  await s.r.call('TENSOR.AVG', 'ma:avg', 'ma:acc', 'ma:x', 'ma:y');
  await s.r.call('TENSOR.AGG', 'ma:agg', 'MEAN', 'ma:acc', 'ma:x', 'ma:y');
  expect(await s.r.callBuffer('TENSOR.GET', 'ma:agg')).toEqual(await s.r.callBuffer('TENSOR.GET', 'ma:avg'));
});

test('half sources are aggregated in float32 and rounded once into their dtype', async () => {
  const n = 515;
  for (const [dtype, narrow, widen] of [['FLOAT16', ref.f32ToF16, ref.f16ToF32], ['BFLOAT16', ref.f32ToBf16, ref.bf16ToF32]] as const) {
    const halves = Array.from({ length: 7 }, (_, j) => Uint16Array.from(values(n, 70 + j, j === 3), narrow));
    const keys = halves.map((_, j) => `h:${j}`);
    for (let j = 0; j < 7; j++) await s.r.call('TENSOR.SET', keys[j], dtype, 'SHAPE', String(n), 'BLOB', bytesOf(halves[j]));
    await s.r.call('TENSOR.SET', 'h:center', dtype, 'SHAPE', String(n), 'BLOB', bytesOf(halves[0]));
    const wide = halves.map((h) => Float32Array.from(h, widen));
    for (const w of [['MEDIAN'], ['TRIMMED', '2'], ['KRUM', '2', 'MULTI', '3'], ['CCLIP', '1.5', 'ITERS', '2', 'CENTER']]) {
      const args = w[w.length - 1] === 'CENTER' ? [...w, 'h:center'] : w;
      const reply = await s.r.call('TENSOR.AGG', 'h:out', ...args, ...keys);
      const want = reference(w, wide, w.includes('CENTER') ? wide[0] : null);
      expect(reply).toEqual(want.selected ?? 'OK');
      expect((await s.r.call('TENSOR.GET', 'h:out', 'META')) as unknown[]).toEqual(expect.arrayContaining(['dtype', dtype]));
      const got = u16((await s.r.callBuffer('TENSOR.GET', 'h:out')) as Buffer);
      expect({ dtype, w, got: Array.from(got) }).toEqual({ dtype, w, got: Array.from(want.out, narrow) });
    }
  }
});

test('an accumulator counts as its mean, as a source and as the center', async () => {
  const n = 40;
  const sources = [values(n, 80, false), values(n, 81, false), values(n, 82, true), values(n, 83, false), values(n, 84, false)];
  const keys = await setSources('acc', sources);
  // weight 2: the sum is 2x exactly and its mean x (no -0 among them: 0 + 2 * -0 is +0), so the aggregate must
  // equal the one over the plain tensor
  await s.r.del('acc:a', 'acc:c');
  await s.r.call('TENSOR.ACCUM', 'acc:a', keys[1], 'WEIGHT', '2');
  await s.r.call('TENSOR.ACCUM', 'acc:c', keys[0], 'WEIGHT', '2');
  for (const w of [['MEDIAN'], ['TRIMMED', '1'], ['KRUM', '1'], ['CCLIP', '0.5', 'ITERS', '2', 'CENTER']]) {
    const tail = w.includes('CENTER') ? ['acc:c'] : [];
    const plain = await s.r.call('TENSOR.AGG', 'acc:o1', ...w, ...(tail.length ? [keys[0]] : []), ...keys);
    const withAcc = await s.r.call('TENSOR.AGG', 'acc:o2', ...w, ...tail, keys[0], 'acc:a', ...keys.slice(2));
    expect({ w, reply: withAcc }).toEqual({ w, reply: plain });
    expect({ w, out: await s.r.callBuffer('TENSOR.GET', 'acc:o2') }).toEqual({ w, out: await s.r.callBuffer('TENSOR.GET', 'acc:o1') });
  }
});

test('dest may be a source, the center, or an existing tensor of any kind; VERSION sets its version', async () => {
  const n = 9;
  const sources = Array.from({ length: 5 }, (_, j) => values(n, 90 + j, false));
  const run = async (dest: string, words: string[], keys: string[]) => s.r.call('TENSOR.AGG', dest, ...words, ...keys);
  for (const w of [['MEDIAN'], ['TRIMMED', '1'], ['KRUM', '1', 'MULTI', '2'], ['CCLIP', '0.25', 'ITERS', '3', 'CENTER', 'd:2']]) {
    const keys = await setSources('d', sources);
    const want = reference(w, sources, w.includes('CENTER') ? sources[2] : null).out;
    await run('d:2', w, keys); // dest is a source (and the center, for CCLIP)
    expect({ w, out: Array.from(await getF32(s.r, 'd:2')) }).toEqual({ w, out: Array.from(want) });
    await setF32(s.r, 'd:2', [n], sources[2]);
    await setF32(s.r, 'd:plain', [n], Float32Array.from({ length: n }, () => 42)); // overwritten in place
    await run('d:plain', w, keys);
    expect({ w, out: Array.from(await getF32(s.r, 'd:plain')) }).toEqual({ w, out: Array.from(want) });
    await s.r.call('TENSOR.SET', 'd:other', 'INT8', 'SHAPE', '2', 'BLOB', bytesOf(Int8Array.of(1, 2))); // replaced
    await run('d:other', w, keys);
    expect({ w, out: Array.from(await getF32(s.r, 'd:other')) }).toEqual({ w, out: Array.from(want) });
  }
  // dest as the center but not a source: clipping starts from dest's value, written in place
  const keys = await setSources('d', sources);
  await setF32(s.r, 'd:c', [n], sources[4]);
  await s.r.call('TENSOR.AGG', 'd:c', 'CCLIP', '0.5', 'ITERS', '2', 'CENTER', 'd:c', ...keys.slice(0, 4));
  expect(Array.from(await getF32(s.r, 'd:c'))).toEqual(Array.from(ref.centeredClip(sources.slice(0, 4), 0.5, 2, sources[4], new Float32Array(n))));

  const version = async (key: string) => { const m = (await s.r.call('TENSOR.GET', key, 'META')) as unknown[]; return m[m.indexOf('version') + 1]; };
  await s.r.call('TENSOR.AGG', 'd:v', 'KRUM', '1', 'MULTI', '2', 'VERSION', '17', ...keys);
  expect(await version('d:v')).toBe(17);
  await s.r.call('TENSOR.AGG', 'd:v', 'MEDIAN', ...keys); // a new value: version 0
  expect(await version('d:v')).toBe(0);
  await s.r.call('TENSOR.AGG', 'd:v', 'CCLIP', '1', 'VERSION', '5', 'ITERS', '2', 'CENTER', keys[0], ...keys);
  expect(await version('d:v')).toBe(5);
});

test('Krum replies the selected sources, leaving the outliers out', async () => {
  const near = [[0.1, 0], [0, 0.1], [-0.1, 0], [0, -0.1], [0.05, 0.05]];
  const sources = [near[0], near[1], [30, -30], near[2], [-50, 7], near[3], near[4]].map((v) => Float32Array.from(v));
  const keys = await setSources('k', sources);
  expect(await s.r.call('TENSOR.AGG', 'k:out', 'KRUM', '2', ...keys)).toEqual([6]);
  expect(Array.from(await getF32(s.r, 'k:out'))).toEqual(Array.from(sources[6]));
  expect(await s.r.call('TENSOR.AGG', 'k:out', 'KRUM', '2', 'MULTI', '5', ...keys)).toEqual([0, 1, 3, 5, 6]);
  // ties go to the lower index: three identical sources and two far ones
  const tied = await setSources('kt', [Float32Array.of(1), Float32Array.of(1), Float32Array.of(9), Float32Array.of(1), Float32Array.of(-9)]);
  expect(await s.r.call('TENSOR.AGG', 'k:out', 'KRUM', '1', 'MULTI', '2', ...tied)).toEqual([0, 1]);
  // a NaN source scores NaN and ranks last
  const withNaN = await setSources('kn', [Float32Array.of(NaN, 0), Float32Array.of(1, 1), Float32Array.of(2, 2), Float32Array.of(1, 2), Float32Array.of(2, 1)]);
  expect(await s.r.call('TENSOR.AGG', 'k:out', 'KRUM', '1', 'MULTI', '4', ...withNaN)).toEqual([1, 2, 3, 4]);
});

describe('bad arguments', () => {
  beforeAll(async () => {
    for (let j = 0; j < 5; j++) await setF32(s.r, `b:${j}`, [3], Float32Array.of(j, 2 * j, -j));
    await setF32(s.r, 'b:long', [4], Float32Array.of(1, 2, 3, 4));
    await setF32(s.r, 'b:flat', [1, 3], Float32Array.of(1, 2, 3));
    await s.r.call('TENSOR.SET', 'b:half', 'FLOAT16', 'SHAPE', '3', 'BLOB', bytesOf(Uint16Array.of(0x3c00, 0, 0)));
    await s.r.call('TENSOR.SET', 'b:i8', 'INT8', 'SHAPE', '3', 'BLOB', bytesOf(Int8Array.of(1, 2, 3)));
    await s.r.call('TENSOR.SET', 'b:empty', 'FLOAT32', 'SHAPE', '0', 'BLOB', '');
    await s.r.del('b:acc0');
    await s.r.call('TENSOR.ACCUM', 'b:acc0', 'b:1', 'WEIGHT', '0'); // weight sum 0: no mean
    await s.r.set('b:str', 'not a tensor');
    await setF32(s.r, 'b:dest', [3], Float32Array.of(7, 7, 7));
  });

  const five = ['b:0', 'b:1', 'b:2', 'b:3', 'b:4'];
  const CASES: Array<[string[], RegExp]> = [
    [['FOO', ...five], /^ERR unknown rule/],
    [['MEDIAN'], /^ERR wrong number of arguments/],
    [['TRIMMED', '1'], /^ERR TENSOR.AGG needs at least one source/],
    [['KRUM', '0', 'b:0'], /^ERR KRUM f=0 needs N >= 2f\+3 sources, got 1/],
    [['TRIMMED', '-1', ...five], /^ERR TRIMMED k must be an integer >= 0/],
    [['TRIMMED', '1.5', ...five], /^ERR TRIMMED k must be an integer >= 0/],
    [['TRIMMED', 'x', ...five], /^ERR TRIMMED k must be an integer >= 0/],
    [['TRIMMED', '3', ...five], /^ERR TRIMMED k=3 drops 2k of 5 sources: needs 2k < N/],
    [['TRIMMED', '1', 'b:0', 'b:1'], /^ERR TRIMMED k=1 drops 2k of 2 sources/],
    [['TRIMMED', '9223372036854775807', ...five], /^ERR TRIMMED k=9223372036854775807 drops/],
    [['KRUM', '-1', ...five], /^ERR KRUM f must be an integer >= 0/],
    [['KRUM', '2', ...five], /^ERR KRUM f=2 needs N >= 2f\+3 sources, got 5/],
    [['KRUM', '9223372036854775807', ...five], /^ERR KRUM f=9223372036854775807 needs/],
    [['KRUM', '1', 'MULTI', '0', ...five], /^ERR MULTI must be an integer from 1 to N - f/],
    [['KRUM', '1', 'MULTI', '5', ...five], /^ERR MULTI must be an integer from 1 to N - f = 4/],
    [['KRUM', '1', 'MULTI', 'x', ...five], /^ERR MULTI must be an integer/],
    [['CCLIP', '-1', ...five], /^ERR CCLIP tau must be a finite number >= 0/],
    [['CCLIP', 'inf', ...five], /^ERR CCLIP tau must be a finite number >= 0/],
    [['CCLIP', 'nan', ...five], /^ERR CCLIP tau must be a finite number >= 0/],
    [['CCLIP', '1e39', ...five], /^ERR CCLIP tau must be a finite number >= 0 \(as a float32\)/],
    [['CCLIP', '1e-50', ...five], /^ERR CCLIP tau must be a finite number >= 0 \(as a float32\)/],
    [['CCLIP', 'x', ...five], /^ERR CCLIP tau must be a finite number >= 0/],
    [['CCLIP', '1', 'ITERS', '0', ...five], /^ERR ITERS must be an integer from 1 to 1000/],
    [['CCLIP', '1', 'ITERS', '1001', ...five], /^ERR ITERS must be an integer from 1 to 1000/],
    [['CCLIP', '1', 'CENTER', 'b:missing', ...five], /^ERR CENTER key does not exist/],
    [['CCLIP', '1', 'CENTER', 'b:str', ...five], /^WRONGTYPE/],
    [['CCLIP', '1', 'CENTER', 'b:long', ...five], /^ERR CENTER has a different shape than the sources/],
    [['CCLIP', '1', 'CENTER', 'b:flat', ...five], /^ERR CENTER has a different shape than the sources/],
    [['CCLIP', '1', 'CENTER', 'b:i8', ...five], /^ERR CENTER has dtype INT8/],
    [['CCLIP', '1', 'CENTER', 'b:acc0', ...five], /^ERR CENTER is an empty accumulator/],
    [['MEDIAN', 'VERSION', '-1', ...five], /^ERR VERSION must be an integer from 0/],
    [['MEDIAN', 'VERSION', 'x', ...five], /^ERR VERSION must be an integer from 0/],
    [['MEDIAN', 'b:0', 'b:missing'], /^ERR source 2 does not exist/],
    [['MEDIAN', 'b:str', 'b:0'], /^WRONGTYPE/],
    [['MEDIAN', 'b:0', 'b:long'], /^ERR sources have different shapes/],
    [['MEDIAN', 'b:0', 'b:flat'], /^ERR sources have different shapes/],
    [['MEDIAN', 'b:0', 'b:empty'], /^ERR sources have different shapes/],
    [['MEDIAN', 'b:0', 'b:half'], /^ERR sources have different dtypes/],
    [['MEDIAN', 'b:i8', 'b:i8'], /^ERR source has dtype INT8/],
    [['TRIMMED', '1', 'b:0', 'b:acc0', 'b:1'], /^ERR source is an empty accumulator/],
    [['MEAN', 'b:0', 'b:missing'], /^ERR source 2 does not exist/],
    [['KRUM', '1', 'b:0', 'b:1', 'b:2', 'b:3', 'b:missing'], /^ERR source 5 does not exist/],
    // an option of another rule, or given twice, is read as a source
    [['MEDIAN', 'MULTI', '2', ...five], /^ERR source 1 does not exist/],
    [['KRUM', '1', 'MULTI', '2', 'MULTI', '3', ...five], /^ERR source 1 does not exist/],
  ];

  test.each(CASES.map(([args, re]) => [args.join(' '), args, re] as const))('%s', async (_, args, re) => {
    for (const dest of ['b:dest', 'b:new']) {
      const digest = await s.r.call('DEBUG', 'DIGEST');
      expect(await errorOf(s.r.call('TENSOR.AGG', dest, ...args))).toMatch(re);
      expect(await s.r.call('DEBUG', 'DIGEST')).toBe(digest);
    }
  });

  test('a dest that is not a tensor is WRONGTYPE, and stays', async () => {
    expect(await errorOf(s.r.call('TENSOR.AGG', 'b:str', 'MEDIAN', ...five))).toMatch(/^WRONGTYPE/);
    expect(await s.r.get('b:str')).toBe('not a tensor');
  });
});

describe('key positions', () => {
  const CALLS: Array<[string[], number[]]> = [
    [['d', 'MEAN', 'a', 'b'], [0, 2, 3]],
    [['d', 'MEDIAN', 'VERSION', '3', 'a'], [0, 4]],
    [['d', 'TRIMMED', '1', 'a', 'b', 'c'], [0, 3, 4, 5]],
    [['d', 'KRUM', '0', 'MULTI', '2', 'VERSION', '1', 'a', 'b', 'c'], [0, 7, 8, 9]],
    [['d', 'CCLIP', '1', 'ITERS', '2', 'CENTER', 'c', 'a', 'b'], [0, 6, 7, 8]],
    [['d', 'CCLIP', '1', 'CENTER', 'c', 'a'], [0, 4, 5]],
    // option words already given, or of another rule, are sources
    [['d', 'KRUM', '0', 'MULTI', '1', 'MULTI', 'a', 'b'], [0, 5, 6, 7]],
    [['d', 'MEDIAN', 'CENTER', 'a'], [0, 2, 3]],
    [['d', 'CCLIP', '1', 'VERSION', '0', 'ITERS', '1', 'VERSION', 'a'], [0, 7, 8]],
  ];

  test('COMMAND GETKEYS names dest, the center and every source', async () => {
    for (const [args, positions] of CALLS) {
      expect({ args, keys: await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.AGG', ...args) }).toEqual({ args, keys: positions.map((p) => args[p]) });
    }
  });

  test('COMMAND INFO and DOCS: dest overwritten, sources and center read, found by the command', async () => {
    const [info] = (await s.r.call('COMMAND', 'INFO', 'tensor.agg')) as unknown[][];
    expect(info.slice(0, 2)).toEqual(['tensor.agg', -4]);
    expect(info[2]).toEqual(expect.arrayContaining(['write', 'movablekeys']));
    const specs = (info[8] as unknown[][]).map((spec) => [spec[1], (spec[3] as unknown[])[1]]);
    expect(specs).toEqual([[['OW', 'update'], 'index'], [['RO', 'access', 'incomplete'], 'unknown'], [['RO', 'access', 'incomplete'], 'keyword']]);
    const [, doc] = (await s.r.call('COMMAND', 'DOCS', 'tensor.agg')) as unknown[];
    const text = JSON.stringify(doc);
    for (const word of ['MEAN', 'MEDIAN', 'TRIMMED', 'KRUM', 'CCLIP', 'MULTI', 'ITERS', 'CENTER', 'VERSION']) expect(text).toContain(`"${word}"`);
  });

  test('a user limited to {peer1}:* gets NOPERM for any key outside it, in any key position, and nothing changes', async () => {
    const k = (name: string) => `{peer1}:${name}`;
    for (const name of ['a', 'b', 'c']) await setF32(s.r, k(name), [2], Float32Array.of(name.charCodeAt(0), 1));
    await setF32(s.r, '{peer2}:x', [2], Float32Array.of(3, 4));
    expect(await s.r.call('ACL', 'SETUSER', 'aggpeer', 'reset', 'on', '>pw', '~{peer1}:*', '+tensor.agg')).toBe('OK');
    const u = client(s.redis);
    try {
      await u.call('AUTH', 'aggpeer', 'pw');
      for (const [template, positions] of CALLS) {
        const args = template.map((a, i) => (positions.includes(i) ? k(a) : a));
        for (const position of positions) {
          const digest = await s.r.call('DEBUG', 'DIGEST');
          const outside = args.slice();
          outside[position] = '{peer2}:x';
          expect({ outside, reply: await errorOf(u.call('TENSOR.AGG', ...outside)) }).toEqual({ outside, reply: expect.stringMatching(/^NOPERM/) });
          expect(await s.r.call('DEBUG', 'DIGEST')).toBe(digest);
        }
      }
      await u.call('TENSOR.AGG', k('d'), 'MEDIAN', k('a'), k('b'));
      expect(await s.r.exists(k('d'))).toBe(1);
    } finally {
      u.disconnect();
      await s.r.call('ACL', 'DELUSER', 'aggpeer');
    }
  });

  test('a Redis Cluster refuses sources or a center in another slot (CROSSSLOT), and runs it within one', async () => {
    const node = await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] });
    const r = client(node);
    try {
      await r.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      for (let t = 0; t < 200 && !((await r.call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok'); t++) await new Promise((w) => setTimeout(w, 50));
      const key = (peer: number, name: string) => `{peer${peer}}:${name}`;
      for (const name of ['a', 'b', 'c']) await setF32(r, key(1, name), [2], Float32Array.of(1, name.charCodeAt(0)));
      const keys = [key(1, 'a'), key(1, 'b'), key(1, 'c')];
      expect(await r.call('TENSOR.AGG', key(1, 'd'), 'CCLIP', '1', 'CENTER', key(1, 'a'), ...keys)).toBe('OK');
      expect(await errorOf(r.call('TENSOR.AGG', key(1, 'd'), 'CCLIP', '1', 'CENTER', key(2, 'a'), ...keys))).toMatch(/^CROSSSLOT/);
      expect(await errorOf(r.call('TENSOR.AGG', key(1, 'd'), 'KRUM', '0', 'MULTI', '2', ...keys, key(2, 'e')))).toMatch(/^CROSSSLOT/);
      expect(await errorOf(r.call('TENSOR.AGG', key(2, 'd'), 'MEDIAN', ...keys))).toMatch(/^CROSSSLOT/);
    } finally {
      r.disconnect();
      await stopChecked(node);
    }
  }, 60_000);
});

test('random TENSOR.AGG calls answer OK or an error, leave consistent tensors, and keys are named only among the arguments', async () => {
  const r = rng(4242);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  for (let j = 0; j < 6; j++) await setF32(s.r, `fz:${j}`, [5], values(5, 500 + j, j === 1));
  await setF32(s.r, 'fz:2x', [2, 3], values(6, 510, false));
  await s.r.call('TENSOR.SET', 'fz:h', 'FLOAT16', 'SHAPE', '5', 'BLOB', bytesOf(Uint16Array.of(0x3c00, 0x7e00, 0, 0x8000, 0x7c00)));
  await s.r.call('TENSOR.SET', 'fz:i8', 'INT8', 'SHAPE', '5', 'BLOB', 'abcde');
  await s.r.del('fz:acc');
  await s.r.call('TENSOR.ACCUM', 'fz:acc', 'fz:0', 'WEIGHT', '3');
  await s.r.set('fz:str', 'x');
  const keys = ['fz:0', 'fz:1', 'fz:2', 'fz:3', 'fz:4', 'fz:5', 'fz:2x', 'fz:h', 'fz:i8', 'fz:acc', 'fz:str', 'fz:missing', 'fz:new'];
  const words = ['MEAN', 'MEDIAN', 'TRIMMED', 'KRUM', 'CCLIP', 'MULTI', 'ITERS', 'CENTER', 'VERSION', 'median', 'bogus'];
  const numbers = ['0', '1', '2', '3', '-1', '0.5', '1e30', 'inf', 'nan', '1e-50', '1000', '1001', '9223372036854775807', ''];
  const arg = () => (r() < 0.25 ? pick(words) : r() < 0.5 ? pick(numbers) : pick(keys));
  const calls: string[][] = [];
  for (let i = 0; i < 600; i++) {
    const dest = r() < 0.3 ? pick(keys) : 'fz:out';
    const rule = r() < 0.85 ? pick(['MEAN', 'MEDIAN', 'TRIMMED', 'KRUM', 'CCLIP']) : arg();
    const param = ['TRIMMED', 'KRUM', 'CCLIP'].includes(rule) || r() < 0.1 ? [r() < 0.7 ? pick(['0', '1', '2']) : pick(numbers)] : [];
    const options = Array.from({ length: r() < 0.6 ? 0 : Math.floor(r() * 3) }, () =>
      [pick(['MULTI', 'ITERS', 'CENTER', 'VERSION']), r() < 0.5 ? pick(['1', '2', '3', ...numbers]) : pick(keys)]).flat();
    const sources = Array.from({ length: 1 + Math.floor(r() * 8) }, () => (r() < 0.9 ? pick(keys.slice(0, 6)) : arg()));
    calls.push([dest, rule, ...param, ...options, ...sources]);
  }
  const pipe = s.r.pipeline();
  for (const c of calls) pipe.call('TENSOR.AGG', ...c);
  const results = (await pipe.exec())!;
  expect(results.filter(([e]) => !e).length).toBeGreaterThan(50);
  expect(results.filter(([e]) => e).length).toBeGreaterThan(50);
  for (const [e] of results) if (e) expect(e.message).toMatch(/^(ERR|WRONGTYPE) /);
  expect(await s.r.ping()).toBe('PONG');
  expect(await expectConsistent(s.r)).toBeGreaterThan(0);
  for (const c of calls.slice(0, 150)) {
    const got = await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.AGG', ...c).catch((e: Error) => e.message);
    if (typeof got === 'string') expect(got).toMatch(/^ERR /);
    else for (const k of got as string[]) expect(c).toContain(k);
  }
});

test('the scalar path gives the same bytes for every rule', async () => {
  const scalar = await startRedis({ env: { ...process.env, SPIRT_SIMD: 'scalar' } });
  const r = client(scalar);
  try {
    const n = 10007; // two module chunks, trimmed blocks of 256 and a ragged tail for every vector width
    const sources = Array.from({ length: 8 }, (_, j) => values(n, 200 + j, j % 2 === 0));
    const keys = sources.map((_, j) => `sp:${j}`);
    for (const c of [s.r, r]) for (let j = 0; j < 8; j++) await setF32(c, keys[j], [n], sources[j]);
    for (const w of [['MEAN'], ['MEDIAN'], ['TRIMMED', '3'], ['KRUM', '2', 'MULTI', '3'], ['CCLIP', '3', 'ITERS', '3', 'CENTER', keys[1]]]) {
      const replies = await Promise.all([s.r, r].map((c) => c.call('TENSOR.AGG', 'sp:out', ...w, ...keys)));
      expect({ w, reply: replies[1] }).toEqual({ w, reply: replies[0] });
      const [a, b] = (await Promise.all([s.r, r].map((c) => c.callBuffer('TENSOR.GET', 'sp:out')))) as Buffer[];
      expect({ w, same: a.equals(b) }).toEqual({ w, same: true });
    }
  } finally {
    r.disconnect();
    await stopChecked(scalar);
  }
}, 120_000);

describe('TensorStore.agg', () => {
  let store: TensorStore;
  beforeAll(() => {
    store = new TensorStore(s.r as unknown as SupportedClient);
  });

  test('each rule, with sources named like the options, and in a pipeline', async () => {
    const sources = Array.from({ length: 5 }, (_, j) => values(6, 300 + j, false));
    const keys = ['MULTI', 'VERSION', 'ITERS', 'TRIMMED', 'ts:4'];
    for (let j = 0; j < 5; j++) await setF32(s.r, keys[j], [6], sources[j]);
    await setF32(s.r, 'ts:c', [6], sources[4]);
    const expectOut = async (want: Float32Array) => expect(Array.from(await getF32(s.r, 'ts:out'))).toEqual(Array.from(want));
    expect(await store.agg('ts:out', 'mean', keys)).toBeNull();
    await expectOut(ref.mean(sources, new Float32Array(6)));
    expect(await store.agg('ts:out', 'median', keys, { version: 4 })).toBeNull();
    await expectOut(ref.median(sources, new Float32Array(6)));
    expect(await store.agg('ts:out', 'trimmed', keys, { trim: 2 })).toBeNull();
    await expectOut(ref.trimmedMean(sources, 2, new Float32Array(6)));
    const out = new Float32Array(6);
    expect(await store.agg('ts:out', 'krum', keys, { f: 1, multi: 2 })).toEqual(Array.from(ref.krum(sources, 1, 2, out)));
    await expectOut(out);
    expect(await store.agg('ts:out', 'cclip', keys, { tau: 0.5, iterations: 3, centerKey: 'ts:c' })).toBeNull();
    await expectOut(ref.centeredClip(sources, 0.5, 3, sources[4], new Float32Array(6)));
    expect(await store.agg('ts:out', 'cclip', keys, { tau: 0.5 })).toBeNull();
    await expectOut(ref.centeredClip(sources, 0.5, 1, null, new Float32Array(6)));
    const results = await store.pipeline().agg('ts:p1', 'krum', keys, { f: 1 }).agg('ts:p2', 'median', keys).agg('ts:p3', 'median', ['ts:missing']).exec();
    expect(results.slice(0, 2)).toEqual([Array.from(ref.krum(sources, 1, 1, out)), null]);
    expect(results[2]).toBeInstanceOf(TensorCommandError);
    expect((results[2] as Error).message).toMatch(/source 1 does not exist/);
  });

  test('bad options are ArgumentErrors before anything is sent', async () => {
    const five = ['a', 'b', 'c', 'd', 'e'];
    const bad: Array<[() => Promise<unknown>, RegExp]> = [
      [() => store.agg('x', 'median', []), /at least one source/],
      [() => store.agg('x', 'trimmed', five, { trim: 3 }), /trimming 3 from each end needs more than 6 sources, got 5/],
      [() => store.agg('x', 'trimmed', five, { trim: -1 }), /trim must be an integer >= 0/],
      [() => store.agg('x', 'krum', five, { f: 2 }), /needs at least 7 sources, got 5/],
      [() => store.agg('x', 'krum', five, { f: 1, multi: 5 }), /multi must be at most sources - f = 4/],
      [() => store.agg('x', 'krum', five, { f: 1, multi: 0 }), /multi must be an integer >= 1/],
      [() => store.agg('x', 'cclip', five, { tau: -1 }), /tau must be in/],
      [() => store.agg('x', 'cclip', five, { tau: Infinity }), /tau must be a finite number/],
      [() => store.agg('x', 'cclip', five, { tau: 1, iterations: 1001 }), /iterations must be at most 1000/],
      [() => store.agg('x', 'cclip', ['center', 'b'], { tau: 1 }), /first source named CENTER/],
      [() => store.agg('x', 'mean', five, { version: -1 }), /version must be an integer >= 0/],
      [() => store.agg('x', 'nope' as 'mean', five), /unknown aggregation rule nope/],
    ];
    for (const [call, re] of bad) {
      const e = await call().catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ArgumentError);
      expect((e as Error).message).toMatch(re);
    }
  });
});
