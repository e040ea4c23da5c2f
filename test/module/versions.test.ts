// Versions: every writer's VERSION, the defaults, and every way a value travels (RDB V2 and V1, AOF rewrite,
// replication, COPY, DUMP/RESTORE, MIGRATE, older TENSOR.RESTORE headers).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { startRedis } from '../../src/redis/launcher';
import { dumpTemplate, modulePayload, tensorFields } from './rdb';
import { bytesOf, client, errorOf, f32, getF32, restoreHeader, serverWithClient, setF32, stopChecked } from './util';

const s = serverWithClient({ args: ['--repl-diskless-sync-delay', '0'] });

async function version(r: Redis, key: string): Promise<number> {
  const meta = (await r.call('TENSOR.GET', key, 'META')) as unknown[];
  expect(meta[meta.length - 2]).toBe('version');
  return meta[meta.length - 1] as number;
}

test('every writing command sets the version of what it writes; replacing writes 0, updating keeps it', async () => {
  const one = bytesOf(Float32Array.of(1, 2));
  expect(await s.r.call('TENSOR.SET', 'v:a', 'FLOAT32', 'SHAPE', '2', 'BLOB', one, 'VERSION', '7')).toBe('OK');
  expect(await version(s.r, 'v:a')).toBe(7);
  await s.r.call('TENSOR.SET', 'v:a', 'FLOAT32', 'SHAPE', '2', 'BLOB', one);
  expect(await version(s.r, 'v:a')).toBe(0); // a new value
  const proto = (await s.r.callBuffer('TENSOR.GET', 'v:a', 'PROTO')) as Buffer;
  expect(await s.r.call('TENSOR.SET', 'v:b', 'PROTO', proto, 'VERSION', '9223372036854775807')).toBe('OK');
  const exact = new Redis(s.redis.port!, '127.0.0.1', { stringNumbers: true });
  try {
    expect(((await exact.call('TENSOR.GET', 'v:b', 'META')) as string[])[5]).toBe('9223372036854775807');
  } finally {
    exact.disconnect();
  }
  await s.r.call('TENSOR.SET', 'v:b', 'FLOAT32', 'SHAPE', '2', 'BLOB', one, 'VERSION', '3');

  // AVG replaces dest (in place or not): VERSION v or 0
  expect(await s.r.call('TENSOR.AVG', 'v:avg', 'VERSION', '5', 'v:a', 'v:b')).toBe('OK');
  expect(await version(s.r, 'v:avg')).toBe(5);
  expect(await s.r.call('TENSOR.AVG', 'v:avg', 'v:a', 'v:b')).toBe('OK'); // in place
  expect(await version(s.r, 'v:avg')).toBe(0);

  // ACCUM, SGD, ADAM update in place: VERSION v, or the version kept
  await s.r.call('TENSOR.ACCUM', 'v:acc', 'v:a', 'VERSION', '11');
  await s.r.call('TENSOR.ACCUM', 'v:acc', 'v:b');
  expect(await version(s.r, 'v:acc')).toBe(11);
  await s.r.call('TENSOR.SGD', 'v:b', 'v:a', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'v:vel', 'VERSION', '12');
  expect([await version(s.r, 'v:b'), await version(s.r, 'v:vel')]).toEqual([12, 12]);
  await s.r.call('TENSOR.SGD', 'v:b', 'v:a', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'v:vel');
  expect([await version(s.r, 'v:b'), await version(s.r, 'v:vel')]).toEqual([12, 12]);
  await s.r.call('TENSOR.ADAM', 'v:b', 'v:a', 'MKEY', 'v:m', 'VKEY', 'v:v', 'LR', '0.1', 'STEP', '1');
  expect([await version(s.r, 'v:b'), await version(s.r, 'v:m'), await version(s.r, 'v:v')]).toEqual([12, 0, 0]);
  await s.r.call('TENSOR.ADAM', 'v:b', 'v:a', 'MKEY', 'v:m', 'VKEY', 'v:v', 'LR', '0.1', 'STEP', '2', 'VERSION', '13');
  expect([await version(s.r, 'v:b'), await version(s.r, 'v:m'), await version(s.r, 'v:v')]).toEqual([13, 13, 13]);

  // SPLIT and CAT write new values
  await s.r.call('TENSOR.SPLIT', 'v:b', '2', 'v:s0', 'v:s1', 'VERSION', '14');
  expect([await version(s.r, 'v:s0'), await version(s.r, 'v:s1')]).toEqual([14, 14]);
  await s.r.call('TENSOR.CAT', 'v:cat', '2', 'v:s0', 'v:s1');
  expect(await version(s.r, 'v:cat')).toBe(0);
  await s.r.call('TENSOR.CAT', 'v:cat', '2', 'v:s0', 'v:s1', 'VERSION', '15');
  expect(await version(s.r, 'v:cat')).toBe(15);

  // RESTORE carries it in its header; an older SPT1 header (no version) restores version 0
  const header = restoreHeader({ dtype: 1, shape: [2n], version: 16n }, 8);
  expect(header.subarray(0, 4).toString()).toBe('SPT2');
  await s.r.call('TENSOR.RESTORE', 'v:r', header, one);
  expect(await version(s.r, 'v:r')).toBe(16);
  await s.r.call('TENSOR.RESTORE', 'v:r', restoreHeader({ dtype: 1, shape: [2n] }, 8), one);
  expect(await version(s.r, 'v:r')).toBe(0);
});

