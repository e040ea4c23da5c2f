// TENSOR.SPLIT and TENSOR.CAT, the sharded reduce-scatter / all-gather exchange: shard boundaries, dtypes,
// accumulator means, validation of every key before any write, replication as TENSOR.RESTORE.
import Redis from 'ioredis';
import { RunningRedis, startRedis } from '../../src/redis/launcher';
import { bytesOf, client, errorOf, f32, getF32, serverWithClient, setF32, stopChecked } from './util';

const s = serverWithClient({ args: ['--repl-diskless-sync-delay', '0'] });

const range = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1);
const meta = async (key: string) => ((await s.r.call('TENSOR.GET', key, 'META')) as unknown[]).slice(0, 4);

test('shard q holds elements [floor(n*q/N), floor(n*(q+1)/N)) of the flat source, as a 1-D tensor', async () => {
  await setF32(s.r, 'sh:src', [2, 5], range(10));
  expect(await s.r.call('TENSOR.SPLIT', 'sh:src', '3', 'sh:a', 'sh:b', 'sh:c')).toBe('OK');
  expect(Array.from(await getF32(s.r, 'sh:a'))).toEqual([1, 2, 3]);
  expect(Array.from(await getF32(s.r, 'sh:b'))).toEqual([4, 5, 6]);
  expect(Array.from(await getF32(s.r, 'sh:c'))).toEqual([7, 8, 9, 10]);
  expect(await meta('sh:c')).toEqual(['dtype', 'FLOAT32', 'shape', [4]]);
  // more shards than elements: some are empty
  expect(await s.r.call('TENSOR.SPLIT', 'sh:a', '4', 'sh:e0', 'sh:e1', 'sh:e2', 'sh:e3')).toBe('OK');
  expect(await Promise.all(['sh:e0', 'sh:e1', 'sh:e2', 'sh:e3'].map(async (k) => Array.from(await getF32(s.r, k))))).toEqual([[], [1], [2], [3]]);
  // any dtype, byte for byte
  await s.r.call('TENSOR.SET', 'sh:i8', 'INT8', 'SHAPE', '5', 'BLOB', bytesOf(Int8Array.of(-1, 2, -3, 4, -5)));
  await s.r.call('TENSOR.SPLIT', 'sh:i8', '2', 'sh:i0', 'sh:i1');
  expect(new Int8Array((await s.r.callBuffer('TENSOR.GET', 'sh:i1')) as Buffer)).toEqual(Int8Array.of(-3, 4, -5));
});

test('CAT joins flat sources of one dtype into a 1-D tensor; SPLIT then CAT gives the flat source back', async () => {
  await setF32(s.r, 'sh:big', [7, 11], range(77));
  const parts = ['sh:p0', 'sh:p1', 'sh:p2', 'sh:p3', 'sh:p4'];
  await s.r.call('TENSOR.SPLIT', 'sh:big', String(parts.length), ...parts);
  expect(await s.r.call('TENSOR.CAT', 'sh:joined', String(parts.length), ...parts)).toBe('OK');
  expect(((await s.r.callBuffer('TENSOR.GET', 'sh:joined')) as Buffer).equals((await s.r.callBuffer('TENSOR.GET', 'sh:big')) as Buffer)).toBe(true);
  expect(await meta('sh:joined')).toEqual(['dtype', 'FLOAT32', 'shape', [77]]);
  // dest may be one of its sources; a source may repeat
  await setF32(s.r, 'sh:x', [2], Float32Array.of(1, 2));
  await s.r.call('TENSOR.CAT', 'sh:x', '3', 'sh:x', 'sh:x', 'sh:p0');
  expect(Array.from(await getF32(s.r, 'sh:x'))).toEqual([1, 2, 1, 2, ...range(15)]);
});

test('an accumulator is split, and joined, as its float32 mean', async () => {
  await setF32(s.r, 'sh:g', [4], Float32Array.of(2, 4, 6, 8));
  await s.r.del('sh:acc');
  await s.r.call('TENSOR.ACCUM', 'sh:acc', 'sh:g', 'WEIGHT', '2');
  await s.r.call('TENSOR.SPLIT', 'sh:acc', '2', 'sh:m0', 'sh:m1');
  expect(Array.from(await getF32(s.r, 'sh:m1'))).toEqual([6, 8]);
  expect(await meta('sh:m1')).toEqual(['dtype', 'FLOAT32', 'shape', [2]]);
  await s.r.call('TENSOR.CAT', 'sh:mm', '2', 'sh:m0', 'sh:acc');
  expect(Array.from(await getF32(s.r, 'sh:mm'))).toEqual([2, 4, 2, 4, 6, 8]);
});

