import Redis from 'ioredis';
import { RunningRedis, StartRedisOptions, startRedis } from '../../src/redis/launcher';
import { randomF32 } from '../random';

export function client(redis: RunningRedis): Redis {
  return redis.socketPath ? new Redis({ path: redis.socketPath, lazyConnect: false }) : new Redis(redis.port!, '127.0.0.1');
}

/** bytes of a typed array, without copying */
export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** float32 values of a reply buffer (copied: reply buffers are often not 4-byte aligned) */
export function f32(buf: Buffer): Float32Array {
  const out = new Float32Array(buf.length / 4);
  bytesOf(out).set(buf);
  return out;
}

export function u16(buf: Buffer): Uint16Array {
  const out = new Uint16Array(buf.length / 2);
  bytesOf(out).set(buf);
  return out;
}

export async function setF32(r: Redis, key: string, shape: number[], values: Float32Array): Promise<void> {
  expect(await r.call('TENSOR.SET', key, 'FLOAT32', 'SHAPE', ...shape.map(String), 'BLOB', bytesOf(values))).toBe('OK');
}

export async function getF32(r: Redis, key: string, ...opts: string[]): Promise<Float32Array> {
  return f32((await r.callBuffer('TENSOR.GET', key, 'BLOB', ...opts)) as Buffer);
}

/** the error message a command replies with (fails the test when it succeeds) */
export async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('command succeeded but an error was expected');
}

/** Stops a server; under valgrind (npm run test:valgrind) its exit code says whether memcheck found errors or leaks. */
export async function stopChecked(redis: RunningRedis): Promise<void> {
  const code = await redis.stop();
  if (process.env.SPIRT_REDIS_WRAPPER) expect(code).toBe(0);
}

/** a server and a client for one describe block */
export function serverWithClient(options: StartRedisOptions = {}) {
  const ctx: { redis?: RunningRedis; r?: Redis } = {};
  beforeAll(async () => {
    ctx.redis = await startRedis({ enableDebug: true, ...options });
    ctx.r = client(ctx.redis);
  });
  afterAll(async () => {
    ctx.r?.disconnect();
    if (ctx.redis) await stopChecked(ctx.redis);
  });
  return { get r(): Redis { return ctx.r!; }, get redis(): RunningRedis { return ctx.redis!; } };
}

export const DTYPE_CODES: Record<string, number> = { FLOAT32: 1, FLOAT64: 2, FLOAT16: 3, BFLOAT16: 4, INT8: 5, INT32: 6 };
export const DTYPE_SIZES: Record<string, number> = { FLOAT32: 4, FLOAT64: 8, FLOAT16: 2, BFLOAT16: 2, INT8: 1, INT32: 4 };

export interface RawTensor {
  dtype: number;
  shape: bigint[];
  accumulator?: boolean;
  count?: bigint;
  weightSum?: number;
  /** byte length the header announces (default: the data's) */
  nbytes?: bigint;
  /** with a version: an SPT2 header; without: the older SPT1 (no version) */
  version?: bigint;
}

/**
 * A TENSOR.RESTORE header, fields as given (valid or not): magic, dtype, ndim, flag, pad, dims, count, weight
 * sum, nbytes, and (SPT2) version.
 */
export function restoreHeader(t: RawTensor, dataLength: number): Buffer {
  const h = Buffer.alloc(8 + 8 * t.shape.length + (t.version === undefined ? 24 : 32));
  h.write(t.version === undefined ? 'SPT1' : 'SPT2');
  h[4] = t.dtype;
  h[5] = t.shape.length;
  h[6] = t.accumulator ? 1 : 0;
  t.shape.forEach((d, i) => h.writeBigUInt64LE(d, 8 + 8 * i));
  const p = 8 + 8 * t.shape.length;
  h.writeBigUInt64LE(t.count ?? 0n, p);
  h.writeDoubleLE(t.weightSum ?? 0, p + 8);
  h.writeBigUInt64LE(t.nbytes ?? BigInt(dataLength), p + 16);
  if (t.version !== undefined) h.writeBigUInt64LE(t.version, p + 24);
  return h;
}

/** Every tensor key's META agrees with its BLOB length (what a consistent database looks like). */
export async function expectConsistent(r: Redis): Promise<number> {
  let tensors = 0;
  for (const key of await r.keys('*')) {
    if ((await r.type(key)) !== 'spirt-tsr') continue;
    const meta = (await r.call('TENSOR.GET', key, 'META')) as unknown[];
    const shape = meta[3] as number[];
    const blob = (await r.callBuffer('TENSOR.GET', key)) as Buffer;
    expect({ key, bytes: blob.length }).toEqual({ key, bytes: shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[meta[1] as string] });
    tensors++;
  }
  return tensors;
}

/** a mix of every kind of value the module stores: dtypes, shapes, accumulators, optimizer state */
export async function populate(r: Redis): Promise<string[]> {
  await setF32(r, 'p', [64, 3], randomF32(192, 1));
  await setF32(r, 'g', [64, 3], randomF32(192, 2));
  await r.call('TENSOR.SET', 'h', 'FLOAT16', 'SHAPE', '4', 'BLOB', bytesOf(Uint16Array.of(0x3c00, 0x7c00, 0x7e00, 1)));
  await r.call('TENSOR.SET', 'b', 'BFLOAT16', 'SHAPE', '2', 'BLOB', bytesOf(Uint16Array.of(0x3f80, 0xff80)));
  await r.call('TENSOR.SET', 'd', 'FLOAT64', 'SHAPE', '1', '1', 'BLOB', bytesOf(Float64Array.of(Math.E)));
  await r.call('TENSOR.SET', 'i8', 'INT8', 'SHAPE', '3', 'BLOB', bytesOf(Int8Array.of(-1, 0, 1)));
  await r.call('TENSOR.SET', 'i32', 'INT32', 'SHAPE', 'BLOB', bytesOf(Int32Array.of(7)));
  await r.call('TENSOR.SET', 'empty', 'FLOAT32', 'SHAPE', '0', 'BLOB', '');
  await r.call('TENSOR.ACCUM', 'acc', 'g', 'WEIGHT', '0.25');
  await r.call('TENSOR.ACCUM', 'acc', 'p');
  await r.call('TENSOR.AVG', 'avg', 'p', 'g');
  await r.call('TENSOR.SGD', 'p', 'g', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', 'vel');
  await r.call('TENSOR.ADAM', 'p', 'acc', 'MKEY', 'm', 'VKEY', 'v', 'LR', '0.01', 'STEP', '1');
  return ['p', 'g', 'h', 'b', 'd', 'i8', 'i32', 'empty', 'acc', 'avg', 'vel', 'm', 'v'];
}

