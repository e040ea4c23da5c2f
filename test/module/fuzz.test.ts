// Bounded, seeded fuzzing of the module: whatever arrives, the server answers (OK or an error) and keeps
// running, every stored tensor stays self-consistent, and whatever it accepted reloads (DEBUG RELOAD).
import fs from 'node:fs';
import Redis from 'ioredis';
import { decodeTensor, encodeTensor } from '../../src/wire';
import { tensor } from '../../src/tensor';
import { rng } from '../random';
import { bytesOf, client, expectConsistent, restoreHeader, serverWithClient, setF32 } from './util';

const s = serverWithClient();

/** every command but TENSOR.WAIT, which could block the fuzzing connection (it is fuzzed inside MULTI) */
const COMMANDS = ['TENSOR.SET', 'TENSOR.GET', 'TENSOR.AVG', 'TENSOR.ACCUM', 'TENSOR.SGD', 'TENSOR.ADAM', 'TENSOR.RESTORE',
  'TENSOR.SPLIT', 'TENSOR.CAT', 'TENSOR.AGG'];
/** the fewest arguments (command name included) each command can succeed with */
const MIN_ARGC: Record<string, number> = {
  'TENSOR.SET': 4, 'TENSOR.GET': 2, 'TENSOR.AVG': 3, 'TENSOR.ACCUM': 3, 'TENSOR.SGD': 5, 'TENSOR.ADAM': 11, 'TENSOR.RESTORE': 4,
  'TENSOR.SPLIT': 4, 'TENSOR.CAT': 4, 'TENSOR.WAIT': 6, 'TENSOR.AGG': 4,
};
const WORDS = ['SHAPE', 'BLOB', 'PROTO', 'META', 'MEAN', 'WEIGHT', 'LR', 'MOMENTUM', 'VELOCITY', 'NESTEROV', 'DAMPENING',
  'WEIGHTDECAY', 'MKEY', 'VKEY', 'BETA1', 'BETA2', 'EPS', 'STEP', 'DECOUPLED', 'FLOAT32', 'FLOAT16', 'BFLOAT16', 'INT8',
  'INT32', 'FLOAT64', 'float32', 'bogus', 'VERSION', 'TIMEOUT', 'MEDIAN', 'TRIMMED', 'KRUM', 'MULTI', 'CCLIP', 'ITERS', 'CENTER'];
const NUMBERS = ['0', '1', '2', '3', '4', '-1', '0.5', '1e-8', '1e308', '-1e308', 'inf', '-inf', 'nan', '4294967296',
  '9223372036854775807', '-9223372036854775808', '18446744073709551616', '1.5', '', ' 1', '3.4e38', '1e-45', '1e-46'];
const KEYS = ['f', 'f2', 'h', 'acc', 'i8', 'str', 'missing', 'new1', 'new2', 'vel', 'm', 'v'];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

async function seed() {
  await setF32(s.r, 'f', [4], Float32Array.of(1, 2, 3, 4));
  await setF32(s.r, 'f2', [2, 2], Float32Array.of(1, 2, 3, 4));
  await s.r.call('TENSOR.SET', 'h', 'FLOAT16', 'SHAPE', '4', 'BLOB', bytesOf(Uint16Array.of(1, 2, 3, 4)));
  await s.r.call('TENSOR.SET', 'i8', 'INT8', 'SHAPE', '4', 'BLOB', 'abcd');
  await s.r.call('TENSOR.ACCUM', 'acc', 'f');
  await s.r.set('str', 'plain string');
}

/** DEBUG RELOAD saves and loads every value: it fails if anything a command accepted cannot be loaded. */
async function expectReloadKeepsEverything(r: Redis) {
  const keys = (await r.keys('*')).sort();
  const digests = keys.length ? await r.call('DEBUG', 'DIGEST-VALUE', ...keys) : [];
  expect(await r.call('DEBUG', 'RELOAD')).toBe('OK');
  expect((await r.keys('*')).sort()).toEqual(keys);
  expect(keys.length ? await r.call('DEBUG', 'DIGEST-VALUE', ...keys) : []).toEqual(digests);
}