test('keys named like the option are keys: N counts them', async () => {
  await setF32(s.r, 'sh:v', [2], Float32Array.of(1, 2));
  await s.r.del('VERSION', '5');
  expect(await s.r.call('TENSOR.SPLIT', 'sh:v', '2', 'VERSION', '5')).toBe('OK');
  expect(Array.from(await getF32(s.r, '5'))).toEqual([2]);
  expect(await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.SPLIT', 'sh:v', '2', 'VERSION', '5', 'VERSION', '6')).toEqual(['sh:v', 'VERSION', '5']);
  expect(await s.r.call('TENSOR.CAT', 'sh:vv', '2', 'VERSION', '5', 'VERSION', '6')).toBe('OK');
  expect(Array.from(await getF32(s.r, 'sh:vv'))).toEqual([1, 2]);
  await s.r.del('VERSION', '5');
});

test('every key is checked before anything is written', async () => {
  await setF32(s.r, 'sh:s', [4], range(4));
  await s.r.set('sh:str', 'x');
  await s.r.del('sh:n0', 'sh:n1', 'sh:n2', 'sh:empty');
  await setF32(s.r, 'sh:keep', [1], Float32Array.of(42));
  await s.r.call('TENSOR.SET', 'sh:h', 'FLOAT16', 'SHAPE', '1', 'BLOB', bytesOf(Uint16Array.of(0x3c00)));
  await s.r.call('TENSOR.ACCUM', 'sh:empty', 'sh:s', 'WEIGHT', '0');
  const cases: Array<[string, string[], RegExp]> = [
    ['TENSOR.SPLIT', ['sh:s', '0', 'sh:n0'], /ERR N must be an integer from 1/],
    ['TENSOR.SPLIT', ['sh:s', '3', 'sh:n0', 'sh:n1'], /ERR N must be an integer from 1/],
    ['TENSOR.SPLIT', ['sh:s', 'two', 'sh:n0', 'sh:n1'], /ERR N must be an integer from 1/],
    ['TENSOR.SPLIT', ['sh:s', '2', 'sh:n0', 'sh:n0'], /ERR destination keys must be distinct/],
    ['TENSOR.SPLIT', ['sh:s', '3', 'sh:n0', 'sh:n1', 'sh:str'], /^WRONGTYPE/],
    ['TENSOR.SPLIT', ['sh:missing', '2', 'sh:n0', 'sh:n1'], /ERR source key does not exist/],
    ['TENSOR.SPLIT', ['sh:empty', '2', 'sh:n0', 'sh:n1'], /ERR source is an empty accumulator/],
    ['TENSOR.SPLIT', ['sh:s', '2', 'sh:n0', 'sh:n1', 'VERSION', 'x'], /ERR VERSION must be an integer/],
    ['TENSOR.SPLIT', ['sh:s', '2', 'sh:n0', 'sh:n1', 'sh:n2'], /ERR syntax error: 'sh:n2' is not an option here \(VERSION\)/],
    ['TENSOR.CAT', ['sh:keep', '2', 'sh:s', 'sh:missing'], /ERR source 2 does not exist/],
    ['TENSOR.CAT', ['sh:keep', '2', 'sh:s', 'sh:str'], /^WRONGTYPE/],
    ['TENSOR.CAT', ['sh:keep', '2', 'sh:s', 'sh:h'], /ERR sources have different dtypes/],
    ['TENSOR.CAT', ['sh:keep', '1', 'sh:empty'], /ERR a source is an empty accumulator/],
    ['TENSOR.CAT', ['sh:str', '1', 'sh:s'], /^WRONGTYPE/],
    ['TENSOR.CAT', ['sh:keep', '0', 'sh:s'], /ERR N must be an integer from 1/],
  ];
  for (const [cmd, args, msg] of cases) expect({ args, err: await errorOf(s.r.call(cmd, ...args)) }).toEqual({ args, err: expect.stringMatching(msg) });
  expect(await s.r.exists('sh:n0', 'sh:n1', 'sh:n2')).toBe(0);
  expect(Array.from(await getF32(s.r, 'sh:keep'))).toEqual([42]);
});

describe('replication', () => {
  let replica: RunningRedis;
  let rr: Redis;
  beforeAll(async () => {
    replica = await startRedis({ enableDebug: true });
    rr = client(replica);
  });
  afterAll(async () => {
    rr.disconnect();
    await stopChecked(replica);
  });

  test('a replica receives every shard and joined tensor (TENSOR.RESTORE)', async () => {
    expect(await rr.call('REPLICAOF', '127.0.0.1', String(s.redis.port))).toBe('OK');
    for (let i = 0; i < 400 && !(await rr.info('replication')).includes('master_link_status:up'); i++) {
      await new Promise((res) => setTimeout(res, 25));
    }
    await setF32(s.r, 'sh:r', [9], range(9));
    await s.r.call('TENSOR.SPLIT', 'sh:r', '2', 'sh:r0', 'sh:r1', 'VERSION', '3');
    await s.r.call('TENSOR.CAT', 'sh:rc', '2', 'sh:r1', 'sh:r0', 'VERSION', '4');
    expect(await s.r.call('WAIT', '1', '5000')).toBe(1);
    for (const k of ['sh:r0', 'sh:r1', 'sh:rc']) {
      expect(await rr.call('TENSOR.GET', k, 'META')).toEqual(await s.r.call('TENSOR.GET', k, 'META'));
    }
    expect(Array.from(f32((await rr.callBuffer('TENSOR.GET', 'sh:rc')) as Buffer))).toEqual([5, 6, 7, 8, 9, 1, 2, 3, 4]);
  });
});
