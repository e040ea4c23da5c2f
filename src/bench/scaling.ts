// `spirt bench scaling`: SPIRT's "varying batch sizes for different numbers of peers". For every (peers,
// functions, batch) it trains peer-to-peer with real peer processes on private databases and records time per
// epoch, time per step by phase, bytes sent and accuracy. In the same run: spirt's synchronisation against a
// SPIRT-faithful one (JSON + Lua + all-to-all pulls + 100 ms polling) at ResNet-18 size with a synthetic
// gradient, the loopback bandwidth, the exchange options (client relay, MIGRATE COPY, sharded vs all-to-all),
// `train --peers` against trainLocal at the same effective batch, and a model that predicts larger machines.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadFashionMnist } from '../data/fashionMnist';
import { ArgumentError } from '../errors';
import { simd } from '../kernels';
import { Model } from '../model/model';
import { cnnSpec, mlpSpec } from '../model/spec';
import { TrainPeersOptions, TrainSummary, trainPeers } from '../peer/launcher';
import type { PhaseTimes } from '../peer/peer';
import { ExchangeScheme } from '../peer/protocol';
import { RunningRedis, startRedis } from '../redis/launcher';
import { replyBuffer, replyString } from '../store/reply';
import { TensorStore } from '../store/tensorStore';
import { tensor } from '../tensor';
import { trainLocal } from '../train/local';
import { spirtVersion } from '../version';
import { fmtParams, median, requirePositiveIntegers, resultFiles, syntheticGradient } from './common';
import { SCALING_BENCH_DEFAULTS as D } from './defaults';
import { ScalingModel, fitScalingModel } from './scalingModel';
import { scalingSvg } from './scalingSvg';
import { BaselineStepTimes, SPIRT_POLL_MS, measureLoopbackBandwidth, runSyncBaseline } from './syncBaseline';

export interface ScalingBenchOptions {
  peers?: number[];
  functions?: number[];
  batch?: number[];
  epochs?: number;
  model?: 'mlp' | 'cnn';
  trainLimit?: number;
  testLimit?: number;
  /** parameters of the synchronisation comparison (synthetic gradient); 0 skips it */
  syncParams?: number;
  syncSteps?: number;
  baselineSteps?: number;
  /** compare train --peers with trainLocal (default true) */
  local?: boolean;
  heartbeatMs?: number;
  outDir?: string;
  log?: (line: string) => void;
}

const PHASES = ['compute', 'exchange', 'aggregate', 'update', 'wait', 'orchestration'] as const;

export interface GridRun {
  peers: number;
  functions: number;
  batch: number;
  /** samples per step over all peers: peers x functions x batch */
  effectiveBatch: number;
  stepsPerEpoch: number;
  /** mean seconds per epoch (slowest peer, evaluation included) */
  epochSeconds: number;
  /** mean ms per step by phase over peers and steps (the run's first step, a warm-up, left out when there are more) */
  phases: PhaseTimes;
  stepMs: number;
  /** test accuracy after each epoch */
  accuracy: number[];
  bytesPerPeerPerStep: number;
  identical: boolean;
  /** the whole run: servers flushed, peer processes started and stopped */
  wallSeconds: number;
}

export interface SyncSide {
  /** ms per step by phase, median over the timed steps of the mean over peers */
  phases: Record<'exchange' | 'aggregate' | 'update' | 'wait', number> & Record<string, number>;
  /** exchange + aggregate + update + wait */
  syncMs: number;
  bytesPerPeerPerStep: number;
  steps: number;
  identical: boolean;
}

export interface SyncComparison {
  params: number;
  peers: number;
  spirt: Record<ExchangeScheme, SyncSide>;
  baseline: SyncSide & { pollMs: number; format: 'JSON lists averaged and applied by Lua' };
  /** baseline sync / spirt sharded sync (goal >= 10) */
  speedup: number;
  loopbackBytesPerSec: number;
  /** all peers' sent bytes of one step at the loopback bandwidth (the peers share this machine's loopback) */
  idealSharedMs: number;
  /** one peer's sent bytes at the loopback bandwidth (a link per peer) */
  idealPerPeerMs: number;
  /** spirt sharded sync / idealSharedMs (goal <= 3) */
  vsIdealShared: number;
  vsIdealPerPeer: number;
}

