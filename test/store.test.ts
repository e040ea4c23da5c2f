// TensorStore over both client libraries, the three averaging strategies, and a real Redis Cluster.
import Redis, { Cluster } from 'ioredis';
import { createClient, createCluster } from '@redis/client';
import { TensorStore } from '../src/store/tensorStore';
import { AVERAGING_STRATEGIES, averageGradients, readAverage, storeGradient } from '../src/store/averaging';
import { SupportedClient } from '../src/store/transport';
import { RunningRedis, startRedis } from '../src/redis/launcher';
import { ArgumentError, TensorCommandError } from '../src/errors';
import { Tensor, tensor } from '../src/tensor';
import { TensorMeta } from '../src/store/reply';
import * as COMMANDS from '../src/store/commands';
import { encodeTensor } from '../src/wire';
import * as ref from '../src/reference';
import { expectClose, randomF32 } from './random';

type Kind = 'ioredis' | 'node-redis';

async function connectClient(kind: Kind, redis: RunningRedis): Promise<{ client: SupportedClient; close: () => Promise<void> }> {
  if (kind === 'ioredis') {
    const c = new Redis(redis.port!, '127.0.0.1');
    return { client: c as unknown as SupportedClient, close: async () => void c.disconnect() };
  }
  const c = createClient({ socket: { host: '127.0.0.1', port: redis.port! } });
  await c.connect();
  return { client: c as unknown as SupportedClient, close: async () => void (await c.close()) };
}

async function expectCommandError(p: Promise<unknown>, code: string, message: RegExp, command: string) {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(TensorCommandError);
  expect((e as TensorCommandError).code).toBe(code);
  expect((e as TensorCommandError).message).toMatch(message);
  expect((e as TensorCommandError).command).toBe(command);
}