function mutate(r: Rand, good: Buffer): Buffer {
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
  const blob = () => Buffer.from(Array.from({ length: pick(r, [0, 1, 2, 4, 8, 16, 17]) }, () => Math.floor(r() * 256)));
  const arg = (): string | Buffer => {
    const kind = r();
    if (kind < 0.3) return pick(r, WORDS);
    if (kind < 0.55) return pick(r, NUMBERS);
    if (kind < 0.85) return pick(r, KEYS);
    return blob();
  };
  const goodProto = Buffer.from(encodeTensor(tensor('float32', [2, 2], Float32Array.of(1, 2, 3, 4))));
  let errors = 0, oks = 0;
  for (let batch = 0; batch < 30; batch++) {
    const pipe = s.r.pipeline();
    for (let i = 0; i < 100; i++) {
      const cmd = pick(r, COMMANDS);
      const args = cmd === 'TENSOR.SET' && r() < 0.3
        ? [pick(r, KEYS), 'PROTO', mutate(r, goodProto)]
        : [pick(r, KEYS), ...Array.from({ length: Math.floor(r() * 12) }, arg)];
      pipe.call(cmd, ...args);
    }
    for (const [err] of (await pipe.exec())!) err ? errors++ : oks++;
  }
  expect(errors + oks).toBe(3000);
  expect(errors).toBeGreaterThan(0);
  expect(await s.r.ping()).toBe('PONG');
  expect(await expectConsistent(s.r)).toBeGreaterThan(0);
  await expectReloadKeepsEverything(s.r);
  expect(fs.readFileSync(s.redis.logFile, 'utf8')).not.toMatch(/BUG REPORT|crashed|ASSERTION/);
});

test('random TENSOR.WAIT calls inside MULTI (where it cannot block) answer at once', async () => {
  const r = rng(77);
  const arg = () => (r() < 0.4 ? pick(r, WORDS) : r() < 0.7 ? pick(r, NUMBERS) : pick(r, KEYS));
  let tx = s.r.multi();
  for (let i = 0; i < 400; i++) {
    const opts = r() < 0.7 ? ['TIMEOUT', pick(r, NUMBERS), 'VERSION', pick(r, NUMBERS)] : [arg(), arg(), arg(), arg()];
    tx = tx.call('TENSOR.WAIT', ...opts, ...Array.from({ length: 1 + Math.floor(r() * 4) }, arg));
  }
  const results = (await tx.exec())!;
  expect(results).toHaveLength(400);
  expect(results.filter(([e]) => !e).length).toBeGreaterThan(10);
  expect(await s.r.ping()).toBe('PONG');
});