export interface ExchangeOptions {
  params: number;
  bytes: number;
  /** TENSOR.GET BLOB from one server + TENSOR.SET into another through this process (what the runtime does) */
  clientRelayMs: number;
  /** MIGRATE ... COPY REPLACE from one server to the other, one pair at a time */
  migrateCopyMs: number;
  /** two MIGRATEs in opposite directions at once: what happened and how long it took */
  crossedMigrate: { timeoutMs: number; outcomes: string[]; ms: number };
  /** TENSOR.AVG of two tensors in one server: bytes read and written per second */
  inDbBytesPerSec: number;
  /** bytes per peer per step at this size, by scheme and peer count: sharded 2(P-1)/P, all-to-all P-1 gradients */
  bytesPerPeerPerStep: Array<{ peers: number; sharded: number; allToAll: number; shardedOfGradient: number; allToAllOfGradient: number }>;
}

export interface LocalComparison {
  peers: number;
  functions: number;
  batch: number;
  epochs: number;
  /** train --peers: seconds per epoch, and the whole run with server and process start */
  peerEpochSeconds: number;
  peerWallSeconds: number;
  localEpochSeconds: number;
  localAccuracy: number[];
  /** peer epoch time / local epoch time (goal <= 1.3) */
  ratio: number;
  wallRatio: number;
}

export interface ScalingBenchResult {
  date: string;
  spirt: { version: string; simd: string };
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string; node: string; redis: string; loadAverage: { start: number[]; end: number[] } };
  settings: Required<Omit<ScalingBenchOptions, 'log' | 'outDir'>>;
  grid: GridRun[];
  sync?: SyncComparison;
  exchangeOptions?: ExchangeOptions;
  local?: LocalComparison;
  model: ScalingModel;
  files: { json: string; svg: string };
}

function meanOf<K extends string>(list: ReadonlyArray<Record<K, number>>, names: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of names) out[k] = list.reduce((s, x) => s + x[k], 0) / Math.max(1, list.length);
  return out;
}

/** Mean phases per step over peers, per global step, with the warm-up step left out when there are more. */
function stepPhases(summary: TrainSummary): PhaseTimes[] {
  const bySteps = new Map<number, PhaseTimes[]>();
  for (const s of summary.steps) bySteps.set(s.step, [...(bySteps.get(s.step) ?? []), s.phases]);
  const steps = [...bySteps.keys()].sort((a, b) => a - b);
  const timed = steps.length > 1 ? steps.slice(1) : steps;
  return timed.map((s) => meanOf(bySteps.get(s)!, PHASES));
}

function bytesPerPeerPerStep(summary: TrainSummary): number {
  const steps = Math.max(1, new Set(summary.steps.map((s) => s.step)).size);
  return summary.peers.reduce((a, p) => a + p.bytesSent, 0) / Math.max(1, summary.peers.length) / steps;
}

const syncOf = (p: { exchange: number; aggregate: number; update: number; wait: number }) => p.exchange + p.aggregate + p.update + p.wait;

function portOf(url: string): number {
  return Number(new URL(url).port);
}

