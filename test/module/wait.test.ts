// TENSOR.WAIT: a waiter on one connection blocks (RedisModule_BlockClientOnKeys) until every key holds a
// tensor of at least the version, and wakes when another connection or server publishes it, whichever way
// the key changes; a timeout gives nil; MULTI and Lua get the current state; a disconnect leaks nothing.
import Redis from 'ioredis';
import { RunningRedis, startRedis } from '../../src/redis/launcher';
import { bytesOf, client, errorOf, restoreHeader, serverWithClient, stopChecked } from './util';

const s = serverWithClient();
let waiter: Redis;
let other: RunningRedis;
let o: Redis;

beforeAll(async () => {
  waiter = client(s.redis);
  other = await startRedis();
  o = client(other);
});
afterAll(async () => {
  waiter.disconnect();
  o.disconnect();
  await stopChecked(other);
});

async function blockedClients(): Promise<number> {
  return Number(/blocked_clients:(\d+)/.exec(await s.r.info('clients'))![1]);
}

/** Resolves once `count` clients are blocked (bounded: 5 s). */
async function untilBlocked(count: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await blockedClients()) === count) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`expected ${count} blocked clients, have ${await blockedClients()}`);
}

/** Starts a wait on the waiter connection; resolves once it has blocked, with its reply to come (wrapped: an
 * async function would otherwise wait for the reply itself). */
async function waitFor(version: number, ...keys: string[]): Promise<{ reply: Promise<unknown> }> {
  const reply = waiter.call('TENSOR.WAIT', 'TIMEOUT', '5000', 'VERSION', String(version), ...keys);
  await untilBlocked(1);
  return { reply };
}

const one = bytesOf(Float32Array.of(1, 2));
const set = (r: Redis, key: string, version: number) => r.call('TENSOR.SET', key, 'FLOAT32', 'SHAPE', '2', 'BLOB', one, 'VERSION', String(version));

test('replies at once with the versions when every key is there', async () => {
  await set(s.r, 'w:a', 3);
  await set(s.r, 'w:b', 5);
  expect(await s.r.call('TENSOR.WAIT', 'TIMEOUT', '0', 'VERSION', '3', 'w:a', 'w:b')).toEqual([3, 5]);
  expect(await s.r.call('TENSOR.WAIT', 'VERSION', '0', 'TIMEOUT', '10', 'w:a')).toEqual([3]);
});

test('a timeout replies nil', async () => {
  const started = Date.now();
  expect(await waiter.call('TENSOR.WAIT', 'TIMEOUT', '50', 'VERSION', '4', 'w:a', 'w:none')).toBeNull();
  expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  expect(await blockedClients()).toBe(0);
});

test('wakes when the last key reaches the version, not before', async () => {
  await s.r.del('w:x', 'w:y');
  const { reply } = await waitFor(10, 'w:x', 'w:y');
  await set(s.r, 'w:x', 10);
  await set(s.r, 'w:y', 9); // too old
  await s.r.ping();
  expect(await blockedClients()).toBe(1);
  await set(s.r, 'w:y', 12);
  expect(await reply).toEqual([10, 12]);
});

test('TIMEOUT 0 waits without a limit', async () => {
  await s.r.del('w:forever');
  const reply = waiter.call('TENSOR.WAIT', 'TIMEOUT', '0', 'VERSION', '1', 'w:forever');
  await untilBlocked(1);
  await set(s.r, 'w:forever', 1);
  expect(await reply).toEqual([1]);
});

