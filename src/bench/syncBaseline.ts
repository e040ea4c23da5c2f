// The SPIRT-faithful synchronisation `spirt bench scaling` runs beside spirt's, on the same peer databases: each
// peer publishes its gradient as a JSON list into its own database, waits for every other peer's with a polling
// barrier (SPIRT's 100 ms interval), pulls every other peer's list into its database (all-to-all), averages them
// with a Lua script and applies SGD with momentum with another Lua script on JSON parameters. One worker thread
// per peer, so that the peers' JSON work runs in parallel as separate peers' would. The same worker file also
// sends the loopback-bandwidth stream.
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { averageGradients, storeGradient } from '../store/averaging';
import { replyBuffer } from '../store/reply';
import { TensorStore } from '../store/tensorStore';
import { syntheticModel } from './syntheticModel';

/** SPIRT's barrier polled the other peers' databases every 100 ms. */
export const SPIRT_POLL_MS = 100;

/** p -= lr * v after v = momentum * v + g (the first step: v = g), on JSON lists, as torch.optim.SGD does. */
export const LUA_SGD_SCRIPT = `
local p = cjson.decode(redis.call('GET', KEYS[1]))
local g = cjson.decode(redis.call('GET', KEYS[2]))
local lr, momentum = tonumber(ARGV[1]), tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[3])
local v
if stored then
  v = cjson.decode(stored)
  for i = 1, #p do v[i] = momentum * v[i] + g[i] end
else
  v = g
end
for i = 1, #p do p[i] = p[i] - lr * v[i] end
redis.call('SET', KEYS[1], cjson.encode(p))
redis.call('SET', KEYS[3], cjson.encode(v))
return #p
`;

/** Milliseconds of one baseline step, by phase (publish is the gradient function's output, not synchronisation). */
export interface BaselineStepTimes {
  publish: number;
  exchange: number;
  aggregate: number;
  update: number;
  wait: number;
}

export interface BaselinePeerResult {
  peer: number;
  steps: BaselineStepTimes[];
  /** JSON bytes this peer pulled from the others, per step */
  bytesPulledPerStep: number;
  /** sha256 of the final JSON parameters */
  digest: string;
}

interface BaselineJob {
  kind: 'baseline';
  peer: number;
  urls: string[];
  params: number;
  steps: number;
  pollMs: number;
  lr: number;
  momentum: number;
}

interface LoopbackJob {
  kind: 'loopback';
  port: number;
  bytes: number;
}

const tag = (i: number) => `{peer${i}}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Redis busy with another peer's Lua script answers BUSY: the caller retries at the poll interval, as SPIRT's loop would. */
async function untilNotBusy<T>(pollMs: number, run: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await run();
    } catch (e) {
      if (!/BUSY/.test((e as Error).message)) throw e;
      await sleep(pollMs);
    }
  }
}

async function evalScript(store: TensorStore, script: string, keys: string[], args: string[]): Promise<void> {
  await store.command('EVAL', script, String(keys.length), ...keys, ...args);
}

async function baselinePeer(job: BaselineJob): Promise<BaselinePeerResult> {
  const { peer, urls, pollMs } = job;
  const stores = await Promise.all(urls.map((url) => TensorStore.connect(url, { commandTimeoutMs: 30 * 60_000 })));
  const own = stores[peer];
  const others = urls.map((_, j) => j).filter((j) => j !== peer);
  const model = syntheticModel(job.params);
  const k = {
    grad: (j: number, s: number) => `${tag(j)}:json:grad:${s}`,
    step: (j: number) => `${tag(j)}:json:step`,
    pulled: (j: number) => `${tag(peer)}:json:from:${j}`,
    avg: `${tag(peer)}:json:avg`, params: `${tag(peer)}:json:params`, velocity: `${tag(peer)}:json:velocity`,
  };
  try {
    await storeGradient(own, k.params, model.initParams(1), 'lua');
    const steps: BaselineStepTimes[] = [];
    let bytesPulledPerStep = 0;
    for (let s = 0; s < job.steps; s++) {
      const { grad } = await model.gradient(new Float32Array(0), []);
      let t = performance.now();
      const lap = () => {
        const now = performance.now(), ms = now - t;
        t = now;
        return ms;
      };
      await storeGradient(own, k.grad(peer, s), grad, 'lua');
      await own.command('SET', k.step(peer), String(s));
      const publish = lap();
      // the barrier: every other peer's step key, polled until it reaches s
      for (const j of others) {
        while (Number(replyBuffer(await untilNotBusy(pollMs, () => stores[j].command('GET', k.step(j))))?.toString() ?? -1) < s) await sleep(pollMs);
      }
      const wait = lap();
      // everyone is past step s-1's barrier, so nobody pulls that gradient any more
      if (s > 0) await own.command('DEL', k.grad(peer, s - 1));
      bytesPulledPerStep = 0;
      await Promise.all(others.map(async (j) => {
        const json = replyBuffer(await untilNotBusy(pollMs, () => stores[j].command('GET', k.grad(j, s))));
        if (!json) throw new Error(`peer ${j}'s gradient of step ${s} is missing`);
        bytesPulledPerStep += json.length;
        await own.command('SET', k.pulled(j), json);
      }));
      const exchange = lap();
      const sources = urls.map((_, j) => (j === peer ? k.grad(peer, s) : k.pulled(j)));
      await averageGradients(own, 'lua', k.avg, sources);
      const aggregate = lap();
      await evalScript(own, LUA_SGD_SCRIPT, [k.params, k.avg, k.velocity], [String(job.lr), String(job.momentum)]);
      const update = lap();
      steps.push({ publish, exchange, aggregate, update, wait });
    }
    const params = replyBuffer(await own.command('GET', k.params));
    return { peer, steps, bytesPulledPerStep, digest: crypto.createHash('sha256').update(params ?? '').digest('hex') };
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}

