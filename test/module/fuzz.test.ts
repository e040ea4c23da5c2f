// Bounded random fuzzing of the module's command parsing and PROTO decoding: whatever arrives, the server
// answers (OK or an error) and keeps running, and every stored tensor stays self-consistent.
import fs from 'node:fs';
import { encodeTensor } from '../../src/wire';
import { tensor } from '../../src/tensor';
import { rng } from '../random';
import { bytesOf, serverWithClient, setF32 } from './util';

const s = serverWithClient();

const COMMANDS = ['TENSOR.SET', 'TENSOR.GET', 'TENSOR.AVG', 'TENSOR.ACCUM', 'TENSOR.SGD', 'TENSOR.ADAM', 'TENSOR.RESTORE'];
const WORDS = ['SHAPE', 'BLOB', 'PROTO', 'META', 'MEAN', 'WEIGHT', 'LR', 'MOMENTUM', 'VELOCITY', 'NESTEROV', 'DAMPENING',
  'WEIGHTDECAY', 'MKEY', 'VKEY', 'BETA1', 'BETA2', 'EPS', 'STEP', 'DECOUPLED', 'FLOAT32', 'FLOAT16', 'BFLOAT16', 'INT8',
  'INT32', 'FLOAT64', 'float32', 'bogus'];
const NUMBERS = ['0', '1', '2', '3', '4', '-1', '0.5', '1e-8', '1e308', '-1e308', 'inf', '-inf', 'nan', '4294967296',
  '9223372036854775807', '-9223372036854775808', '18446744073709551616', '1.5', '', ' 1'];
const KEYS = ['f', 'f2', 'h', 'acc', 'i8', 'str', 'missing', 'new1', 'new2', 'vel', 'm', 'v'];

async function seed() {
  await setF32(s.r, 'f', [4], Float32Array.of(1, 2, 3, 4));
  await setF32(s.r, 'f2', [2, 2], Float32Array.of(1, 2, 3, 4));
  await s.r.call('TENSOR.SET', 'h', 'FLOAT16', 'SHAPE', '4', 'BLOB', bytesOf(Uint16Array.of(1, 2, 3, 4)));
  await s.r.call('TENSOR.SET', 'i8', 'INT8', 'SHAPE', '4', 'BLOB', 'abcd');
  await s.r.call('TENSOR.ACCUM', 'acc', 'f');
  await s.r.set('str', 'plain string');
}

function mutate(r: () => number, good: Buffer): Buffer {
  const b = Buffer.from(good);
  switch (Math.floor(r() * 4)) {
    case 0: // flip bytes
      for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      return b;
    case 1: // truncate
      return b.subarray(0, Math.floor(r() * b.length));
    case 2: // insert junk
      return Buffer.concat([b.subarray(0, Math.floor(r() * b.length)), Buffer.from([Math.floor(r() * 256), Math.floor(r() * 256)]), b]);
    default: // pure junk
      return Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
  }
}

test('random commands never crash the server or corrupt a tensor', async () => {
  await seed();
  const r = rng(2026);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const blob = () => Buffer.from(Array.from({ length: pick([0, 1, 2, 4, 8, 16, 17]) }, () => Math.floor(r() * 256)));
  const arg = (): string | Buffer => {
    const kind = r();
    if (kind < 0.3) return pick(WORDS);
    if (kind < 0.55) return pick(NUMBERS);
    if (kind < 0.85) return pick(KEYS);
    return blob();
  };
  const goodProto = Buffer.from(encodeTensor(tensor('float32', [2, 2], Float32Array.of(1, 2, 3, 4))));
  let errors = 0, oks = 0;
  for (let batch = 0; batch < 30; batch++) {
    const pipe = s.r.pipeline();
    for (let i = 0; i < 100; i++) {
      const cmd = pick(COMMANDS);
      const args = cmd === 'TENSOR.SET' && r() < 0.3
        ? [pick(KEYS), 'PROTO', mutate(r, goodProto)]
        : [pick(KEYS), ...Array.from({ length: Math.floor(r() * 12) }, arg)];
      pipe.call(cmd, ...args);
    }
    for (const [err] of (await pipe.exec())!) err ? errors++ : oks++;
  }
  expect(errors + oks).toBe(3000);
  expect(errors).toBeGreaterThan(0);
  expect(await s.r.ping()).toBe('PONG');
  // every tensor left behind is consistent: its blob length matches its dtype and shape
  const sizes: Record<string, number> = { FLOAT32: 4, FLOAT64: 8, FLOAT16: 2, BFLOAT16: 2, INT8: 1, INT32: 4 };
  for (const key of await s.r.keys('*')) {
    if ((await s.r.type(key)) !== 'spirt-tsr') continue;
    const meta = (await s.r.call('TENSOR.GET', key, 'META')) as [string, string, string, number[]];
    const blob = (await s.r.callBuffer('TENSOR.GET', key)) as Buffer;
    expect(blob.length).toBe(meta[3].reduce((a, b) => a * b, 1) * sizes[meta[1]]);
  }
  expect(fs.readFileSync(s.redis.logFile, 'utf8')).not.toMatch(/BUG REPORT|crashed|ASSERTION/);
});

test('mutated PROTO payloads are accepted only when valid', async () => {
  const r = rng(7);
  const payloads = [
    tensor('float32', [3], Float32Array.of(1, 2, 3)),
    tensor('float16', [2, 1], Uint16Array.of(1, 2)),
    tensor('int8', [], Int8Array.of(5)),
    tensor('float64', [1, 1, 1], Float64Array.of(1)),
  ].map((t) => Buffer.from(encodeTensor(t)));
  const pipe = s.r.pipeline();
  for (let i = 0; i < 2000; i++) pipe.call('TENSOR.SET', `fz${i % 50}`, 'PROTO', mutate(r, pick(payloads)));
  function pick<T>(xs: T[]) {
    return xs[Math.floor(r() * xs.length)];
  }
  const results = (await pipe.exec())!;
  expect(results.filter(([e]) => e).length).toBeGreaterThan(100);
  expect(await s.r.ping()).toBe('PONG');
});