test('GT applies an optimizer step once: the same VERSION again or a lower one replies nil and changes nothing', async () => {
  const state = async (keys: string[]) => Promise.all(keys.map(async (k) => [await s.r.callBuffer('TENSOR.GET', k, 'BLOB'), await version(s.r, k)]));
  await setF32(s.r, 'gt:p', [3], Float32Array.of(1, 2, 3));
  await setF32(s.r, 'gt:g', [3], Float32Array.of(0.5, -1, 2));
  const sgd = (v: string) => s.r.call('TENSOR.SGD', 'gt:p', 'gt:g', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'gt:vel', 'VERSION', v, 'GT');
  expect(await sgd('5')).toBe('OK'); // version 0 before: applied
  const after5 = await state(['gt:p', 'gt:vel']);
  expect(after5.map((x) => x[1])).toEqual([5, 5]);
  for (const v of ['5', '4', '0']) {
    expect(await sgd(v)).toBeNull();
    expect(await state(['gt:p', 'gt:vel'])).toEqual(after5);
  }
  expect(await sgd('6')).toBe('OK');
  expect(await getF32(s.r, 'gt:p')).not.toEqual(f32(after5[0][0] as Buffer));
  expect((await state(['gt:p', 'gt:vel'])).map((x) => x[1])).toEqual([6, 6]);

  const adam = (step: string, v: string) => s.r.call('TENSOR.ADAM', 'gt:p', 'gt:g', 'MKEY', 'gt:m', 'VKEY', 'gt:v', 'LR', '0.01', 'STEP', step, 'VERSION', v, 'GT');
  expect(await adam('1', '7')).toBe('OK');
  const after7 = await state(['gt:p', 'gt:m', 'gt:v']);
  expect(await adam('1', '7')).toBeNull();
  expect(await adam('2', '6')).toBeNull();
  expect(await state(['gt:p', 'gt:m', 'gt:v'])).toEqual(after7);
  // a step refused by GT creates no optimizer state either
  await s.r.call('TENSOR.SET', 'gt:q', 'FLOAT32', 'SHAPE', '3', 'BLOB', bytesOf(Float32Array.of(1, 2, 3)), 'VERSION', '9');
  expect(await s.r.call('TENSOR.SGD', 'gt:q', 'gt:g', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'gt:qvel', 'VERSION', '9', 'GT')).toBeNull();
  expect(await s.r.call('EXISTS', 'gt:qvel')).toBe(0);
  // GT refuses nothing that would be an error without it: an unfit optimizer state key is still the error
  await s.r.call('SET', 'gt:str', 'x');
  expect(await errorOf(s.r.call('TENSOR.SGD', 'gt:q', 'gt:g', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'gt:str', 'VERSION', '9', 'GT'))).toMatch(/^WRONGTYPE/);
  expect(await errorOf(s.r.call('TENSOR.ADAM', 'gt:p', 'gt:g', 'MKEY', 'gt:m', 'VKEY', 'gt:str', 'LR', '0.01', 'STEP', '1', 'VERSION', '7', 'GT'))).toMatch(/^WRONGTYPE/);
  // GT without VERSION is an error; a missing parameter stays the usual error
  expect(await errorOf(s.r.call('TENSOR.SGD', 'gt:p', 'gt:g', 'LR', '0.1', 'GT'))).toBe('ERR GT needs a VERSION');
  expect(await errorOf(s.r.call('TENSOR.ADAM', 'gt:p', 'gt:g', 'MKEY', 'gt:m', 'VKEY', 'gt:v', 'LR', '0.01', 'STEP', '3', 'GT'))).toBe('ERR GT needs a VERSION');
  expect(await errorOf(s.r.call('TENSOR.SGD', 'gt:nope', 'gt:g', 'LR', '0.1', 'VERSION', '1', 'GT'))).toMatch(/parameter key does not exist/);
});

