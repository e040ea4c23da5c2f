// What the database benchmarks (`spirt bench averaging`, `spirt bench update`) share: a server and a client to
// run against, the description of the machine and the spirt that ran, timing, and where the results go.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { ArgumentError } from '../errors';
import { RunningRedis, startRedis } from '../redis/launcher';
import { replyString } from '../store/reply';
import { TensorStore } from '../store/tensorStore';
import { SupportedClient } from '../store/transport';
import { xorshift32 } from '../random';
import { simd } from '../kernels';
import { spirtVersion } from '../version';

export const RESNET18_PARAMS = 11_690_000;

export type BenchClient = 'ioredis' | 'redis';

/** Options every database benchmark takes. */
export interface DatabaseBenchOptions {
  client?: BenchClient;
  /** timed runs after a warm-up, median reported */
  reps?: number;
  /** an existing server with the module (default: a private embedded one) */
  url?: string;
  /** where the JSON and SVG go (default ./spirt-bench) */
  outDir?: string;
  /** progress lines (default: stderr) */
  log?: (line: string) => void;
}

/** Who ran a benchmark, and where: recorded in every result file. */
export interface BenchEnvironment {
  date: string;
  /** the spirt that ran it, and the SIMD path of its kernels (client-side work; an embedded server's module
   * picks the same one, SPIRT_SIMD included) */
  spirt: { version: string; simd: string };
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string; node: string; redis: string };
  client: string;
  reps: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A parameter count as the tables print it: millions with two decimals, or the count itself below 10,000. */
export const fmtParams = (n: number) => (n < 10_000 ? String(n) : `${(n / 1e6).toFixed(2)}M`);

/** How much less time `ms` took than `baselineMs`, in percent (negative when it took more). */
export function percentLess(ms: number, baselineMs: number): number {
  return (1 - ms / baselineMs) * 100;
}

/** A percentLess figure in words: "98.3% less time", or "155.9% more time" when a noisy run made it slower. */
export function timeSaved(pct: number): string {
  return pct >= 0 ? `${pct.toFixed(1)}% less time` : `${(-pct).toFixed(1)}% more time`;
}

/** Milliseconds that `run` took. */
export async function elapsedMs(run: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Deterministic gradient-like values (xorshift), so runs are comparable. */
export function syntheticGradient(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  const next = xorshift32(seed);
  for (let i = 0; i < n; i++) out[i] = (next() / 4294967296 - 0.5) * 0.02;
  return out;
}

/** Refuses a size, count or rep number that is not a positive integer, naming its option. */
export function requirePositiveIntegers(values: readonly number[], option: string): void {
  for (const v of values) if (!Number.isInteger(v) || v < 1) throw new ArgumentError('ERR_ARGUMENT', `--${option}: ${v} is not a positive integer`);
}

async function openClient(kind: BenchClient, redis: { url: string; socketPath?: string }) {
  if (kind === 'ioredis') {
    const c = redis.socketPath ? new Redis({ path: redis.socketPath }) : new Redis(redis.url);
    return { client: c as unknown as SupportedClient, close: async () => void c.disconnect() };
  }
  let mod: typeof import('@redis/client');
  try {
    mod = require('@redis/client');
  } catch {
    throw new ArgumentError('ERR_CLIENT', "--client redis needs the '@redis/client' package (npm install @redis/client)");
  }
  const c = mod.createClient(redis.socketPath ? { socket: { path: redis.socketPath, tls: false as const } } : { url: redis.url });
  await c.connect();
  return { client: c as unknown as SupportedClient, close: async () => void (await c.close()) };
}

/**
 * Runs `bench` with a store on `o.url`, or on a private redis-server with the module started for it, and the
 * environment it runs in; closes the client and stops the private server however it ends.
 */
export async function withBenchStore<T>(o: DatabaseBenchOptions & { reps: number }, commandTimeoutMs: number,
  bench: (store: TensorStore, env: BenchEnvironment, log: (line: string) => void) => Promise<T>): Promise<T> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const clientKind = o.client ?? 'ioredis';
  let embedded: RunningRedis | undefined;
  if (!o.url) {
    log('starting a private redis-server with the spirt module...');
    embedded = await startRedis();
  }
  let close: (() => Promise<void>) | undefined;
  let store: TensorStore | undefined;
  try {
    const opened = await openClient(clientKind, embedded ?? { url: o.url! });
    close = opened.close;
    store = new TensorStore(opened.client, { commandTimeoutMs });
    const info = replyString(await store.command('INFO', 'server'));
    const env: BenchEnvironment = {
      date: new Date().toISOString(),
      spirt: { version: spirtVersion, simd: simd.path },
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        platform: `${os.platform()} ${os.arch()}`, node: process.version, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
      },
      client: clientKind, reps: o.reps,
    };
    return await bench(store, env, log);
  } finally {
    await store?.close();
    await close?.();
    await embedded?.stop();
  }
}

/** The paths of a benchmark's JSON and SVG in `outDir` (created), named after the benchmark. */
export function resultFiles(outDir: string, name: string): { json: string; svg: string } {
  const dir = path.resolve(outDir);
  fs.mkdirSync(dir, { recursive: true });
  return { json: path.join(dir, `${name}.json`), svg: path.join(dir, `${name}.svg`) };
}

/** One line that says where a result was measured, for the CLI's output. */
export function environmentLine(r: BenchEnvironment): string {
  const m = r.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}, Redis ${m.redis}, ` +
    `client ${r.client}, spirt ${r.spirt.version} (${r.spirt.simd})`;
}