export async function runScalingBench(o: ScalingBenchOptions = {}): Promise<ScalingBenchResult> {
  const settings: ScalingBenchResult['settings'] = {
    peers: [...(o.peers ?? D.peers)].sort((a, b) => a - b),
    functions: [...(o.functions ?? D.functions)].sort((a, b) => a - b),
    batch: [...(o.batch ?? D.batch)].sort((a, b) => a - b),
    epochs: o.epochs ?? D.epochs, model: o.model ?? 'mlp',
    trainLimit: o.trainLimit ?? D.trainLimit, testLimit: o.testLimit ?? D.testLimit,
    syncParams: o.syncParams ?? D.syncParams, syncSteps: o.syncSteps ?? D.syncSteps, baselineSteps: o.baselineSteps ?? D.baselineSteps,
    local: o.local ?? true, heartbeatMs: o.heartbeatMs ?? 1000,
  };
  const s = settings;
  for (const [list, name] of [[s.peers, 'peers'], [s.functions, 'functions'], [s.batch, 'batch']] as const) {
    if (list.length === 0) throw new ArgumentError('ERR_ARGUMENT', `--${name}: give at least one value`);
    requirePositiveIntegers(list, name);
  }
  requirePositiveIntegers([s.epochs, s.trainLimit, s.testLimit, s.syncSteps, s.baselineSteps], 'epochs, --train-limit, --test-limit, --sync-steps and --baseline-steps');
  if (!Number.isInteger(s.syncParams) || s.syncParams < 0) throw new ArgumentError('ERR_ARGUMENT', `--sync-params: ${s.syncParams} is not a whole number`);
  if (s.model !== 'mlp' && s.model !== 'cnn') throw new ArgumentError('ERR_ARGUMENT', `--model must be mlp or cnn, got '${String(s.model)}'`);
  const maxPeers = s.peers[s.peers.length - 1];
  const smallest = Math.floor(s.trainLimit / maxPeers);
  const largestStep = s.functions[s.functions.length - 1] * s.batch[s.batch.length - 1];
  if (smallest < largestStep) {
    throw new ArgumentError('ERR_BATCH', `--train-limit ${s.trainLimit}: a shard of ${smallest} samples holds no step of ${largestStep} samples (functions x batch); raise it`);
  }
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const outDir = o.outDir ?? D.outDir;
  const files = resultFiles(outDir, 'scaling');
  const loadStart = os.loadavg();

  log(`starting ${maxPeers} private redis-servers with the spirt module (one per peer, reused by every run)...`);
  const servers: RunningRedis[] = [];
  const admin: TensorStore[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-scaling-'));
  try {
    for (let i = 0; i < maxPeers; i++) {
      servers.push(await startRedis());
      admin.push(await TensorStore.connect(servers[i].url, { commandTimeoutMs: 10 * 60_000 }));
    }
    const urls = servers.map((r) => r.url);
    const redisVersion = /redis_version:(\S+)/.exec(replyString(await admin[0].command('INFO', 'server')))?.[1] ?? 'unknown';
    const flush = () => Promise.all(admin.map((a) => a.command('FLUSHALL')));
    const train = async (p: number, opts: Omit<TrainPeersOptions, 'redis'>): Promise<{ summary: TrainSummary; wallSeconds: number }> => {
      await flush();
      const t0 = performance.now();
      const summary = await trainPeers({ ...opts, redis: urls.slice(0, p), heartbeatMs: opts.heartbeatMs ?? s.heartbeatMs });
      return { summary, wallSeconds: (performance.now() - t0) / 1000 };
    };

    // 1. the grid
    const grid: GridRun[] = [];
    const total = s.peers.length * s.functions.length * s.batch.length;
    for (const p of s.peers) {
      for (const k of s.functions) {
        for (const b of s.batch) {
          const { summary, wallSeconds } = await train(p, {
            model: s.model, functions: k, batch: b, epochs: s.epochs, trainLimit: s.trainLimit, testLimit: s.testLimit,
          });
          const phases = meanOf(stepPhases(summary), PHASES);
          const run: GridRun = {
            peers: p, functions: k, batch: b, effectiveBatch: p * k * b, stepsPerEpoch: summary.epochs[0]?.steps ?? 0,
            epochSeconds: summary.epochs.reduce((a, e) => a + e.seconds, 0) / Math.max(1, summary.epochs.length),
            phases, stepMs: PHASES.reduce((a, n) => a + phases[n], 0), accuracy: summary.epochs.map((e) => e.accuracy),
            bytesPerPeerPerStep: bytesPerPeerPerStep(summary), identical: summary.identical && summary.violations.length === 0, wallSeconds,
          };
          grid.push(run);
          log(`[${String(grid.length).padStart(2)}/${total}] ${p} peers x ${k} functions x batch ${String(b).padStart(3)}: ` +
            `${run.stepsPerEpoch} steps, ${run.epochSeconds.toFixed(2)} s/epoch, ${run.stepMs.toFixed(1)} ms/step ` +
            `(compute ${phases.compute.toFixed(1)}, sync ${syncOf(phases).toFixed(1)}), accuracy ${(run.accuracy[run.accuracy.length - 1] * 100).toFixed(1)}%`);
        }
      }
    }

    // 2. train --peers against trainLocal at the same effective batch
    let local: LocalComparison | undefined;
    if (s.local) {
      const k = s.functions.includes(2) ? 2 : s.functions[0], b = s.batch.includes(64) ? 64 : s.batch[0];
      const peerRun = grid.find((g) => g.peers === maxPeers && g.functions === k && g.batch === b)!;
      const limit = <T extends { count: number; rows: number; cols: number; images: Float32Array; labels: Uint8Array }>(ds: T, n: number): T =>
        n >= ds.count ? ds : { ...ds, images: ds.images.subarray(0, n * ds.rows * ds.cols), labels: ds.labels.subarray(0, n), count: n };
      const t0 = performance.now();
      const { epochs } = await trainLocal({
        spec: s.model === 'mlp' ? mlpSpec() : cnnSpec(), train: limit(loadFashionMnist('train'), s.trainLimit), test: limit(loadFashionMnist('test'), s.testLimit),
        epochs: s.epochs, batch: b, workers: maxPeers * k, lr: 0.05, momentum: 0.9, seed: 1,
      });
      const localWall = (performance.now() - t0) / 1000;
      const localEpochSeconds = epochs.reduce((a, e) => a + e.seconds, 0) / epochs.length;
      local = {
        peers: maxPeers, functions: k, batch: b, epochs: s.epochs, peerEpochSeconds: peerRun.epochSeconds, peerWallSeconds: peerRun.wallSeconds,
        localEpochSeconds, localAccuracy: epochs.map((e) => e.testAccuracy),
        ratio: peerRun.epochSeconds / localEpochSeconds, wallRatio: peerRun.wallSeconds / localWall,
      };
      log(`train --peers ${maxPeers} (${k} functions, batch ${b}): ${peerRun.epochSeconds.toFixed(2)} s/epoch; trainLocal with ${maxPeers * k} ` +
        `workers x batch ${b}: ${localEpochSeconds.toFixed(2)} s/epoch = ${local.ratio.toFixed(1)}x (goal 1.3x)`);
    }

    // 3. exchange options and rates, between two idle servers
    let exchangeOptions: ExchangeOptions | undefined;
    let sync: SyncComparison | undefined;
    const n = s.syncParams;
    if (n > 0) {
      await flush();
      log(`loopback bandwidth and exchange options at ${fmtParams(n)} float32...`);
      const loopbackBytesPerSec = await measureLoopbackBandwidth(Math.max(64 << 20, 8 * 4 * n));
      if (servers.length >= 2) exchangeOptions = await measureExchangeOptions(admin, servers, n, s.peers);
      else exchangeOptions = undefined;

      // 4. synchronisation at that size: spirt (both schemes) and the SPIRT-faithful baseline, same peers
      const moduleFile = path.join(tmp, `synthetic-${n}.js`);
      fs.writeFileSync(moduleFile, `module.exports = { createModel: () => require(${JSON.stringify(path.resolve(__dirname, '..', '..', 'dist', 'bench', 'syntheticModel.js'))}).syntheticModel(${n}) };\n`);
      const sides = {} as Record<ExchangeScheme, SyncSide>;
      for (const exchange of ['sharded', 'all-to-all'] as const) {
        const { summary } = await train(maxPeers, {
          model: { module: moduleFile }, functions: 1, batch: 1, epochs: 1, trainLimit: maxPeers * s.syncSteps, testLimit: 1,
          exchange, heartbeatMs: Math.max(s.heartbeatMs, 2000),
        });
        const perStep = stepPhases(summary);
        const phases = meanOf(perStep, PHASES);
        const syncMs = median(perStep.map(syncOf));
        sides[exchange] = { phases, syncMs, bytesPerPeerPerStep: bytesPerPeerPerStep(summary), steps: perStep.length, identical: summary.identical };
        log(`spirt ${exchange}, ${maxPeers} peers, ${fmtParams(n)}: sync ${syncMs.toFixed(0)} ms/step (exchange ${phases.exchange.toFixed(0)}, ` +
          `aggregate ${phases.aggregate.toFixed(0)}, update ${phases.update.toFixed(0)}, wait ${phases.wait.toFixed(0)}), ${(sides[exchange].bytesPerPeerPerStep / 1e6).toFixed(1)} MB sent per peer per step`);
      }
      await flush();
      log(`SPIRT-faithful baseline (JSON, Lua, all-to-all pulls, ${SPIRT_POLL_MS} ms polling), ${maxPeers} peers, ${fmtParams(n)}, ${s.baselineSteps} steps...`);
      const peersOut = await runSyncBaseline({ urls, params: n, steps: s.baselineSteps });
      const timed = (list: BaselineStepTimes[]) => (list.length > 1 ? list.slice(1) : list);
      const byStep = timed(peersOut[0].steps).map((_, i) => meanOf(peersOut.map((p) => timed(p.steps)[i]), ['publish', 'exchange', 'aggregate', 'update', 'wait']));
      const baselinePhases = meanOf(byStep, ['publish', 'exchange', 'aggregate', 'update', 'wait']);
      const baseline = {
        phases: baselinePhases, syncMs: median(byStep.map(syncOf)), steps: byStep.length, pollMs: SPIRT_POLL_MS,
        format: 'JSON lists averaged and applied by Lua' as const,
        bytesPerPeerPerStep: peersOut.reduce((a, p) => a + p.bytesPulledPerStep, 0) / peersOut.length,
        identical: new Set(peersOut.map((p) => p.digest)).size === 1,
      };
      await flush();
      const sharded = sides.sharded;
      const idealSharedMs = (sharded.bytesPerPeerPerStep * maxPeers / loopbackBytesPerSec) * 1000;
      const idealPerPeerMs = (sharded.bytesPerPeerPerStep / loopbackBytesPerSec) * 1000;
      const comparison: SyncComparison = {
        params: n, peers: maxPeers, spirt: sides, baseline, speedup: baseline.syncMs / sharded.syncMs, loopbackBytesPerSec,
        idealSharedMs, idealPerPeerMs, vsIdealShared: sharded.syncMs / idealSharedMs, vsIdealPerPeer: sharded.syncMs / idealPerPeerMs,
      };
      sync = comparison;
      log(`baseline sync ${baseline.syncMs.toFixed(0)} ms/step = ${comparison.speedup.toFixed(1)}x spirt sharded (goal 10x); loopback ` +
        `${(loopbackBytesPerSec / 1e9).toFixed(2)} GB/s: spirt sharded = ${comparison.vsIdealShared.toFixed(2)}x the time to move all peers' bytes (goal 3x)`);
    }

    const model = fitScalingModel({ grid, exchangeOptions, sync, paramCount: new Model(s.model === 'mlp' ? mlpSpec() : cnnSpec()).paramCount, cores: os.cpus().length, trainSamples: 60_000 });
    const result: ScalingBenchResult = {
      date: new Date().toISOString(),
      spirt: { version: spirtVersion, simd: simd.path },
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        platform: `${os.platform()} ${os.arch()}`, node: process.version, redis: redisVersion, loadAverage: { start: loadStart, end: os.loadavg() },
      },
      settings, grid, sync, exchangeOptions, local, model, files,
    };
    fs.writeFileSync(files.svg, scalingSvg(result));
    fs.writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    await Promise.all(admin.map((a) => a.close().catch(() => undefined)));
    await Promise.all(servers.map((r) => r.stop().catch(() => undefined)));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function measureExchangeOptions(admin: TensorStore[], servers: RunningRedis[], n: number, peers: number[]): Promise<ExchangeOptions> {
  const [a, b] = admin;
  const reps = 3;
  const grad = syntheticGradient(n, 1);
  await a.set('{peer0}:x', tensor('float32', [n], grad));
  await b.set('{peer1}:x', tensor('float32', [n], grad));
  const time = async (run: () => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await run();
      samples.push(performance.now() - t0);
    }
    return median(samples);
  };
  const clientRelayMs = await time(async () => {
    const bytes = replyBuffer(await a.command('TENSOR.GET', '{peer0}:x', 'BLOB'))!;
    await b.command('TENSOR.SET', '{peer0}:x', 'FLOAT32', 'SHAPE', String(n), 'BLOB', bytes);
  });
  const migrate = (from: TensorStore, to: RunningRedis, key: string, timeoutMs: number) =>
    from.command('MIGRATE', '127.0.0.1', String(portOf(to.url)), key, '0', String(timeoutMs), 'COPY', 'REPLACE');
  const migrateCopyMs = await time(() => migrate(a, servers[1], '{peer0}:x', 60_000));
  // MIGRATE blocks its source server until the target answers; two crossed ones each wait on a blocked server
  const timeoutMs = 2000;
  const t0 = performance.now();
  const outcomes = (await Promise.allSettled([migrate(a, servers[1], '{peer0}:x', timeoutMs), migrate(b, servers[0], '{peer1}:x', timeoutMs)]))
    .map((r) => (r.status === 'fulfilled' ? replyString(r.value as never) : (r.reason as Error).message));
  const crossedMs = performance.now() - t0;
  const inDbMs = await time(() => a.command('TENSOR.AVG', '{peer0}:avg', '{peer0}:x', '{peer0}:x'));
  await Promise.all([a.command('FLUSHALL'), b.command('FLUSHALL')]);
  const bytes = 4 * n;
  return {
    params: n, bytes, clientRelayMs, migrateCopyMs, crossedMigrate: { timeoutMs, outcomes, ms: crossedMs }, inDbBytesPerSec: (3 * bytes) / (inDbMs / 1000),
    bytesPerPeerPerStep: [...new Set([...peers, 8, 16])].sort((x, y) => x - y).map((p) => ({
      peers: p, sharded: Math.round((2 * (p - 1) * bytes) / p), allToAll: (p - 1) * bytes,
      shardedOfGradient: (2 * (p - 1)) / p, allToAllOfGradient: p - 1,
    })),
  };
}

const f1 = (x: number) => x.toFixed(1);
const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

/** The results as Markdown tables and headline lines, as the CLI prints them and the README quotes them. */
export function formatScalingReport(r: ScalingBenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}, Redis ${m.redis}, spirt ${r.spirt.version} (${r.spirt.simd}); ` +
    `load average ${m.loadAverage.start[0].toFixed(1)} at the start, ${m.loadAverage.end[0].toFixed(1)} at the end`, '');
  out.push(`Grid: ${r.settings.model}, ${r.settings.trainLimit} training samples, ${r.settings.epochs} epoch(s), accuracy on ${r.settings.testLimit} test samples. ` +
    'ms per step: mean over peers and steps (the first step left out); model: the fitted model on this machine\'s cores, and with a core per function, client and server.', '');
  const head = ['peers', 'functions', 'batch', 'steps/epoch', 's/epoch', 'ms/step', 'compute', 'exchange', 'aggregate', 'update', 'wait', 'orchestration',
    'MB sent/peer/step', 'accuracy', 'model here (ms/step)', 'model dedicated (ms/step)'];
  out.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const g of r.grid) {
    const mr = r.model.runs.find((x) => x.peers === g.peers && x.functions === g.functions && x.batch === g.batch)!;
    const p = g.phases;
    out.push(`| ${[g.peers, g.functions, g.batch, g.stepsPerEpoch, g.epochSeconds.toFixed(2), f1(g.stepMs), f1(p.compute), f1(p.exchange), f1(p.aggregate),
      f1(p.update), f1(p.wait), f1(p.orchestration), mb(g.bytesPerPeerPerStep), `${(g.accuracy[g.accuracy.length - 1] * 100).toFixed(1)}%`,
      f1(mr.modelHereStepMs), f1(mr.dedicatedStepMs)].join(' | ')}${g.identical ? '' : ' (peers DIFFER)'} |`);
  }
  const pm = r.model.parameters;
  out.push('', `Model: ${r.model.formula}; fitted c0 = ${pm.c0Ms.toFixed(2)} ms, c = ${pm.cMsPerSample.toFixed(3)} ms/sample, o = ${pm.oMs.toFixed(1)} ms, ` +
    `R = ${(pm.relayBytesPerMs / 1e3).toFixed(0)} MB/s, M = ${(pm.inDbBytesPerMs / 1e3).toFixed(0)} MB/s; mean error on this machine ${(r.model.meanRelativeError * 100).toFixed(0)}%.`);
  if (r.sync) {
    const s = r.sync;
    out.push('', `Synchronisation per step, ${s.peers} peers, ${fmtParams(s.params)} float32 (synthetic gradient), median over the timed steps:`, '');
    const h = ['scheme', 'exchange', 'aggregate', 'update', 'wait (barrier)', 'sync total (ms)', 'MB sent/peer/step', 'timed steps', 'peers identical'];
    out.push(`| ${h.join(' | ')} |`, `|${h.map(() => '---').join('|')}|`);
    const row = (name: string, x: SyncSide) => out.push(`| ${[name, f1(x.phases.exchange), f1(x.phases.aggregate), f1(x.phases.update), f1(x.phases.wait),
      f1(x.syncMs), mb(x.bytesPerPeerPerStep), x.steps, x.identical ? 'yes' : 'NO'].join(' | ')} |`);
    row('spirt sharded', s.spirt.sharded);
    row('spirt all-to-all', s.spirt['all-to-all']);
    row(`SPIRT baseline (JSON + Lua, ${s.baseline.pollMs} ms polling; MB pulled)`, s.baseline);
    out.push('', `spirt sharded synchronises ${s.speedup.toFixed(1)}x faster than the SPIRT baseline (goal 10x: ${s.speedup >= 10 ? 'met' : 'MISSED'}).`,
      `Loopback bandwidth ${(s.loopbackBytesPerSec / 1e9).toFixed(2)} GB/s: all ${s.peers} peers' bytes of a step take ${f1(s.idealSharedMs)} ms at it, one peer's ` +
      `${f1(s.idealPerPeerMs)} ms; spirt sharded's sync is ${s.vsIdealShared.toFixed(2)}x the first (goal 3x: ${s.vsIdealShared <= 3 ? 'met' : 'MISSED'}) and ` +
      `${s.vsIdealPerPeer.toFixed(2)}x the second.`);
  }
  if (r.exchangeOptions) {
    const e = r.exchangeOptions;
    out.push('', `Exchange options, one ${fmtParams(e.params)} float32 tensor (${mb(e.bytes)} MB) between two idle servers, median of 3:`, '',
      '| option | ms | MB/s |', '|---|---|---|',
      `| client relay (TENSOR.GET BLOB + TENSOR.SET through one client) | ${f1(e.clientRelayMs)} | ${(e.bytes / 1e3 / e.clientRelayMs).toFixed(0)} |`,
      `| MIGRATE ... COPY REPLACE (server to server) | ${f1(e.migrateCopyMs)} | ${(e.bytes / 1e3 / e.migrateCopyMs).toFixed(0)} |`,
      `| two crossed MIGRATEs at once (TIMEOUT ${e.crossedMigrate.timeoutMs} ms) | ${f1(e.crossedMigrate.ms)} | ${e.crossedMigrate.outcomes.join('; ')} |`,
      '', '| peers | sharded MB/peer/step | x gradient | all-to-all MB/peer/step | x gradient |', '|---|---|---|---|---|',
      ...e.bytesPerPeerPerStep.map((b) => `| ${b.peers} | ${mb(b.sharded)} | ${b.shardedOfGradient.toFixed(2)} | ${mb(b.allToAll)} | ${b.allToAllOfGradient} |`));
  }
  if (r.local) {
    const l = r.local;
    out.push('', `train --peers ${l.peers} (${l.functions} functions x batch ${l.batch}) ${l.peerEpochSeconds.toFixed(2)} s/epoch vs trainLocal with ` +
      `${l.peers * l.functions} workers x batch ${l.batch} ${l.localEpochSeconds.toFixed(2)} s/epoch: ${l.ratio.toFixed(1)}x (goal 1.3x: ` +
      `${l.ratio <= 1.3 ? 'met' : 'MISSED'}); whole runs with start-up ${l.wallRatio.toFixed(1)}x.`);
  }
  return out.join('\n');
}