test('ACCUM sequences near the float limits leave only loadable accumulators', async () => {
  const r = rng(909);
  const one = (v: number) => bytesOf(Float32Array.of(v, -v));
  // accumulators starting at extreme but valid states, and sources at the float32 limits
  const starts = [[1n, 1.7976931348623157e308], [2n, -1.7976931348623157e308], [2n ** 63n - 3n, 1], [1n, 5e-324], [0n, 0]] as const;
  for (const [i, [count, weightSum]] of starts.entries()) {
    const h = restoreHeader({ dtype: 1, shape: [2n], accumulator: true, count, weightSum }, 8);
    expect(await s.r.call('TENSOR.RESTORE', `lim:acc${i}`, h, one(3e38))).toBe('OK');
  }
  const sources = [3.4028234663852886e38, 1e-45, 1.1754943508222875e-38, Infinity, NaN, 1];
  for (const [i, v] of sources.entries()) await setF32(s.r, `lim:src${i}`, [2], Float32Array.of(v, -v));
  await s.r.call('TENSOR.SET', 'lim:h', 'FLOAT16', 'SHAPE', '2', 'BLOB', bytesOf(Uint16Array.of(0x7bff, 0xfc00)));
  const weights = ['3.4028234e38', '-3.4028234e38', '3.5e38', '1e-45', '7e-46', '1e-46', '0', '-0', '1', '-1', '1e38', '2.5'];
  const pipe = s.r.pipeline();
  for (let i = 0; i < 600; i++) {
    const acc = `lim:acc${Math.floor(r() * (starts.length + 2))}`; // two start missing: ACCUM creates them
    const src = r() < 0.15 ? 'lim:h' : `lim:src${Math.floor(r() * sources.length)}`;
    pipe.call('TENSOR.ACCUM', acc, src, ...(r() < 0.9 ? ['WEIGHT', pick(r, weights)] : []));
    if (r() < 0.1) pipe.call('TENSOR.GET', acc, 'MEAN');
  }
  const results = (await pipe.exec())!;
  expect(results.filter(([e]) => !e).length).toBeGreaterThan(100);
  expect(results.filter(([e]) => e).length).toBeGreaterThan(10);
  const exact = new Redis(s.redis.port!, '127.0.0.1', { stringNumbers: true });
  try {
    for (let i = 0; i < starts.length + 2; i++) {
      const meta = (await exact.call('TENSOR.GET', `lim:acc${i}`, 'META')) as string[];
      expect(BigInt(meta[5])).toBeLessThanOrEqual(2n ** 63n - 1n);
      expect(Number.isFinite(Number(meta[7]))).toBe(true);
    }
  } finally {
    exact.disconnect();
  }
  await expectReloadKeepsEverything(s.r);
});

test('every command at every short argc, through COMMAND GETKEYS and a key-restricted ACL user', async () => {
  const names = ['k0', 'x1', 'VELOCITY', 'MKEY', 'VKEY', 'LR', 'k5', '1', 'k8', 'k9', 'k10'];
  expect(await s.r.call('ACL', 'SETUSER', 'fuzz-limited', 'reset', 'on', '>pw', '~k*', '+@all')).toBe('OK');
  const u = client(s.redis);
  try {
    await u.call('AUTH', 'fuzz-limited', 'pw');
    for (const cmd of Object.keys(MIN_ARGC)) {
      for (let argc = 1; argc <= MIN_ARGC[cmd]; argc++) {
        const args = names.slice(0, argc - 1);
        const keys = await s.r.call('COMMAND', 'GETKEYS', cmd, ...args).catch((e: Error) => e.message);
        // an error, or keys that are among the arguments given
        if (typeof keys === 'string') expect(keys).toMatch(/^ERR /);
        else for (const k of keys as string[]) expect(args).toContain(k);
        if (cmd !== 'TENSOR.WAIT' || argc < MIN_ARGC[cmd]) await u.call(cmd, ...args).catch(() => undefined);
        expect(await u.ping()).toBe('PONG');
      }
    }
  } finally {
    u.disconnect();
  }
  expect(await s.r.ping()).toBe('PONG');
});

