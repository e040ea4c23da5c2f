// TENSOR.* commands against the TS reference on a real redis-server with the module loaded.
import * as ref from '../../src/reference';
import { encodeTensor, decodeTensor } from '../../src/wire';
import { tensor } from '../../src/tensor';
import { expectClose, randomF32 } from '../random';
import { bytesOf, client, errorOf, getF32, serverWithClient, setF32, u16 } from './util';

const s = serverWithClient();

describe('TENSOR.SET / TENSOR.GET', () => {
  const dtypes: Array<[string, ArrayBufferView]> = [
    ['FLOAT32', Float32Array.of(1.5, -2, 3, 4, 5, 6)],
    ['FLOAT64', Float64Array.of(Math.PI, 2, 3, 4, 5, 6)],
    ['FLOAT16', Uint16Array.of(0x3c00, 2, 3, 4, 5, 6)],
    ['BFLOAT16', Uint16Array.of(0x3f80, 2, 3, 4, 5, 6)],
    ['INT8', Int8Array.of(-128, 127, 0, 1, 2, 3)],
    ['INT32', Int32Array.of(-(2 ** 31), 2 ** 31 - 1, 0, 1, 2, 3)],
  ];
  test.each(dtypes)('%s round-trips bytes and metadata', async (dtype, values) => {
    expect(await s.r.call('TENSOR.SET', `t:${dtype}`, dtype.toLowerCase(), 'SHAPE', '2', '3', 'BLOB', bytesOf(values))).toBe('OK');
    expect(await s.r.callBuffer('TENSOR.GET', `t:${dtype}`, 'BLOB')).toEqual(bytesOf(values));
    expect(await s.r.callBuffer('TENSOR.GET', `t:${dtype}`)).toEqual(bytesOf(values));
    expect(await s.r.call('TENSOR.GET', `t:${dtype}`, 'META')).toEqual(['dtype', dtype, 'shape', [2, 3], 'version', 0]);
    const proto = (await s.r.callBuffer('TENSOR.GET', `t:${dtype}`, 'PROTO')) as Buffer;
    const t = decodeTensor(proto);
    expect(t.dtype).toBe(dtype.toLowerCase());
    expect(t.shape).toEqual([2, 3]);
    expect(bytesOf(t.data)).toEqual(bytesOf(values));
  });

  test('PROTO in equals BLOB in; scalars and empty tensors work', async () => {
    const t = tensor('float32', [4, 1], Float32Array.of(1, 2, 3, 4));
    expect(await s.r.call('TENSOR.SET', 'p', 'PROTO', Buffer.from(encodeTensor(t)))).toBe('OK');
    expect(Array.from(await getF32(s.r, 'p'))).toEqual([1, 2, 3, 4]);
    expect(await s.r.call('TENSOR.GET', 'p', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [4, 1], 'version', 0]);
    expect(await s.r.call('TENSOR.SET', 'scalar', 'FLOAT32', 'SHAPE', 'BLOB', bytesOf(Float32Array.of(7)))).toBe('OK');
    expect(await s.r.call('TENSOR.GET', 'scalar', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [], 'version', 0]);
    expect(await s.r.call('TENSOR.SET', 'empty', 'INT32', 'SHAPE', '0', '5', 'BLOB', '')).toBe('OK');
    expect(await s.r.callBuffer('TENSOR.GET', 'empty')).toEqual(Buffer.alloc(0));
  });

  test('GET of a missing key is nil; TYPE names the module type', async () => {
    expect(await s.r.call('TENSOR.GET', 'nope')).toBeNull();
    await setF32(s.r, 'typed', [1], Float32Array.of(1));
    expect(await s.r.type('typed')).toBe('spirt-tsr');
  });

  test('SET errors leave the old value untouched', async () => {
    await setF32(s.r, 'keep', [2], Float32Array.of(1, 2));
    const errors: Array<[string[], RegExp]> = [
      [['TENSOR.SET', 'keep', 'FLOAT33', 'SHAPE', '2', 'BLOB', 'xxxxxxxx'], /ERR unknown dtype/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPES', '2', 'BLOB', 'xxxxxxxx'], /ERR expected SHAPE/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '2', 'BLOB', 'xxxxxxx'], /ERR BLOB length does not match/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '-2', 'BLOB', 'xxxxxxxx'], /ERR dimensions must be non-negative integers/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '2.5', 'BLOB', 'xxxxxxxx'], /ERR dimensions must be non-negative integers/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '1', '1', '1', '1', '1', '1', '1', '1', '1', 'BLOB', 'xxxx'], /ERR too many dimensions/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '4294967296', '4294967296', 'BLOB', 'x'], /ERR tensor too large/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '2', 'xxxxxxxx'], /ERR dimensions must be non-negative integers/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '2', 'BLOB'], /ERR expected BLOB followed by the data/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '2', 'BLOB', 'xxxxxxxx', 'VERSION'], /ERR VERSION needs a value/],
      [['TENSOR.SET', 'keep', 'FLOAT32', 'SHAPE', '2', 'BLOB', 'xxxxxxxx', 'VERSION', '-1'], /ERR VERSION must be an integer from 0/],
      [['TENSOR.SET', 'keep', 'PROTO', 'abc', 'extra'], /ERR syntax error: 'extra' is not an option here \(VERSION\)/],
      [['TENSOR.SET', 'keep', 'PROTO'], /wrong number of arguments/],
      [['TENSOR.SET', 'keep', 'PROTO', '\x08'], /ERR PROTO payload is truncated or malformed/],
    ];
    for (const [args, msg] of errors) {
      expect(await errorOf(s.r.call(args[0], ...args.slice(1)))).toMatch(msg);
    }
    expect(Array.from(await getF32(s.r, 'keep'))).toEqual([1, 2]);
  });

  test('PROTO payloads are parsed with strict checks', async () => {
    const good = Buffer.from(encodeTensor(tensor('float32', [2], Float32Array.of(1, 2))));
    const cases: Array<[Buffer, RegExp]> = [
      [good.subarray(0, good.length - 1), /truncated or malformed/],
      [Buffer.from([0x08, 0x09, 0x12, 0x01, 0x02, 0x1a, 0x08, ...Buffer.alloc(8)]), /unknown dtype/],
      [Buffer.from([0x12, 0x01, 0x02, 0x1a, 0x08, ...Buffer.alloc(8)]), /unknown dtype/],
      [Buffer.from([0x08, 0x01, 0x12, 0x01, 0x03, 0x1a, 0x08, ...Buffer.alloc(8)]), /data length does not match/],
      [Buffer.from([0x08, 0x01, 0x12, 0x0a, ...Buffer.from('ffffffffffffffffff01', 'hex'), 0x1a, 0x00]), /negative dimension/],
      [Buffer.from([0x08, 0x01, 0x0e, 0x1a, 0x00]), /unsupported wire type/],
      [Buffer.from([0x08, 0x01, 0x0b, 0x1a, 0x00]), /truncated or malformed/], // a group that never ends
      [Buffer.from([0x08, 0x01, 0x1a, 0x7f, 0x00]), /truncated or malformed/],
      [Buffer.from([0x08, ...Buffer.alloc(11, 0xff)]), /truncated or malformed/],
      [Buffer.from([0x00, 0x01]), /field number 0/],
      [Buffer.from([0x08, 0x01, 0x12, 0x09, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x1a, 0x04, 0, 0, 0, 0]), /too many dimensions/],
    ];
    for (const [payload, msg] of cases) expect(await errorOf(s.r.call('TENSOR.SET', 'pp', 'PROTO', payload))).toMatch(msg);
    expect(await s.r.exists('pp')).toBe(0);
    // unknown fields are skipped, as protobuf requires
    const withUnknown = Buffer.concat([Buffer.from([0x20, 0x05, 0x2d, 1, 2, 3, 4, 0x31, ...Buffer.alloc(8)]), good]);
    expect(await s.r.call('TENSOR.SET', 'pp', 'PROTO', withUnknown)).toBe('OK');
    expect(Array.from(await getF32(s.r, 'pp'))).toEqual([1, 2]);
  });

  test('GET options and errors', async () => {
    await setF32(s.r, 'g', [1], Float32Array.of(1));
    expect(await errorOf(s.r.call('TENSOR.GET', 'g', 'JSON'))).toMatch(/ERR syntax error: 'JSON' is not an option here \(META, BLOB, PROTO, MEAN\)/);
    expect(await errorOf(s.r.call('TENSOR.GET', 'g', 'META', 'PROTO'))).toMatch(/ERR META and PROTO exclude each other/);
    expect(await errorOf(s.r.call('TENSOR.GET', 'g', 'BLOB', 'BLOB'))).toMatch(/ERR BLOB is given more than once/);
    expect(await errorOf(s.r.call('TENSOR.GET', 'g', 'MEAN'))).toMatch(/ERR MEAN applies to accumulators only/);
    expect(await errorOf(s.r.call('TENSOR.GET'))).toMatch(/wrong number of arguments/);
    await s.r.set('str', 'x');
    expect(await errorOf(s.r.call('TENSOR.GET', 'str'))).toMatch(/^WRONGTYPE/);
    expect(await errorOf(s.r.call('TENSOR.SET', 'str', 'FLOAT32', 'SHAPE', '1', 'BLOB', 'xxxx'))).toMatch(/^WRONGTYPE/);
    expect(await s.r.get('str')).toBe('x');
  });
});

describe('TENSOR.AVG', () => {
  test.each([1, 2, 3, 8])('mean of %i float32 tensors matches the reference', async (count) => {
    const n = 1031;
    const srcs = Array.from({ length: count }, (_, j) => randomF32(n, 50 + j));
    for (let j = 0; j < count; j++) await setF32(s.r, `{avg}:g${j}`, [n], srcs[j]);
    expect(await s.r.call('TENSOR.AVG', '{avg}:mean', ...srcs.map((_, j) => `{avg}:g${j}`))).toBe('OK');
    expectClose(await getF32(s.r, '{avg}:mean'), ref.mean(srcs, new Float32Array(n)), 1e-6, 1e-7);
    expect(await s.r.call('TENSOR.GET', '{avg}:mean', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [n], 'version', 0]);
  });

  test.each([['FLOAT16', ref.f32ToF16, ref.f16ToF32], ['BFLOAT16', ref.f32ToBf16, ref.bf16ToF32]] as const)(
    '%s tensors are averaged with float32 accumulation', async (dtype, enc, dec) => {
      const n = 5000;
      const srcs = [randomF32(n, 1), randomF32(n, 2), randomF32(n, 3)].map((a) => Uint16Array.from(a, enc));
      for (let j = 0; j < 3; j++) await s.r.call('TENSOR.SET', `h${j}`, dtype, 'SHAPE', String(n), 'BLOB', bytesOf(srcs[j]));
      expect(await s.r.call('TENSOR.AVG', 'hmean', 'h0', 'h1', 'h2')).toBe('OK');
      expect(await s.r.call('TENSOR.GET', 'hmean', 'META')).toEqual(['dtype', dtype, 'shape', [n], 'version', 0]);
      const got = Array.from(u16((await s.r.callBuffer('TENSOR.GET', 'hmean')) as Buffer), dec);
      const want = ref.mean(srcs.map((h) => Float32Array.from(h, dec)), new Float32Array(n));
      expectClose(got, Array.from(want, (v) => dec(enc(v))), dtype === 'FLOAT16' ? 1e-3 : 8e-3, 1e-7);
    });

  test('dest may be one of the sources; an accumulator source counts as its mean', async () => {
    await setF32(s.r, 'a', [3], Float32Array.of(1, 2, 3));
    await setF32(s.r, 'b', [3], Float32Array.of(3, 4, 5));
    await s.r.call('TENSOR.AVG', 'a', 'a', 'b');
    expect(Array.from(await getF32(s.r, 'a'))).toEqual([2, 3, 4]);
    await s.r.del('acc');
    await s.r.call('TENSOR.ACCUM', 'acc', 'b', 'WEIGHT', '2');
    await s.r.call('TENSOR.AVG', 'c', 'a', 'acc');
    expect(Array.from(await getF32(s.r, 'c'))).toEqual([2.5, 3.5, 4.5]);
  });

  test('errors leave dest untouched', async () => {
    await setF32(s.r, 'x3', [3], Float32Array.of(1, 2, 3));
    await setF32(s.r, 'x2', [2], Float32Array.of(1, 2));
    await setF32(s.r, 'x31', [3, 1], Float32Array.of(1, 2, 3));
    await s.r.call('TENSOR.SET', 'i3', 'INT32', 'SHAPE', '3', 'BLOB', bytesOf(Int32Array.of(1, 2, 3)));
    await s.r.call('TENSOR.SET', 'h3', 'FLOAT16', 'SHAPE', '3', 'BLOB', bytesOf(Uint16Array.of(1, 2, 3)));
    await setF32(s.r, 'dest', [1], Float32Array.of(42));
    await s.r.set('str', 'x');
    const cases: Array<[string[], RegExp]> = [
      [['dest', 'x3', 'x2'], /ERR sources have different shapes/],
      [['dest', 'x3', 'x31'], /ERR sources have different shapes/],
      [['dest', 'x3', 'h3'], /ERR sources have different dtypes/],
      [['dest', 'i3', 'i3'], /ERR source has dtype INT32; only FLOAT32, FLOAT16 and BFLOAT16/],
      [['dest', 'x3', 'missing'], /ERR source 2 does not exist/],
      [['dest', 'x3', 'str'], /^WRONGTYPE/],
      [['str', 'x3'], /^WRONGTYPE/],
      [['dest'], /wrong number of arguments/],
    ];
    for (const [args, msg] of cases) expect(await errorOf(s.r.call('TENSOR.AVG', ...args))).toMatch(msg);
    expect(Array.from(await getF32(s.r, 'dest'))).toEqual([42]);
  });
});

describe('TENSOR.ACCUM', () => {
  test('streams a weighted sum with a count; GET MEAN returns the weighted mean', async () => {
    const n = 777;
    const g = [randomF32(n, 1), randomF32(n, 2), randomF32(n, 3)];
    const w = [1, 2, 0.5];
    for (let j = 0; j < 3; j++) await setF32(s.r, `ag${j}`, [n], g[j]);
    await s.r.del('accum');
    for (let j = 0; j < 3; j++) {
      const args = w[j] === 1 ? [] : ['WEIGHT', String(w[j])];
      expect(await s.r.call('TENSOR.ACCUM', 'accum', `ag${j}`, ...args)).toBe(j + 1);
    }
    const meta = (await s.r.call('TENSOR.GET', 'accum', 'META')) as unknown[];
    expect(meta.slice(0, 6)).toEqual(['dtype', 'FLOAT32', 'shape', [n], 'count', 3]);
    expect(Number(meta[7])).toBe(3.5);
    const sum = new Float32Array(n);
    for (let j = 0; j < 3; j++) ref.axpy(sum, w[j], g[j]);
    expectClose(await getF32(s.r, 'accum'), sum, 1e-6, 1e-6);
    expectClose(await getF32(s.r, 'accum', 'MEAN'), ref.scale(sum, 1 / 3.5, new Float32Array(n)), 1e-6, 1e-6);
    const proto = decodeTensor((await s.r.callBuffer('TENSOR.GET', 'accum', 'PROTO', 'MEAN')) as Buffer);
    expectClose(proto.data as Float32Array, ref.scale(sum, 1 / 3.5, new Float32Array(n)), 1e-6, 1e-6);
  });

  test('float16 sources accumulate into a float32 accumulator', async () => {
    await s.r.call('TENSOR.SET', 'h', 'FLOAT16', 'SHAPE', '2', 'BLOB', bytesOf(Uint16Array.of(0x3c00, 0xc000)));
    await s.r.del('hacc');
    await s.r.call('TENSOR.ACCUM', 'hacc', 'h');
    await s.r.call('TENSOR.ACCUM', 'hacc', 'h', 'WEIGHT', '3');
    expect(Array.from(await getF32(s.r, 'hacc'))).toEqual([4, -8]);
    expect(Array.from(await getF32(s.r, 'hacc', 'MEAN'))).toEqual([1, -2]);
  });

  test('errors', async () => {
    await setF32(s.r, 'v2', [2], Float32Array.of(1, 2));
    await setF32(s.r, 'v3', [3], Float32Array.of(1, 2, 3));
    await s.r.del('acc2');
    await s.r.call('TENSOR.ACCUM', 'acc2', 'v2');
    await s.r.call('TENSOR.SET', 'i2', 'INT8', 'SHAPE', '2', 'BLOB', 'ab');
    const cases: Array<[string[], RegExp]> = [
      [['acc2', 'v3'], /ERR source shape does not match the accumulator/],
      [['v3', 'v3'], /ERR accumulator and source must be different keys/],
      [['v2', 'v3'], /ERR destination holds a plain tensor, not an accumulator/],
      [['acc2', 'missing'], /ERR source key does not exist/],
      [['acc2', 'i2'], /ERR source has dtype INT8/],
      [['acc2', 'v2', 'WEIGHT', 'nan'], /ERR expected WEIGHT followed by a finite number/],
      [['acc2', 'v2', 'WEIGHT', 'inf'], /ERR expected WEIGHT followed by a finite number/],
      [['acc2', 'v2', 'WEIGHTS', '1'], /ERR syntax error: 'WEIGHTS' is not an option here \(WEIGHT, VERSION\)/],
      [['acc2', 'v2', 'WEIGHT'], /ERR WEIGHT needs a value/],
      [['acc2'], /wrong number of arguments/],
    ];
    for (const [args, msg] of cases) expect(await errorOf(s.r.call('TENSOR.ACCUM', ...args))).toMatch(msg);
    expect(Array.from(await getF32(s.r, 'acc2'))).toEqual([1, 2]);
    expect(((await s.r.call('TENSOR.GET', 'acc2', 'META')) as unknown[])[5]).toBe(1);
    await s.r.del('zero');
    await s.r.call('TENSOR.ACCUM', 'zero', 'v2', 'WEIGHT', '0');
    expect(await errorOf(s.r.call('TENSOR.GET', 'zero', 'MEAN'))).toMatch(/ERR accumulator is empty/);
  });
});

describe('TENSOR.SGD', () => {
  const n = 1000;
  test.each([
    ['plain', {}, []],
    ['momentum', { momentum: 0.9 }, ['MOMENTUM', '0.9', 'VELOCITY', 'sgd:v']],
    ['nesterov + weight decay + dampening', { momentum: 0.8, nesterov: true, weightDecay: 0.01, dampening: 0 },
      ['MOMENTUM', '0.8', 'VELOCITY', 'sgd:v', 'NESTEROV', 'WEIGHTDECAY', '0.01', 'DAMPENING', '0']],
  ] as const)('%s matches the reference over 3 steps', async (_name, opts, args) => {
    const p0 = randomF32(n, 7);
    await setF32(s.r, 'sgd:p', [n], p0);
    await s.r.del('sgd:v');
    const pr = Float32Array.from(p0), vr = new Float32Array(n);
    for (let step = 0; step < 3; step++) {
      const g = randomF32(n, 100 + step);
      await setF32(s.r, 'sgd:g', [n], g);
      expect(await s.r.call('TENSOR.SGD', 'sgd:p', 'sgd:g', 'LR', '0.05', ...args)).toBe('OK');
      ref.sgdStep(pr, g, { lr: 0.05, ...opts, velocity: vr });
    }
    expectClose(await getF32(s.r, 'sgd:p'), pr, 1e-5, 1e-6);
    if ('momentum' in opts) expectClose(await getF32(s.r, 'sgd:v'), vr, 1e-5, 1e-6);
  });

  test('an accumulator gradient applies its mean; float16 gradients are widened', async () => {
    await setF32(s.r, 'p', [2], Float32Array.of(1, 1));
    await setF32(s.r, 'g', [2], Float32Array.of(2, 4));
    await s.r.del('gacc');
    await s.r.call('TENSOR.ACCUM', 'gacc', 'g');
    await s.r.call('TENSOR.ACCUM', 'gacc', 'g');
    await s.r.call('TENSOR.SGD', 'p', 'gacc', 'LR', '0.5');
    // + 0: valgrind's FMA emulation returns -0 for 1 - 0.5 * 2 where hardware gives +0
    expect(Array.from(await getF32(s.r, 'p'), (x) => x + 0)).toEqual([0, -1]);
    await s.r.call('TENSOR.SET', 'gh', 'FLOAT16', 'SHAPE', '2', 'BLOB', bytesOf(Uint16Array.of(0x3c00, 0x4000)));
    await s.r.call('TENSOR.SGD', 'p', 'gh', 'LR', '1');
    expect(Array.from(await getF32(s.r, 'p'))).toEqual([-1, -3]);
  });

  test('errors change nothing', async () => {
    await setF32(s.r, 'P', [2], Float32Array.of(1, 2));
    await setF32(s.r, 'G', [2], Float32Array.of(1, 1));
    await setF32(s.r, 'G3', [3], Float32Array.of(1, 1, 1));
    await setF32(s.r, 'V3', [3], Float32Array.of(1, 1, 1));
    await s.r.call('TENSOR.SET', 'P16', 'FLOAT16', 'SHAPE', '2', 'BLOB', 'abcd');
    const cases: Array<[string[], RegExp]> = [
      [['P', 'G'], /wrong number of arguments/],
      [['P', 'G', 'LR'], /wrong number of arguments/],
      [['P', 'G', 'LR', '-1'], /ERR LR must be a non-negative number/],
      [['P', 'G', 'LR', 'abc'], /ERR LR must be a non-negative number/],
      [['P', 'G', 'MOMENTUM', '0.9'], /ERR LR is required/],
      [['P', 'G', 'LR', '0.1', 'MOMENTUM', '0.9'], /ERR MOMENTUM needs a VELOCITY key/],
      [['P', 'G', 'LR', '0.1', 'NESTEROV'], /ERR NESTEROV needs a positive MOMENTUM/],
      [['P', 'G', 'LR', '0.1', 'DAMPENING', '2'], /ERR DAMPENING must be in \[0, 1\]/],
      [['P', 'G', 'LR', '0.1', 'WEIGHTDECAY', '-1'], /ERR WEIGHTDECAY must be a non-negative number/],
      [['P', 'G', 'LR', '0.1', 'BOGUS'], /ERR syntax error/],
      [['P', 'G', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'P'], /ERR VELOCITY must be a key of its own/],
      [['P', 'G', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'V3'], /ERR VELOCITY must be a FLOAT32 tensor shaped like the parameter/],
      [['P', 'G3', 'LR', '0.1'], /ERR gradient shape does not match the parameter/],
      [['P', 'P', 'LR', '0.1'], /ERR parameter and gradient must be different keys/],
      [['P16', 'G', 'LR', '0.1'], /ERR parameter must be a plain FLOAT32 tensor/],
      [['missing', 'G', 'LR', '0.1'], /ERR parameter key does not exist/],
      [['P', 'missing', 'LR', '0.1'], /ERR gradient key does not exist/],
    ];
    for (const [args, msg] of cases) expect(await errorOf(s.r.call('TENSOR.SGD', ...args))).toMatch(msg);
    expect(Array.from(await getF32(s.r, 'P'))).toEqual([1, 2]);
    expect(Array.from(await getF32(s.r, 'V3'))).toEqual([1, 1, 1]);
  });
});

describe('TENSOR.ADAM', () => {
  test.each([false, true])('decoupled=%s matches the reference over 4 steps', async (decoupled) => {
    const n = 1000;
    const p0 = randomF32(n, 9);
    await setF32(s.r, '{m}:p', [n], p0);
    await s.r.del('{m}:m', '{m}:v');
    const pr = Float32Array.from(p0), st = { m: new Float32Array(n), v: new Float32Array(n) };
    for (let step = 1; step <= 4; step++) {
      const g = randomF32(n, 200 + step);
      await setF32(s.r, '{m}:g', [n], g);
      const args = ['{m}:p', '{m}:g', 'MKEY', '{m}:m', 'VKEY', '{m}:v', 'LR', '0.001', 'BETA1', '0.9', 'BETA2', '0.99',
        'EPS', '1e-7', 'WEIGHTDECAY', '0.01', ...(decoupled ? ['DECOUPLED'] : []), 'STEP', String(step)];
      expect(await s.r.call('TENSOR.ADAM', ...args)).toBe('OK');
      ref.adamStep(pr, g, st, { lr: 0.001, beta1: 0.9, beta2: 0.99, eps: 1e-7, weightDecay: 0.01, decoupled, step });
    }
    expectClose(await getF32(s.r, '{m}:p'), pr, 1e-5, 1e-6);
    expectClose(await getF32(s.r, '{m}:m'), st.m, 1e-5, 1e-7);
    expectClose(await getF32(s.r, '{m}:v'), st.v, 1e-5, 1e-9);
  });

  test('errors change nothing', async () => {
    await setF32(s.r, 'P', [2], Float32Array.of(1, 2));
    await setF32(s.r, 'G', [2], Float32Array.of(1, 1));
    await setF32(s.r, 'M3', [3], Float32Array.of(1, 1, 1));
    const base = ['P', 'G', 'MKEY', 'm', 'VKEY', 'v', 'LR', '0.1'];
    const cases: Array<[string[], RegExp]> = [
      [[...base], /wrong number of arguments/],
      [[...base, 'BETA1', '1', 'STEP', '1'], /ERR BETA1 must be in \[0, 1\)/],
      [[...base, 'BETA2', '-0.1', 'STEP', '1'], /ERR BETA2 must be in \[0, 1\)/],
      [[...base, 'EPS', '0', 'STEP', '1'], /ERR EPS must be a positive number/],
      [[...base, 'STEP', '0'], /ERR STEP must be an integer >= 1/],
      [[...base, 'STEP', '1.5'], /ERR STEP must be an integer >= 1/],
      [[...base, 'EPS', '1e-8', 'BETA1', '0.9'], /ERR STEP is required/],
      [['P', 'G', 'MKEY', 'm', 'LR', '0.1', 'STEP', '1', 'EPS', '1'], /ERR VKEY is required/],
      [['P', 'G', 'MKEY', 'm', 'VKEY', 'v', 'LR', '0.1', 'STEP', '1', 'LR', '0.2'], /ERR LR is given more than once/],
      [['P', 'G', 'VKEY', 'MKEY', 'MKEY', 'm', 'LR', '0.1', 'STEP', '1'], /ERR an argument before MKEY is spelled MKEY/],
      [['P', 'G', 'MKEY', 'm', 'VKEY', 'm', 'LR', '0.1', 'STEP', '1'], /ERR MKEY and VKEY must be keys of their own/],
      [['P', 'G', 'MKEY', 'M3', 'VKEY', 'v', 'LR', '0.1', 'STEP', '1'], /ERR MKEY must be a FLOAT32 tensor shaped like the parameter/],
      [['P', 'G', 'MKEY', 'm', 'VKEY', 'v', 'STEP', '1', 'BETA1', '0.5'], /ERR LR is required/],
    ];
    for (const [args, msg] of cases) expect(await errorOf(s.r.call('TENSOR.ADAM', ...args))).toMatch(msg);
    expect(Array.from(await getF32(s.r, 'P'))).toEqual([1, 2]);
    expect(await s.r.exists('m', 'v')).toBe(0);
  });
});

describe('server integration', () => {
  test('key positions are declared for every command (Redis Cluster routing)', async () => {
    const keys = (args: string[]) => s.r.call('COMMAND', 'GETKEYS', ...args);
    expect(await keys(['TENSOR.SET', 'k', 'FLOAT32', 'SHAPE', '1', 'BLOB', 'xxxx'])).toEqual(['k']);
    expect(await keys(['TENSOR.GET', 'k', 'META'])).toEqual(['k']);
    expect(await keys(['TENSOR.AVG', 'd', 'a', 'b', 'c'])).toEqual(['d', 'a', 'b', 'c']);
    expect(await keys(['TENSOR.ACCUM', 'acc', 'g', 'WEIGHT', '2'])).toEqual(['acc', 'g']);
    expect(await keys(['TENSOR.SGD', 'p', 'g', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'v'])).toEqual(['p', 'g', 'v']);
    expect(await keys(['TENSOR.SGD', 'p', 'g', 'LR', '0.1'])).toEqual(['p', 'g']);
    expect(await keys(['TENSOR.ADAM', 'p', 'g', 'MKEY', 'm', 'VKEY', 'v', 'LR', '1', 'STEP', '1'])).toEqual(['p', 'g', 'm', 'v']);
    expect(await keys(['TENSOR.RESTORE', 'k', 'h', 'd'])).toEqual(['k']);
  });

  test('command flags: GET is readonly, writes are deny-oom', async () => {
    const info = (await s.r.call('COMMAND', 'INFO', 'tensor.get', 'tensor.avg', 'tensor.adam')) as unknown[][];
    expect(info[0][2]).toEqual(expect.arrayContaining(['readonly']));
    expect(info[1][2]).toEqual(expect.arrayContaining(['write', 'denyoom']));
    expect(info[2][2]).toEqual(expect.arrayContaining(['write', 'denyoom', 'module', 'movablekeys']));
  });

  test('MEMORY USAGE counts the data; COPY duplicates; DEBUG DIGEST-VALUE tracks contents', async () => {
    await setF32(s.r, 'big', [100000], randomF32(100000, 1));
    expect(await s.r.call('MEMORY', 'USAGE', 'big')).toBeGreaterThanOrEqual(400000);
    await s.r.del('big2');
    expect(await s.r.call('COPY', 'big', 'big2')).toBe(1);
    const [copy, orig] = [await s.r.callBuffer('TENSOR.GET', 'big2'), await s.r.callBuffer('TENSOR.GET', 'big')] as Buffer[];
    expect(copy.equals(orig)).toBe(true); // Buffer.equals: jest's toEqual walks 400 KB element by element
    const [d1, d2] = (await s.r.call('DEBUG', 'DIGEST-VALUE', 'big', 'big2')) as string[];
    expect(d1).toBe(d2);
    await s.r.call('TENSOR.SGD', 'big2', 'big', 'LR', '0.5');
    const [e1, e2] = (await s.r.call('DEBUG', 'DIGEST-VALUE', 'big', 'big2')) as string[];
    expect(e1).toBe(d1);
    expect(e2).not.toBe(d2);
  });

  test('TENSOR.RESTORE validates its header and data', async () => {
    const h = Buffer.alloc(8 + 8 + 24);
    h.write('SPT1');
    h[4] = 1; // FLOAT32
    h[5] = 1; // ndim
    h.writeBigUInt64LE(2n, 8);
    h.writeBigUInt64LE(8n, 32);
    expect(await s.r.call('TENSOR.RESTORE', 'r', h, bytesOf(Float32Array.of(1, 2)))).toBe('OK');
    expect(Array.from(await getF32(s.r, 'r'))).toEqual([1, 2]);
    expect(await errorOf(s.r.call('TENSOR.RESTORE', 'r', h, 'abc'))).toMatch(/data length does not match/);
    expect(await errorOf(s.r.call('TENSOR.RESTORE', 'r', h.subarray(0, 20), 'abc'))).toMatch(/header length/);
    expect(await errorOf(s.r.call('TENSOR.RESTORE', 'r', 'nonsense', 'abc'))).toMatch(/not a spirt tensor header/);
    const acc16 = Buffer.from(h);
    acc16[4] = 3;
    acc16[6] = 1;
    acc16.writeBigUInt64LE(4n, 32);
    expect(await errorOf(s.r.call('TENSOR.RESTORE', 'r', acc16, 'abcd'))).toMatch(/accumulator must be FLOAT32/);
    expect(Array.from(await getF32(s.r, 'r'))).toEqual([1, 2]);
  });

  test('MULTI/EXEC and pipelines apply atomically', async () => {
    await setF32(s.r, 'mp', [2], Float32Array.of(0, 0));
    await setF32(s.r, 'mg', [2], Float32Array.of(1, 2));
    const res = await s.r.multi().call('TENSOR.SGD', 'mp', 'mg', 'LR', '1').call('TENSOR.SGD', 'mp', 'mg', 'LR', '1').exec();
    expect(res!.map(([e, v]) => e ?? v)).toEqual(['OK', 'OK']);
    expect(Array.from(await getF32(s.r, 'mp'))).toEqual([-2, -4]);
  });

  test('every change raises a keyspace event (class d) named after its command', async () => {
    const sub = client(s.redis);
    const events: string[] = [];
    try {
      await s.r.config('SET', 'notify-keyspace-events', 'Ed');
      await sub.ping(); // connected and past ioredis's ready check before the connection turns subscriber
      await sub.psubscribe('__keyevent@0__:tensor.*');
      sub.on('pmessage', (_pattern, channel: string, key: string) => events.push(`${channel.split(':')[1]} ${key}`));
      await setF32(s.r, 'ev:a', [2], Float32Array.of(1, 2));
      await setF32(s.r, 'ev:b', [2], Float32Array.of(3, 4));
      await s.r.call('TENSOR.AVG', 'ev:m', 'ev:a', 'ev:b');
      await s.r.del('ev:acc', 'ev:vel', 'ev:m1', 'ev:v1');
      await s.r.call('TENSOR.ACCUM', 'ev:acc', 'ev:a');
      await s.r.call('TENSOR.SGD', 'ev:a', 'ev:m', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'ev:vel');
      await s.r.call('TENSOR.ADAM', 'ev:b', 'ev:m', 'MKEY', 'ev:m1', 'VKEY', 'ev:v1', 'LR', '0.1', 'STEP', '1');
      await errorOf(s.r.call('TENSOR.AVG', 'ev:bad', 'ev:a', 'missing')); // a failed command changes nothing, says nothing
      await s.r.ping();
      for (let i = 0; i < 500 && events.length < 9; i++) await new Promise((r) => setTimeout(r, 10));
      expect(events).toEqual([
        'tensor.set ev:a', 'tensor.set ev:b', 'tensor.avg ev:m', 'tensor.accum ev:acc', 'tensor.sgd ev:a', 'tensor.sgd ev:vel',
        'tensor.adam ev:b', 'tensor.adam ev:m1', 'tensor.adam ev:v1',
      ]);
    } finally {
      sub.disconnect();
      await s.r.config('SET', 'notify-keyspace-events', '');
    }
  });

  test('INFO lists the module and its type', async () => {
    expect(await s.r.call('MODULE', 'LIST')).toEqual([expect.arrayContaining(['name', 'spirt'])]);
  });
});