describe('wakes on every way a key changes', () => {
  const header = (version: bigint) => restoreHeader({ dtype: 1, shape: [2n], version }, 8);
  const cases: Array<[string, string, () => Promise<unknown>]> = [
    ['TENSOR.SET creating the key', 'w:new', () => set(s.r, 'w:new', 7)],
    ['TENSOR.RESTORE', 'w:restored', () => s.r.call('TENSOR.RESTORE', 'w:restored', header(7n), one)],
    ['RESTORE of a DUMP', 'w:dumped', async () => {
      await set(o, 'src', 7);
      return s.r.call('RESTORE', 'w:dumped', '0', (await o.dumpBuffer('src')) as Buffer);
    }],
    ['MIGRATE ... COPY from another server', 'w:migrated', async () => {
      await set(o, 'w:migrated', 7);
      return o.call('MIGRATE', '127.0.0.1', String(s.redis.port), 'w:migrated', '0', '5000', 'COPY');
    }],
    ['COPY', 'w:copied', async () => {
      await set(s.r, 'w:copysrc', 7);
      return s.r.call('COPY', 'w:copysrc', 'w:copied');
    }],
    ['AVG in place', 'w:avg', async () => s.r.call('TENSOR.AVG', 'w:avg', 'VERSION', '7', 'w:a', 'w:b')],
    ['ACCUM', 'w:acc', () => s.r.call('TENSOR.ACCUM', 'w:acc', 'w:a', 'VERSION', '7')],
    ['SGD (parameter)', 'w:p', () => s.r.call('TENSOR.SGD', 'w:p', 'w:a', 'LR', '0.1', 'MOMENTUM', '0.5', 'VELOCITY', 'w:vel', 'VERSION', '7')],
    ['SGD (velocity)', 'w:vel', () => s.r.call('TENSOR.SGD', 'w:p', 'w:a', 'LR', '0.1', 'MOMENTUM', '0.5', 'VELOCITY', 'w:vel', 'VERSION', '7')],
    ['ADAM (second moment)', 'w:v', () => s.r.call('TENSOR.ADAM', 'w:p', 'w:a', 'MKEY', 'w:m', 'VKEY', 'w:v', 'LR', '0.1', 'STEP', '1', 'VERSION', '7')],
    ['SPLIT', 'w:s1', () => s.r.call('TENSOR.SPLIT', 'w:p', '2', 'w:s0', 'w:s1', 'VERSION', '7')],
    ['CAT', 'w:cat', () => s.r.call('TENSOR.CAT', 'w:cat', '2', 'w:a', 'w:b', 'VERSION', '7')],
  ];
  test.each(cases)('%s', async (_how, key, publish) => {
    if (key === 'w:avg' || key === 'w:acc' || key === 'w:p' || key === 'w:vel' || key === 'w:v' || key === 'w:cat') {
      // in-place changes: the key exists with an older version
      await s.r.del('w:acc', 'w:vel', 'w:m', 'w:v');
      await set(s.r, 'w:avg', 1);
      await set(s.r, 'w:p', 1);
      await set(s.r, 'w:cat', 1);
      if (key === 'w:acc') await s.r.call('TENSOR.ACCUM', 'w:acc', 'w:a', 'VERSION', '1');
      if (key === 'w:vel') await s.r.call('TENSOR.SGD', 'w:p', 'w:a', 'LR', '0.1', 'MOMENTUM', '0.5', 'VELOCITY', 'w:vel', 'VERSION', '1');
      if (key === 'w:v') await s.r.call('TENSOR.ADAM', 'w:p', 'w:a', 'MKEY', 'w:m', 'VKEY', 'w:v', 'LR', '0.1', 'STEP', '1', 'VERSION', '1');
    } else {
      await s.r.del(key);
    }
    const { reply } = await waitFor(7, key);
    await publish();
    expect(await reply).toEqual([7]);
  });
});

test('a key of another type: WRONGTYPE', async () => {
  await s.r.set('w:str', 'x');
  expect(await errorOf(s.r.call('TENSOR.WAIT', 'TIMEOUT', '10', 'VERSION', '0', 'w:a', 'w:str'))).toMatch(/^WRONGTYPE/);
});

test('inside MULTI and Lua it cannot block: the current state, or nil', async () => {
  await set(s.r, 'w:m1', 4);
  await s.r.del('w:m2');
  const tx = await s.r.multi()
    .call('TENSOR.WAIT', 'TIMEOUT', '0', 'VERSION', '4', 'w:m1')
    .call('TENSOR.WAIT', 'TIMEOUT', '0', 'VERSION', '4', 'w:m1', 'w:m2')
    .exec();
  expect(tx!.map(([e, v]) => e ?? v)).toEqual([[4], null]);
  const lua = "return {redis.call('TENSOR.WAIT', 'TIMEOUT', '0', 'VERSION', ARGV[1], KEYS[1])}";
  expect(await s.r.eval(lua, 1, 'w:m1', '4')).toEqual([[4]]);
  expect(await s.r.eval(lua, 1, 'w:m1', '5')).toEqual([null]); // nil is false in Lua, null again in the reply
});

test('a client that disconnects while blocked is released', async () => {
  const gone = client(s.redis);
  const reply = gone.call('TENSOR.WAIT', 'TIMEOUT', '0', 'VERSION', '99', 'w:never').catch((e: Error) => e.message);
  await untilBlocked(1);
  gone.disconnect();
  await untilBlocked(0);
  await reply;
  await set(s.r, 'w:never', 99); // signals a key nobody waits on any more
  expect(await s.r.ping()).toBe('PONG');
});

test('argument errors', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['TIMEOUT', '10', 'VERSION', '1'], /wrong number of arguments/],
    [['TIMEOUT', '10', 'w:a', 'w:b', 'w:c'], /ERR syntax error: 'w:a' is not an option here \(TIMEOUT, VERSION\)/],
    [['TIMEOUT', '-1', 'VERSION', '1', 'w:a'], /ERR TIMEOUT must be 0/],
    [['TIMEOUT', '1000000000001', 'VERSION', '1', 'w:a'], /ERR TIMEOUT must be 0/],
    [['TIMEOUT', '1', 'VERSION', '-2', 'w:a'], /ERR VERSION must be an integer from 0/],
    [['TIMEOUT', '1', 'TIMEOUT', '2', 'w:a'], /ERR TIMEOUT is given more than once/],
  ];
  for (const [args, msg] of cases) expect(await errorOf(s.r.call('TENSOR.WAIT', ...args))).toMatch(msg);
  // keys named like the options are keys: they follow the two options
  await set(s.r, 'VERSION', 2);
  expect(await s.r.call('TENSOR.WAIT', 'TIMEOUT', '1', 'VERSION', '2', 'VERSION')).toEqual([2]);
  expect(await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.WAIT', 'TIMEOUT', '1', 'VERSION', '2', 'VERSION', 'TIMEOUT')).toEqual(['VERSION', 'TIMEOUT']);
});