test('VERSION errors change nothing', async () => {
  await s.r.call('TENSOR.SET', 'v:e', 'FLOAT32', 'SHAPE', '1', 'BLOB', bytesOf(Float32Array.of(1)), 'VERSION', '4');
  for (const v of ['-1', '9223372036854775808', '1.5', 'x']) {
    expect(await errorOf(s.r.call('TENSOR.SET', 'v:e', 'FLOAT32', 'SHAPE', '1', 'BLOB', 'abcd', 'VERSION', v))).toMatch(/^ERR VERSION must be an integer from 0/);
    expect(await errorOf(s.r.call('TENSOR.AVG', 'v:e', 'VERSION', v, 'v:e'))).toMatch(/^ERR VERSION must be an integer from 0/);
  }
  expect(await errorOf(s.r.call('TENSOR.ACCUM', 'v:e2', 'v:e', 'VERSION', '1', 'VERSION', '2'))).toMatch(/VERSION is given more than once/);
  expect(await errorOf(s.r.call('TENSOR.RESTORE', 'v:e', restoreHeader({ dtype: 1, shape: [1n], version: 2n ** 63n }, 4), 'abcd')))
    .toMatch(/version is too large/);
  expect(await version(s.r, 'v:e')).toBe(4);
  expect(await s.r.exists('v:e2')).toBe(0);
});

