import Redis from 'ioredis';
import { RunningRedis, StartRedisOptions, startRedis } from '../../src/redis/launcher';

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