/** Writes `bytes` to 127.0.0.1:port in 4 MiB chunks, then closes. */
function loopbackSender(job: LoopbackJob): Promise<void> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(4 << 20, 7);
    const socket = net.connect(job.port, '127.0.0.1');
    socket.on('error', reject);
    socket.on('connect', () => {
      let left = job.bytes;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void socket.once('drain', pump);
        }
        socket.end(resolve);
      };
      pump();
    });
  });
}

/** This file compiled (workers run the build in dist/, also when the caller runs from src/ under jest). */
const WORKER_FILE = path.resolve(__dirname, '..', '..', 'dist', 'bench', 'syncBaseline.js');

function runWorker<T>(job: BaselineJob | LoopbackJob): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_FILE, { workerData: job });
    let result: { ok: true; value: T } | { ok: false; error: string } | undefined;
    worker.once('message', (m: typeof result) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result?.ok) resolve(result.value);
      else reject(new Error(result ? result.error : `the ${job.kind} worker exited with code ${code}`));
    });
  });
}

export interface BaselineRunOptions {
  urls: string[];
  params: number;
  steps: number;
  pollMs?: number;
  lr?: number;
  momentum?: number;
}

/** Runs the SPIRT-faithful baseline with one worker thread per database; resolves to every peer's times. */
export async function runSyncBaseline(o: BaselineRunOptions): Promise<BaselinePeerResult[]> {
  return Promise.all(o.urls.map((_, peer) => runWorker<BaselinePeerResult>({
    kind: 'baseline', peer, urls: o.urls, params: o.params, steps: o.steps,
    pollMs: o.pollMs ?? SPIRT_POLL_MS, lr: o.lr ?? 0.05, momentum: o.momentum ?? 0.9,
  })));
}

/**
 * Loopback TCP bandwidth in bytes per second: a worker thread streams `bytes` to a socket this thread reads
 * (first byte to last), the plain-socket ceiling for every byte the peers exchange on this machine.
 */
export async function measureLoopbackBandwidth(bytes: number): Promise<number> {
  let received = 0, first = 0, last = 0;
  const server = net.createServer((socket) => {
    socket.on('data', (d: Buffer) => {
      if (received === 0) first = performance.now();
      received += d.length;
      last = performance.now();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const closed = new Promise<void>((resolve) => server.once('connection', (s) => s.once('close', () => resolve())));
    await runWorker<void>({ kind: 'loopback', port, bytes });
    await closed;
    return received / ((last - first) / 1000);
  } finally {
    server.close();
  }
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind) {
  const job = workerData as BaselineJob | LoopbackJob;
  (job.kind === 'baseline' ? baselinePeer(job) : loopbackSender(job).then(() => undefined))
    .then((value) => parentPort!.postMessage({ ok: true, value }))
    .catch((e: Error) => parentPort!.postMessage({ ok: false, error: e.stack ?? e.message }));
}