test('RESTORE headers (SPT1 and SPT2) with extreme dimensions, states and versions: refused, or stored consistently and loadable', async () => {
  const r = rng(31337);
  const dims = [0n, 1n, 2n, 3n, 2n ** 31n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
  const pipe = s.r.pipeline();
  for (let i = 0; i < 1500; i++) {
    const shape = Array.from({ length: Math.floor(r() * 10) }, () => (r() < 0.5 ? pick(r, [1n, 2n, 3n]) : pick(r, dims)));
    const dtype = Math.floor(r() * 8);
    const numel = shape.reduce((a, d) => a * d, 1n);
    const size = [0, 4, 8, 2, 2, 1, 4, 0][dtype];
    const fits = numel * BigInt(size) <= 64n;
    const length = fits ? Number(numel) * size + pick(r, [0, 0, 0, 1, -1]) : Math.floor(r() * 16);
    const acc = r() < 0.3;
    const h = restoreHeader({
      dtype, shape, accumulator: acc,
      count: acc ? pick(r, [0n, 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n]) : pick(r, [0n, 0n, 1n]),
      weightSum: acc ? pick(r, [0, 1, -2.5, 1.7976931348623157e308, Infinity, NaN]) : pick(r, [0, 0, 1]),
      version: r() < 0.5 ? pick(r, [0n, 7n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n]) : undefined,
    }, Math.max(length, 0));
    if (r() < 0.05) h[5] = Math.floor(r() * 256); // ndim that disagrees with the header's length
    pipe.call('TENSOR.RESTORE', `rh${i % 40}`, h, Buffer.alloc(Math.max(length, 0), 7));
  }
  const results = (await pipe.exec())!;
  expect(results.filter(([e]) => !e).length).toBeGreaterThan(20);
  expect(await expectConsistent(s.r)).toBeGreaterThan(0);
  await expectReloadKeepsEverything(s.r);
});

// ---- PROTO: the module and protobufjs (decodeTensor) accept exactly the same messages ----

function varint(v: bigint): number[] {
  const out: number[] = [];
  do {
    out.push(Number(v & 0x7fn) | (v >= 0x80n ? 0x80 : 0));
    v >>= 7n;
  } while (v > 0n);
  return out;
}

/** A varint with padding: a longer-than-needed encoding of the same value (valid protobuf up to 10 bytes). */
function paddedVarint(v: bigint, extra: number): number[] {
  const out = varint(v);
  if (!extra) return out;
  out[out.length - 1] |= 0x80;
  for (let i = 1; i < extra; i++) out.push(0x80);
  out.push(0);
  return out;
}

/** A random protobuf field: known or unknown numbers (up to and past 2^29-1), every wire type, groups. */
function randomField(r: Rand, depth = 0): number[] {
  const field = pick(r, [1n, 1n, 2n, 2n, 3n, 3n, 0n, 4n, 15n, 16n, 2n ** 29n - 1n, 2n ** 29n, 2n ** 32n]);
  const wire = r() < 0.85 ? pick(r, [0, 0, 2, 2, 1, 5, 3]) : Math.floor(r() * 8);
  const tag = paddedVarint((field << 3n) | BigInt(wire), r() < 0.1 ? Math.floor(r() * 6) : 0);
  switch (wire) {
    case 0: {
      const v = pick(r, [0n, 1n, 3n, 6n, 7n, 2n ** 31n, 2n ** 32n + 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n + 5n, 2n ** 70n]);
      return [...tag, ...paddedVarint(v, r() < 0.2 ? Math.floor(r() * 8) : 0)];
    }
    case 1: return [...tag, ...Array.from({ length: 8 }, () => Math.floor(r() * 256))];
    case 5: return [...tag, ...Array.from({ length: 4 }, () => Math.floor(r() * 256))];
    case 2: {
      const body = r() < 0.5
        ? Array.from({ length: Math.floor(r() * 4) }, () => paddedVarint(pick(r, [0n, 1n, 2n, 3n, 2n ** 32n, 2n ** 63n]), 0)).flat()
        : Array.from({ length: pick(r, [0, 4, 8, 12]) }, () => Math.floor(r() * 256));
      return [...tag, ...varint(BigInt(body.length)), ...body];
    }
    case 3: {
      const inner = depth < 3 ? Array.from({ length: Math.floor(r() * 3) }, () => randomField(r, depth + 1)).flat() : [];
      const endField = r() < 0.8 ? field : pick(r, [1n, 2n, 5n]);
      return [...tag, ...inner, ...varint((endField << 3n) | 4n)];
    }
    default: return tag;
  }
}

function protoCorpus(r: Rand): Buffer[] {
  const valid = [
    tensor('float32', [3], Float32Array.of(1, 2, 3)),
    tensor('float16', [2, 1], Uint16Array.of(1, 2)),
    tensor('int8', [], Int8Array.of(5)),
    tensor('float64', [1, 1, 1], Float64Array.of(1)),
    tensor('int32', [0, 4]),
  ].map((t) => Buffer.from(encodeTensor(t)));
  const out: Buffer[] = [...valid];
  for (let i = 0; i < 2500; i++) {
    const base = pick(r, valid);
    const kind = r();
    if (kind < 0.35) out.push(mutate(r, base));
    else if (kind < 0.7) { // a random field spliced in at a field boundary of a valid message (start or end)
      const f = Buffer.from(randomField(r));
      out.push(r() < 0.5 ? Buffer.concat([f, base]) : Buffer.concat([base, f]));
    } else { // a message made of random fields only
      out.push(Buffer.from(Array.from({ length: 1 + Math.floor(r() * 4) }, () => randomField(r)).flat()));
    }
  }
  // deep groups: the nesting limit (100) on both sides
  for (const depth of [99, 100, 101, 102]) {
    const open = Array.from({ length: depth }, () => varint((7n << 3n) | 3n)).flat();
    const close = Array.from({ length: depth }, () => varint((7n << 3n) | 4n)).flat();
    out.push(Buffer.concat([Buffer.from([...open, 0x08, 0x01, ...close]), valid[0]]));
  }
  return out;
}

test('the module and decodeTensor give the same verdict, and the same tensor, for every mutated message', async () => {
  const payloads = protoCorpus(rng(7));
  const pipe = s.r.pipeline();
  for (const p of payloads) pipe.call('TENSOR.SET', 'xp', 'PROTO', p).callBuffer('TENSOR.GET', 'xp', 'PROTO').del('xp');
  const results = (await pipe.exec())!;
  let accepted = 0;
  const disagreements: string[] = [];
  payloads.forEach((p, i) => {
    const [setErr] = results[3 * i];
    let ts: ReturnType<typeof decodeTensor> | undefined;
    let tsErr = '';
    try {
      ts = decodeTensor(p);
    } catch (e) {
      tsErr = (e as Error).message;
    }
    if (!setErr !== !!ts) {
      disagreements.push(`${p.toString('hex')}: module ${setErr ? setErr.message : 'accepts'}, decodeTensor ${tsErr || 'accepts'}`);
      return;
    }
    if (!ts) return;
    accepted++;
    const stored = decodeTensor(results[3 * i + 1][1] as Buffer);
    expect({ dtype: stored.dtype, shape: stored.shape, data: bytesOf(stored.data).toString('hex') })
      .toEqual({ dtype: ts.dtype, shape: ts.shape, data: bytesOf(ts.data).toString('hex') });
  });
  expect(disagreements).toEqual([]);
  expect(accepted).toBeGreaterThan(100);
  expect(payloads.length - accepted).toBeGreaterThan(1000);
  expect(await s.r.ping()).toBe('PONG');
});

test('mutated DUMP payloads reach the RDB loader and never crash it', async () => {
  await s.r.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '1');
  try {
    await setF32(s.r, 'dsrc', [3], Float32Array.of(1, 2, 3));
    await s.r.call('TENSOR.ACCUM', 'dacc', 'dsrc', 'WEIGHT', '2');
    const dumps = [(await s.r.dumpBuffer('dsrc')) as Buffer, (await s.r.dumpBuffer('dacc')) as Buffer];
    const r = rng(4242);
    const pipe = s.r.pipeline();
    for (let i = 0; i < 800; i++) {
      const d = Buffer.from(pick(r, dumps));
      // flip bytes in the value, keeping the type byte and the RDB version footer (checked before the loader)
      for (let k = 0, n = 1 + Math.floor(r() * 2); k < n; k++) d[1 + Math.floor(r() * (d.length - 11))] ^= 1 << Math.floor(r() * 8);
      pipe.call('RESTORE', `dr${i % 20}`, '0', d, 'REPLACE');
    }
    const results = (await pipe.exec())!;
    expect(results.filter(([e]) => e).length).toBeGreaterThan(100);
    expect(await expectConsistent(s.r)).toBeGreaterThan(0);
    await expectReloadKeepsEverything(s.r);
  } finally {
    await s.r.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '0');
  }
});
