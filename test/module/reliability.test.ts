// Regressions of issue 9's module items: every state a command accepts loads again (SAVE + restart, DEBUG
// RELOAD, a replica, an AOF restart); what the loader refuses it refuses whole; short calls by key-restricted
// users; one dimension bound everywhere; float32 hyperparameters; PROTO field numbers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { startRedis } from '../../src/redis/launcher';
import { decodeTensor, encodeTensor } from '../../src/wire';
import { tensor } from '../../src/tensor';
import { dumpTemplate, modulePayload, tensorFields } from './rdb';
import { bytesOf, client, errorOf, restoreHeader, serverWithClient, setF32, stopChecked } from './util';

const INT64_MAX = 2n ** 63n - 1n;
const DBL_MAX = 1.7976931348623157e308;

/** META, BLOB and digest of each key: what must come back unchanged */
async function state(r: Redis, keys: string[]) {
  return Promise.all(keys.map(async (k) => [
    k, await r.call('TENSOR.GET', k, 'META'), ((await r.callBuffer('TENSOR.GET', k)) as Buffer).toString('hex'),
    await r.call('DEBUG', 'DIGEST-VALUE', k),
  ]));
}

describe('accumulators at the limits', () => {
  test('ACCUM refuses what would overflow the weight sum or the count; the state survives every reload path', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-limits-'));
    const aof = ['--appendonly', 'yes', '--aof-use-rdb-preamble', 'no', '--appendfsync', 'always'];
    let primary = await startRedis({ enableDebug: true, dir, args: [...aof, '--repl-diskless-sync-delay', '0'] });
    const replica = await startRedis({ enableDebug: true });
    let r = client(primary);
    const rr = client(replica);
    try {
      const one = bytesOf(Float32Array.of(1));
      await setF32(r, 's', [1], Float32Array.of(2));
      const acc = (count: bigint, weightSum: number) => restoreHeader({ dtype: 1, shape: [1n], accumulator: true, count, weightSum }, 4);
      expect(await r.call('TENSOR.RESTORE', 'accW', acc(1n, DBL_MAX), one)).toBe('OK');
      expect(await r.call('TENSOR.RESTORE', 'accC', acc(INT64_MAX - 1n, 1), one)).toBe('OK');
      const keys = ['s', 'accW', 'accC'];

      // the WEIGHT 1e308 is inf as a float32: refused; the largest float32 weight is absorbed by the
      // largest double, so no sequence of accepted weights reaches a non-finite sum
      expect(await errorOf(r.call('TENSOR.ACCUM', 'accW', 's', 'WEIGHT', '1e308'))).toMatch(/^ERR expected WEIGHT followed by a finite number/);
      expect(await r.call('TENSOR.ACCUM', 'accW', 's', 'WEIGHT', '3.4e38')).toBe(2);
      expect(Number(((await r.call('TENSOR.GET', 'accW', 'META')) as unknown[])[7])).toBe(DBL_MAX);
      const exact = new Redis(primary.port!, '127.0.0.1', { stringNumbers: true }); // 2^63-1 is no JS number
      expect(await exact.call('TENSOR.ACCUM', 'accC', 's')).toBe(INT64_MAX.toString());
      exact.disconnect();
      expect(await errorOf(r.call('TENSOR.ACCUM', 'accC', 's'))).toMatch(/^ERR contribution refused: accumulator count is too large/);
      expect(await errorOf(r.call('TENSOR.RESTORE', 'accX', acc(INT64_MAX + 1n, 1), one))).toMatch(/count is too large/);
      expect(await errorOf(r.call('TENSOR.RESTORE', 'accX', acc(1n, Infinity), one))).toMatch(/weight sum is not finite/);
      const before = await state(r, keys);

      // a replica loads the state from a full sync (RDB) and keeps it
      expect(await rr.call('REPLICAOF', '127.0.0.1', String(primary.port))).toBe('OK');
      for (let i = 0; i < 400 && !(await rr.info('replication')).includes('master_link_status:up'); i++) {
        await new Promise((res) => setTimeout(res, 25));
      }
      expect(await r.call('WAIT', '1', '5000')).toBe(1);
      expect(await state(rr, keys)).toEqual(before);

      expect(await r.call('DEBUG', 'RELOAD')).toBe('OK');
      expect(await state(r, keys)).toEqual(before);
      expect(await r.save()).toBe('OK');

      // AOF restart (the AOF replays TENSOR.RESTORE records), then an RDB-only restart
      for (const args of [aof, []]) {
        r.disconnect();
        await stopChecked(primary);
        primary = await startRedis({ enableDebug: true, dir, args });
        r = client(primary);
        expect(await state(r, keys)).toEqual(before);
      }
    } finally {
      r.disconnect();
      rr.disconnect();
      await Promise.all([stopChecked(primary), stopChecked(replica)]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the RDB loader', () => {
  const s = serverWithClient();

  test('refuses an invalid stored value whole, after reading all of it', async () => {
    await s.r.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '1');
    const template = await dumpTemplate(s.r);
    const four = Buffer.alloc(4);
    const valid = { dtype: 1n, shape: [1n], data: four };
    // the builder is right: its valid payload loads
    expect(await s.r.call('RESTORE', 'built', '0', modulePayload(template, tensorFields(valid)))).toBe('OK');
    expect(await s.r.call('TENSOR.GET', 'built', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [1], 'version', 0]);
    const invalid = [
      { ...valid, accumulator: 1n, count: 1n, weightSum: Infinity },
      { ...valid, accumulator: 1n, count: INT64_MAX + 1n, weightSum: 1 },
      { ...valid, accumulator: 2n },
      { ...valid, count: 3n }, // a plain tensor with accumulator state
      { ...valid, dtype: 2n ** 32n + 1n },
      { ...valid, shape: [2n ** 63n, 0n], data: Buffer.alloc(0) },
      { ...valid, shape: [2n ** 32n + 1n, 0n], data: Buffer.alloc(0) },
      { ...valid, shape: [1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n] },
      { ...valid, data: Buffer.alloc(5) },
      { ...valid, accumulator: 1n, dtype: 3n, shape: [2n] },
    ];
    for (const fields of invalid) {
      expect(await errorOf(s.r.call('RESTORE', 'bad', '0', modulePayload(template, tensorFields(fields))))).toMatch(/Bad data format/);
    }
    expect(await s.r.exists('bad')).toBe(0);
    const log = fs.readFileSync(s.redis.logFile, 'utf8');
    expect(log.match(/spirt: refusing a stored tensor/g)?.length).toBe(invalid.length);
    expect(log).not.toMatch(/EOF marker/);
  });

  test('a startup from an RDB holding an invalid value is refused, and says why', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-refused-'));
    try {
      const args = ['--rdbchecksum', 'no'];
      const redis = await startRedis({ enableDebug: true, dir, args });
      const r = client(redis);
      await setF32(r, 'g', [2], Float32Array.of(1, 2));
      await r.call('TENSOR.ACCUM', 'acc', 'g', 'WEIGHT', '1234.5');
      await setF32(r, 'other', [1], Float32Array.of(3));
      expect(await r.save()).toBe('OK');
      r.disconnect();
      await stopChecked(redis);
      // an accumulator weight sum of inf: a value no command can create any more
      const file = path.join(dir, 'dump.rdb');
      const rdb = fs.readFileSync(file);
      const weight = Buffer.alloc(8);
      weight.writeDoubleLE(1234.5);
      const at = rdb.indexOf(weight);
      expect(at).toBeGreaterThan(0);
      weight.writeDoubleLE(Infinity);
      weight.copy(rdb, at);
      fs.writeFileSync(file, rdb);
      fs.rmSync(path.join(dir, 'redis.log'));
      await expect(startRedis({ enableDebug: true, dir, args })).rejects.toThrow(/exited/);
      const log = fs.readFileSync(path.join(dir, 'redis.log'), 'utf8');
      expect(log).toMatch(/spirt: refusing a stored tensor: accumulator weight sum is not finite/);
      expect(log).toMatch(/not able to load/);
      expect(log).not.toMatch(/EOF marker/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('short calls', () => {
  const s = serverWithClient();

  test('COMMAND GETKEYS and a key-restricted ACL user name no key beyond the call, and the server stays up', async () => {
    // Redis checks the declared arity first now: no key is ever looked for in a short call
    expect(await errorOf(s.r.call('COMMAND', 'GETKEYS', 'TENSOR.SGD', 'x'))).toMatch(/^ERR Invalid number of arguments/);
    expect(await s.r.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~k*', '+@all')).toBe('OK');
    const u = client(s.redis);
    try {
      await u.call('AUTH', 'limited', 'pw');
      for (const cmd of ['TENSOR.SGD', 'TENSOR.ADAM']) {
        expect(await errorOf(u.call(cmd, 'kx'))).toMatch(/wrong number of arguments/);
        expect(await errorOf(u.call(cmd, 'other'))).toMatch(/wrong number of arguments/);
      }
      expect(await u.ping()).toBe('PONG');
    } finally {
      u.disconnect();
    }
  });
});

describe('one bound per dimension', () => {
  const s = serverWithClient();

  test('2^32 is the largest dimension in SET, PROTO, RESTORE and the TS codec, beside a zero one too', async () => {
    const max = 2 ** 32;
    const proto = (shape: number[]) => {
      // encodeTensor refuses what is out of bounds, so the message is written by hand: dtype, packed shape, no data
      const dims = shape.map((d) => {
        const out: number[] = [];
        let v = BigInt(d);
        do {
          out.push(Number(v & 0x7fn) | (v >= 0x80n ? 0x80 : 0));
          v >>= 7n;
        } while (v > 0n);
        return out;
      }).flat();
      return Buffer.from([0x08, 0x01, 0x12, dims.length, ...dims, 0x1a, 0x00]);
    };
    expect(await s.r.call('TENSOR.SET', 'edge', 'FLOAT32', 'SHAPE', String(max), '0', 'BLOB', '')).toBe('OK');
    const out = (await s.r.callBuffer('TENSOR.GET', 'edge', 'PROTO')) as Buffer;
    expect(out.equals(proto([max, 0]))).toBe(true);
    expect(decodeTensor(out).shape).toEqual([max, 0]);
    expect(await s.r.call('TENSOR.SET', 'edge2', 'PROTO', out)).toBe('OK');
    const encoded = Buffer.from(encodeTensor(tensor('float32', [0, max])));
    expect(await s.r.call('TENSOR.SET', 'edge4', 'PROTO', encoded)).toBe('OK');
    expect(await s.r.call('TENSOR.GET', 'edge4', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [0, max], 'version', 0]);
    expect(await s.r.call('TENSOR.RESTORE', 'edge3', restoreHeader({ dtype: 1, shape: [0n, BigInt(max)] }, 0), '')).toBe('OK');

    for (const d of [2 ** 32 + 1, 2 ** 53 - 1]) {
      expect(await errorOf(s.r.call('TENSOR.SET', 'bad', 'FLOAT32', 'SHAPE', '0', String(d), 'BLOB', ''))).toMatch(/dimension too large/);
      expect(await errorOf(s.r.call('TENSOR.SET', 'bad', 'PROTO', proto([0, d])))).toMatch(/dimension too large/);
      expect(() => decodeTensor(proto([0, d]))).toThrow(/invalid dimension/);
      expect(() => tensor('float32', [d, 0])).toThrow(/invalid dimension/);
    }
    for (const d of [2n ** 32n + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
      const header = restoreHeader({ dtype: 1, shape: [d, 0n] }, 0);
      expect(await errorOf(s.r.call('TENSOR.RESTORE', 'bad', header, ''))).toMatch(/dimension too large/);
    }
    expect(await s.r.exists('bad')).toBe(0);
  });
});

describe('float32 hyperparameters', () => {
  const s = serverWithClient();

  test('the float32 value that will be used is validated, and no argument can make parameters non-finite', async () => {
    await setF32(s.r, 'p', [2], Float32Array.of(1, 2));
    await setF32(s.r, 'g', [2], Float32Array.of(0, 1));
    const adam = ['p', 'g', 'MKEY', 'm', 'VKEY', 'v'];
    const cases: Array<[string, string[], RegExp]> = [
      ['TENSOR.ADAM', [...adam, 'LR', '0.1', 'BETA1', '0.99999999999', 'STEP', '1'], /ERR BETA1 must be in \[0, 1\) as a float32/],
      ['TENSOR.ADAM', [...adam, 'LR', '0.1', 'BETA2', '0.99999999999', 'STEP', '1'], /ERR BETA2 must be in \[0, 1\) as a float32/],
      ['TENSOR.ADAM', [...adam, 'LR', '0.1', 'EPS', '1e-50', 'STEP', '1'], /ERR EPS must be a positive number/],
      ['TENSOR.ADAM', [...adam, 'LR', '1e300', 'STEP', '1'], /ERR LR must be a non-negative number/],
      ['TENSOR.ADAM', [...adam, 'LR', '3e38', 'BETA1', '0.9', 'STEP', '1'], /ERR LR is too large/],
      ['TENSOR.ADAM', [...adam, 'LR', '1e30', 'WEIGHTDECAY', '1e10', 'DECOUPLED', 'STEP', '1'], /ERR LR \* WEIGHTDECAY overflows/],
      ['TENSOR.SGD', ['p', 'g', 'LR', '1e300'], /ERR LR must be a non-negative number/],
      ['TENSOR.SGD', ['p', 'g', 'LR', '1e-50'], /ERR LR must be a non-negative number/],
      ['TENSOR.SGD', ['p', 'g', 'LR', '0.1', 'MOMENTUM', '1e39', 'VELOCITY', 'vel'], /ERR MOMENTUM must be a non-negative number/],
      ['TENSOR.SGD', ['p', 'g', 'LR', '0.1', 'DAMPENING', '1.0000001'], /ERR DAMPENING must be in \[0, 1\]/],
      ['TENSOR.SGD', ['p', 'g', 'LR', '0.1', 'WEIGHTDECAY', '-1e-50'], /ERR WEIGHTDECAY must be a non-negative number/],
      ['TENSOR.ACCUM', ['acc', 'g', 'WEIGHT', '1e300'], /ERR expected WEIGHT followed by a finite number/],
      ['TENSOR.ACCUM', ['acc', 'g', 'WEIGHT', '1e-50'], /ERR expected WEIGHT followed by a finite number/],
    ];
    for (const [cmd, args, msg] of cases) expect({ args, err: await errorOf(s.r.call(cmd, ...args)) }).toEqual({ args, err: expect.stringMatching(msg) });
    expect(await s.r.exists('m', 'v', 'vel', 'acc')).toBe(0);
    expect((await s.r.callBuffer('TENSOR.GET', 'p')) as Buffer).toEqual(bytesOf(Float32Array.of(1, 2)));
    // DAMPENING 1.00000001 is 1 as a float32: allowed, as is the largest finite LR with plain SGD
    expect(await s.r.call('TENSOR.SGD', 'p', 'g', 'LR', '0', 'DAMPENING', '1.00000001')).toBe('OK');
    expect(await s.r.call('TENSOR.ADAM', ...adam, 'LR', '1e-3', 'BETA1', '0.9999999', 'STEP', '1')).toBe('OK');
  });
});

describe('PROTO field numbers', () => {
  const s = serverWithClient();

  test('a field number above 2^29-1 is refused by the module as by protobufjs; 2^29-1 is skipped by both', async () => {
    const good = Buffer.from(encodeTensor(tensor('float32', [1], Float32Array.of(5))));
    // tag = field << 3 | wire 0, as a 5-byte varint
    const tag = (field: bigint) => {
      const out: number[] = [];
      let v = field << 3n;
      while (v >= 0x80n) {
        out.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      out.push(Number(v));
      return Buffer.from(out);
    };
    for (const field of [2n ** 29n, 2n ** 32n, 2n ** 61n - 1n]) {
      const payload = Buffer.concat([tag(field), Buffer.from([0x01]), good]);
      expect(await errorOf(s.r.call('TENSOR.SET', 'pf', 'PROTO', payload))).toMatch(/truncated or malformed/);
      expect(() => decodeTensor(payload)).toThrow();
    }
    const edge = Buffer.concat([tag(2n ** 29n - 1n), Buffer.from([0x01]), good]);
    expect(decodeTensor(edge).shape).toEqual([1]);
    expect(await s.r.call('TENSOR.SET', 'pf', 'PROTO', edge)).toBe('OK');
  });
});