test('AVG: VERSION before the sources; a first source named VERSION needs VERSION 0 in front', async () => {
  await setF32(s.r, 'VERSION', [1], Float32Array.of(2));
  await setF32(s.r, '5', [1], Float32Array.of(4));
  expect(await s.r.call('TENSOR.AVG', 'v:old', 'VERSION', '5')).toBe('OK'); // two sources: the older form
  expect(Array.from(await getF32(s.r, 'v:old'))).toEqual([3]);
  expect(await s.r.call('TENSOR.AVG', 'v:new', 'VERSION', '0', 'VERSION', '5')).toBe('OK');
  expect(await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.AVG', 'v:new', 'VERSION', '0', 'VERSION', '5')).toEqual(['v:new', 'VERSION', '5']);
  expect(await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.AVG', 'v:old', 'VERSION', '5')).toEqual(['v:old', 'VERSION', '5']);
  expect(await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.AVG', 'v:new', 'VERSION', '3', 'a', 'b')).toEqual(['v:new', 'a', 'b']);
  const [a, b] = [await s.r.callBuffer('TENSOR.GET', 'v:old'), await s.r.callBuffer('TENSOR.GET', 'v:new')] as Buffer[];
  expect(a.equals(b)).toBe(true);
});

describe('versions travel with the value', () => {
  async function populateVersions(r: Redis): Promise<string[]> {
    await r.call('TENSOR.SET', 't:a', 'FLOAT32', 'SHAPE', '2', 'BLOB', bytesOf(Float32Array.of(1, 2)), 'VERSION', '21');
    await r.call('TENSOR.ACCUM', 't:acc', 't:a', 'VERSION', '22');
    await r.call('TENSOR.SET', 't:h', 'FLOAT16', 'SHAPE', '1', 'BLOB', bytesOf(Uint16Array.of(0x3c00)), 'VERSION', '23');
    return ['t:a', 't:acc', 't:h'];
  }
  const versions = async (r: Redis, keys: string[]) => Promise.all(keys.map((k) => version(r, k)));

  test('DEBUG RELOAD, SAVE + restart (RDB V2) and AOF rewrite + restart keep versions', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-versions-'));
    const aof = ['--appendonly', 'yes', '--aof-use-rdb-preamble', 'no'];
    let redis = await startRedis({ enableDebug: true, dir, args: aof });
    let r = client(redis);
    try {
      const keys = await populateVersions(r);
      expect(await r.call('DEBUG', 'RELOAD')).toBe('OK');
      expect(await versions(r, keys)).toEqual([21, 22, 23]);
      await r.bgrewriteaof();
      for (let i = 0; i < 200 && (await r.info('persistence')).includes('aof_rewrite_in_progress:1'); i++) {
        await new Promise((res) => setTimeout(res, 25));
      }
      await r.call('TENSOR.ACCUM', 't:acc', 't:a', 'VERSION', '24'); // after the rewrite: a replicated TENSOR.RESTORE
      expect(await r.save()).toBe('OK');
      for (const args of [aof, []]) { // the AOF, then the RDB
        r.disconnect();
        await stopChecked(redis);
        redis = await startRedis({ enableDebug: true, dir, args });
        r = client(redis);
        expect(await versions(r, keys)).toEqual([21, 24, 23]);
      }
    } finally {
      r.disconnect();
      await stopChecked(redis);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a V1 value (no version) loads as version 0; DUMP/RESTORE and COPY keep versions', async () => {
    await s.r.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '1');
    try {
      const template = await dumpTemplate(s.r);
      const v1 = modulePayload(template, tensorFields({ encver: 1, dtype: 1n, shape: [1n], data: Buffer.alloc(4) }), 1);
      expect(await s.r.call('RESTORE', 'c:v1', '0', v1)).toBe('OK');
      expect(await version(s.r, 'c:v1')).toBe(0);
    } finally {
      await s.r.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '0');
    }
    const keys = await populateVersions(s.r);
    for (const k of keys) {
      expect(await s.r.call('RESTORE', `c:${k}`, '0', (await s.r.dumpBuffer(k)) as Buffer, 'REPLACE')).toBe('OK');
      expect(await s.r.call('COPY', k, `copy:${k}`, 'REPLACE')).toBe(1);
    }
    expect(await versions(s.r, keys.map((k) => `c:${k}`))).toEqual([21, 22, 23]);
    expect(await versions(s.r, keys.map((k) => `copy:${k}`))).toEqual([21, 22, 23]);
  });

  test('a replica and MIGRATE ... COPY to a second server receive versions', async () => {
    const other = await startRedis({ enableDebug: true });
    const o = client(other);
    try {
      const keys = await populateVersions(s.r);
      expect(await s.r.call('MIGRATE', '127.0.0.1', String(other.port), '', '0', '5000', 'COPY', 'REPLACE', 'KEYS', ...keys)).toBe('OK');
      expect(await versions(o, keys)).toEqual([21, 22, 23]);
      await o.flushall();
      expect(await o.call('REPLICAOF', '127.0.0.1', String(s.redis.port))).toBe('OK');
      for (let i = 0; i < 400 && !(await o.info('replication')).includes('master_link_status:up'); i++) {
        await new Promise((res) => setTimeout(res, 25));
      }
      await s.r.call('TENSOR.ACCUM', 't:acc', 't:a', 'VERSION', '30'); // replicated as TENSOR.RESTORE
      expect(await s.r.call('WAIT', '1', '5000')).toBe(1);
      expect(await versions(o, keys)).toEqual([21, 30, 23]);
    } finally {
      o.disconnect();
      await stopChecked(other);
    }
  });
});