let redis: RunningRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe.each<Kind>(['ioredis', 'node-redis'])('TensorStore over %s', (kind) => {
  let store: TensorStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const c = await connectClient(kind, redis);
    store = new TensorStore(c.client);
    close = c.close;
    expect(store.clientKind).toBe(kind);
  });
  afterAll(async () => {
    await store.close(); // leaves a client it did not open alone
    await close();
  });
  const k = (name: string) => `${kind}:${name}`;

  test('set/get round-trip every dtype, shape included', async () => {
    const samples = [
      tensor('float32', [2, 3], Float32Array.of(1, 2, 3, 4, 5, -6.5)),
      tensor('float64', [1], Float64Array.of(Math.PI)),
      tensor('float16', [2], Uint16Array.of(0x3c00, 0x7c00)),
      tensor('bfloat16', [2, 1], Uint16Array.of(0x3f80, 1)),
      tensor('int8', [3], Int8Array.of(-128, 0, 127)),
      tensor('int32', [], Int32Array.of(-5)),
    ];
    for (const t of samples) {
      await store.set(k(t.dtype), t);
      const back = await store.get(k(t.dtype));
      expect(back!.dtype).toBe(t.dtype);
      expect(back!.shape).toEqual(t.shape);
      expect(Array.from(back!.data)).toEqual(Array.from(t.data));
      expect(await store.meta(k(t.dtype))).toEqual({ dtype: t.dtype, shape: t.shape, version: 0 });
    }
    expect(await store.get(k('missing'))).toBeNull();
    expect(await store.meta(k('missing'))).toBeNull();
  });

  test('binary replies survive intact whatever their alignment', async () => {
    const values = randomF32(100_003, 5);
    await store.set(k('big'), tensor('float32', [values.length], values));
    const blob = (await store.getBlob(k('big')))!;
    expect(blob.equals(Buffer.from(values.buffer))).toBe(true);
    const t = (await store.get(k('big')))!;
    expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(values.buffer))).toBe(true);
  });

  test('setEncoded stores a protobuf tensor from another function', async () => {
    await store.setEncoded(k('proto'), encodeTensor(tensor('int32', [2], Int32Array.of(7, -7))));
    expect(Array.from((await store.get(k('proto')))!.data)).toEqual([7, -7]);
  });

  test('avg, accum, sgd and adam match the reference', async () => {
    const n = 513;
    const g = [randomF32(n, 1), randomF32(n, 2), randomF32(n, 3)];
    for (let j = 0; j < 3; j++) await store.set(k(`g${j}`), tensor('float32', [n], g[j]));
    await store.avg(k('avg'), [k('g0'), k('g1'), k('g2')]);
    expectClose((await store.get(k('avg')))!.data as Float32Array, ref.mean(g, new Float32Array(n)), 1e-6, 1e-7);

    await store.command('DEL', k('acc'));
    expect(await store.accum(k('acc'), k('g0'))).toBe(1);
    expect(await store.accum(k('acc'), k('g1'), 3)).toBe(2);
    expect(await store.meta(k('acc'))).toEqual({ dtype: 'float32', shape: [n], accumulator: { count: 2, weightSum: 4 }, version: 0 });
    const wmean = ref.weightedSum([g[0], g[1]], [0.25, 0.75], new Float32Array(n));
    expectClose((await store.get(k('acc'), { mean: true }))!.data as Float32Array, wmean, 1e-6, 1e-6);

    const p0 = randomF32(n, 9);
    await store.set(k('p'), tensor('float32', [n], p0));
    await store.command('DEL', k('vel'), k('m'), k('v'));
    const pr = Float32Array.from(p0), vel = new Float32Array(n);
    await store.sgd(k('p'), k('g0'), { lr: 0.1, momentum: 0.9, velocityKey: k('vel'), nesterov: true, weightDecay: 0.01 });
    ref.sgdStep(pr, g[0], { lr: 0.1, momentum: 0.9, velocity: vel, nesterov: true, weightDecay: 0.01 });
    expectClose((await store.get(k('p')))!.data as Float32Array, pr, 1e-5, 1e-6);
    const st = { m: new Float32Array(n), v: new Float32Array(n) };
    await store.adam(k('p'), k('g1'), { mKey: k('m'), vKey: k('v'), lr: 0.01, weightDecay: 0.1, decoupled: true, step: 1 });
    ref.adamStep(pr, g[1], st, { lr: 0.01, weightDecay: 0.1, decoupled: true, step: 1 });
    expectClose((await store.get(k('p')))!.data as Float32Array, pr, 1e-5, 1e-6);

    // versioned steps: onlyIfNewer (GT) applies a step once, and says whether it did
    expect(await store.sgd(k('p'), k('g0'), { lr: 0.1, momentum: 0.9, velocityKey: k('vel'), version: 3, onlyIfNewer: true })).toBe(true);
    const once = await store.getBlob(k('p'));
    expect(await store.sgd(k('p'), k('g0'), { lr: 0.1, momentum: 0.9, velocityKey: k('vel'), version: 3, onlyIfNewer: true })).toBe(false);
    expect(await store.adam(k('p'), k('g1'), { mKey: k('m'), vKey: k('v'), lr: 0.01, step: 2, version: 2, onlyIfNewer: true })).toBe(false);
    expect(await store.getBlob(k('p'))).toEqual(once);
    expect((await store.meta(k('p')))!.version).toBe(3);
    expect(await store.adam(k('p'), k('g1'), { mKey: k('m'), vKey: k('v'), lr: 0.01, step: 2, version: 4 })).toBe(true);
  });

  test('module errors arrive as typed TensorCommandError', async () => {
    await store.set(k('a'), tensor('float32', [2], Float32Array.of(1, 2)));
    await store.set(k('b'), tensor('float32', [3], Float32Array.of(1, 2, 3)));
    await expectCommandError(store.avg(k('c'), [k('a'), k('b')]), 'ERR', /different shapes/, 'TENSOR.AVG');
    await expectCommandError(store.sgd(k('a'), k('nope'), { lr: 1 }), 'ERR', /gradient key does not exist/, 'TENSOR.SGD');
    await store.command('SET', k('str'), 'x');
    await expectCommandError(store.get(k('str')), 'WRONGTYPE', /wrong kind of value/, 'TENSOR.GET');
    await expectCommandError(store.accum(k('a'), k('b')), 'ERR', /not an accumulator/, 'TENSOR.ACCUM');
  });

  test('bad arguments are refused before anything is sent', async () => {
    await expect(store.sgd(k('a'), k('a2'), { lr: -1 })).rejects.toThrow(ArgumentError);
    await expect(store.sgd(k('a'), k('a2'), { lr: 1, momentum: 0.9 })).rejects.toThrow(/velocityKey/);
    await expect(store.sgd(k('a'), k('a2'), { lr: 1, onlyIfNewer: true })).rejects.toThrow(/onlyIfNewer needs a version/);
    await expect(store.sgd(k('a'), k('a2'), { lr: 1, version: -1 })).rejects.toThrow(/version must be an integer >= 0/);
    await expect(store.adam(k('a'), k('b'), { mKey: 'm', vKey: 'v', lr: 1, step: 0 })).rejects.toThrow(/step must be an integer/);
    await expect(store.accum(k('a'), k('b'), NaN)).rejects.toThrow(/weight must be a finite number/);
    await expect(store.avg(k('a'), [])).rejects.toThrow(/at least one source/);
    await expect(store.set(k('a'), { dtype: 'float32', shape: [3], data: new Float32Array(2) })).rejects.toThrow(/does not hold 2 elements/);
  });

  test('a pipeline sends everything in one round trip and settles each command on its own', async () => {
    const p = store.pipeline()
      .set(k('x'), tensor('float32', [2], Float32Array.of(2, 4)))
      .set(k('y'), tensor('float32', [2], Float32Array.of(4, 8)))
      .avg(k('xy'), [k('x'), k('y')])
      .avg(k('bad'), [k('x'), k('missing')])
      .getBlob(k('xy'))
      .meta(k('xy'));
    expect(p.length).toBe(6);
    const [s1, s2, a, bad, blob, meta] = await p.exec();
    expect([s1, s2, a]).toEqual([undefined, undefined, undefined]);
    expect(bad).toBeInstanceOf(TensorCommandError);
    expect((bad as TensorCommandError).message).toMatch(/source 2 does not exist/);
    if (!Buffer.isBuffer(blob)) throw new Error('expected the averaged bytes');
    expect(Array.from(new Float32Array(Uint8Array.from(blob).buffer))).toEqual([3, 6]);
    // exec() is typed per queued command (npm run typecheck checks these lines)
    const typedMeta: TensorMeta | null | Error = meta;
    // @ts-expect-error a getBlob result is a Buffer, null or an Error, not a tensor
    const notATensor: Tensor = blob;
    expect([typedMeta, notATensor]).toEqual([{ dtype: 'float32', shape: [2], version: 0 }, blob]);
  });

  test('every command of the table is a method of both the store and the pipeline', async () => {
    const names = Object.keys(COMMANDS);
    expect(names.sort()).toEqual(['accum', 'adam', 'agg', 'avg', 'get', 'getBlob', 'meta', 'set', 'setEncoded', 'setSigned', 'sgd']);
    const p = store.pipeline();
    for (const name of names) {
      expect(typeof (store as unknown as Record<string, unknown>)[name]).toBe('function');
      expect(typeof (p as unknown as Record<string, unknown>)[name]).toBe('function');
    }
    // a method sends its command's name with the arguments its file builds
    await store.set(k('t'), tensor('float32', [1], Float32Array.of(5)));
    const [m, g] = await store.pipeline().meta(k('t')).get(k('t')).exec();
    expect(m).toEqual(await store.meta(k('t')));
    expect(Array.from((g as Tensor).data)).toEqual([5]);
  });

  test.each(AVERAGING_STRATEGIES.map((s) => [s]))('strategy %s averages like the reference', async (strategy) => {
    const n = 20_000;
    const grads = [randomF32(n, 11), randomF32(n, 12), randomF32(n, 13), randomF32(n, 14)];
    const keys = grads.map((_, j) => k(`${strategy}:g${j}`));
    for (let j = 0; j < grads.length; j++) await storeGradient(store, keys[j], grads[j], strategy);
    await averageGradients(store, strategy, k(`${strategy}:mean`), keys);
    const got = await readAverage(store, k(`${strategy}:mean`), strategy);
    expectClose(got, ref.mean(grads, new Float32Array(n)), 1e-6, 1e-7, strategy);
  });
});

test('TensorStore.connect opens and closes its own ioredis connection (TCP and unix socket)', async () => {
  const store = await TensorStore.connect(redis.url);
  await store.set('own', tensor('float32', [1], Float32Array.of(3)));
  expect(Array.from((await store.get('own'))!.data)).toEqual([3]);
  await store.close();
  await expect(store.get('own')).rejects.toThrow();
  const unix = await startRedis({ unixSocket: true });
  try {
    const s2 = await TensorStore.connect(unix.url);
    await s2.set('u', tensor('int8', [1], Int8Array.of(1)));
    expect((await s2.meta('u'))!.dtype).toBe('int8');
    await s2.close();
  } finally {
    await unix.stop();
  }
});

test('an object that is not a Redis client is refused', () => {
  expect(() => new TensorStore({} as SupportedClient)).toThrow(/expected an ioredis client/);
});

describe('Redis Cluster (3 masters)', () => {
  const nodes: RunningRedis[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }));
    }
    const admin = nodes.map((n) => new Redis(n.port!, '127.0.0.1'));
    try {
      const ranges = [[0, 5460], [5461, 10922], [10923, 16383]];
      for (let i = 0; i < 3; i++) await admin[i].call('CLUSTER', 'ADDSLOTSRANGE', String(ranges[i][0]), String(ranges[i][1]));
      for (let i = 1; i < 3; i++) await admin[i].call('CLUSTER', 'MEET', '127.0.0.1', String(nodes[0].port));
      for (let t = 0; t < 400; t++) {
        const states = await Promise.all(admin.map((a) => a.call('CLUSTER', 'INFO') as Promise<string>));
        if (states.every((s) => s.includes('cluster_state:ok') && s.includes('cluster_known_nodes:3'))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      admin.forEach((a) => a.disconnect());
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });

  async function exercise(store: TensorStore) {
    // keys spread over the slots of all three masters; hash tags keep each peer's keys together
    for (const peer of ['peer1', 'peer2', 'peer3', 'peer4', 'peer5']) {
      const key = (s: string) => `{${peer}}:${s}`;
      await store.set(key('g0'), tensor('float32', [3], Float32Array.of(1, 2, 3)));
      await store.set(key('g1'), tensor('float32', [3], Float32Array.of(3, 4, 5)));
      await store.avg(key('mean'), [key('g0'), key('g1')]);
      expect(await store.agg(key('krum'), 'krum', [key('g1'), key('g0'), key('g1')], { f: 0, version: 2 })).toEqual([0]);
      await store.set(key('p'), tensor('float32', [3], Float32Array.of(0, 0, 0)));
      await store.sgd(key('p'), key('mean'), { lr: 1, momentum: 0.5, velocityKey: key('vel') });
      await store.adam(key('p'), key('mean'), { mKey: key('m'), vKey: key('v'), lr: 0.1, step: 1 });
      expect(Array.from((await store.get(key('mean')))!.data)).toEqual([2, 3, 4]);
      expect((await store.meta(key('m')))!.shape).toEqual([3]);
    }
    // keys in different slots are refused by the cluster, as for any multi-key command
    await expect(store.avg('{peer1}:x', ['{peer2}:g0'])).rejects.toThrow(/CROSSSLOT/);
  }

  test('ioredis Cluster routes every TENSOR command by its keys', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: nodes[0].port! }]);
    try {
      await exercise(new TensorStore(cluster as unknown as SupportedClient));
    } finally {
      cluster.disconnect();
    }
  });

  test('node-redis createCluster routes every TENSOR command by its keys', async () => {
    const cluster = createCluster({ rootNodes: [{ socket: { host: '127.0.0.1', port: nodes[0].port! } }] });
    await cluster.connect();
    try {
      const store = new TensorStore(cluster as unknown as SupportedClient);
      expect(store.clientKind).toBe('node-redis-cluster');
      await exercise(store);
    } finally {
      await cluster.close();
    }
  });
});
