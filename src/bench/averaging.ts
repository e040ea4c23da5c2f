// `spirt bench averaging`: in-database (TENSOR.AVG) vs client-side (fetch, native mean, write back) vs Lua
// (the original SPIRT approach: JSON lists averaged by a script) for N peers' gradients already in Redis.
import fs from 'node:fs';
import { ArgumentError } from '../errors';
import { AVERAGING_STRATEGIES, AveragingStrategy, averageGradients, readAverage, storeGradient } from '../store/averaging';
import { AVERAGING_BENCH_DEFAULTS } from './defaults';
import {
  BenchEnvironment, DatabaseBenchOptions, RESNET18_PARAMS as RESNET18, elapsedMs, fmtParams, median, requirePositiveIntegers,
  percentLess, resultFiles, syntheticGradient, timeSaved, withBenchStore,
} from './common';
import { lineChartSvg } from './svg';

/** a strategy whose first run takes longer than this is measured once */
const LONG_RUN_MS = 2000;
/** the Lua baseline averages 16 x 11.69M floats in one EVAL of about 40 s */
const COMMAND_TIMEOUT_MS = 10 * 60_000;

export interface AveragingBenchOptions extends DatabaseBenchOptions {
  params?: number[];
  peers?: number[];
  strategies?: AveragingStrategy[];
}

export interface AveragingMeasurement {
  params: number;
  peers: number;
  strategy: AveragingStrategy;
  samplesMs: number[];
  medianMs: number;
  /** max |result - in-db result| */
  maxAbsDiffVsInDb?: number;
}

export interface AveragingBenchResult extends BenchEnvironment {
  measurements: AveragingMeasurement[];
  headline?: {
    params: number; peers: number; inDbMs: number; clientMs: number; reductionPct: number; luaMs?: number; speedupVsLua?: number;
    /** the target (>= 95% less time than client-side) is set for ResNet-18 size and 4 peers only */
    targetMet?: boolean;
  };
  files: { json: string; svg: string };
}

export async function runAveragingBench(o: AveragingBenchOptions = {}): Promise<AveragingBenchResult> {
  const params = [...(o.params ?? AVERAGING_BENCH_DEFAULTS.params)].sort((a, b) => a - b);
  const peers = [...(o.peers ?? AVERAGING_BENCH_DEFAULTS.peers)].sort((a, b) => a - b);
  const strategies = o.strategies ?? [...AVERAGING_STRATEGIES];
  const reps = o.reps ?? AVERAGING_BENCH_DEFAULTS.reps;
  requirePositiveIntegers(params, 'params');
  requirePositiveIntegers(peers, 'peers');
  requirePositiveIntegers([reps], 'reps');
  for (const s of strategies) if (!AVERAGING_STRATEGIES.includes(s)) throw new ArgumentError('ERR_ARGUMENT', `unknown strategy '${s}'`);

  return withBenchStore({ ...o, reps }, COMMAND_TIMEOUT_MS, async (store, env, log) => {
    const measurements: AveragingMeasurement[] = [];
    const total = params.length * peers.length * strategies.length;
    let done = 0;
    const maxPeers = peers[peers.length - 1];
    for (const n of params) {
      log(`seeding ${maxPeers} peers' gradients of ${fmtParams(n)} float32 parameters...`);
      for (let j = 0; j < maxPeers; j++) {
        const g = syntheticGradient(n, j + 1);
        if (strategies.some((s) => s !== 'lua')) await storeGradient(store, `{bench}:g:${j}`, g, 'in-db');
        if (strategies.includes('lua')) await storeGradient(store, `{bench}:json:${j}`, g, 'lua');
      }
      for (const p of peers) {
        let inDbResult: Float32Array | undefined;
        for (const strategy of strategies) {
          const sources = Array.from({ length: p }, (_, j) => (strategy === 'lua' ? `{bench}:json:${j}` : `{bench}:g:${j}`));
          const dest = `{bench}:avg:${strategy}`;
          const time = () => elapsedMs(() => averageGradients(store, strategy, dest, sources));
          const first = await time();
          const samples = first > LONG_RUN_MS ? [first] : [];
          while (samples.length < reps && first <= LONG_RUN_MS) samples.push(await time());
          const m: AveragingMeasurement = { params: n, peers: p, strategy, samplesMs: samples, medianMs: median(samples) };
          const result = await readAverage(store, dest, strategy);
          if (strategy === 'in-db') inDbResult = Float32Array.from(result);
          else if (inDbResult) {
            let diff = 0;
            for (let i = 0; i < n; i++) diff = Math.max(diff, Math.abs(result[i] - inDbResult[i]));
            m.maxAbsDiffVsInDb = diff;
          }
          measurements.push(m);
          log(`[${String(++done).padStart(2)}/${total}] ${fmtParams(n)} params x ${String(p).padStart(2)} peers, ${strategy.padEnd(6)}: ${m.medianMs.toFixed(1).padStart(9)} ms`);
        }
      }
      const keys = Array.from({ length: maxPeers }, (_, j) => [`{bench}:g:${j}`, `{bench}:json:${j}`]).flat();
      await store.command('DEL', ...keys, ...strategies.map((s) => `{bench}:avg:${s}`));
    }
    const find = (strategy: AveragingStrategy, n: number, p: number) =>
      measurements.find((m) => m.strategy === strategy && m.params === n && m.peers === p);
    const headN = params.includes(RESNET18) ? RESNET18 : params[params.length - 1];
    const headP = peers.includes(4) ? 4 : peers[0];
    const inDb = find('in-db', headN, headP), onClient = find('client', headN, headP), lua = find('lua', headN, headP);
    const headline = inDb && onClient ? {
      params: headN, peers: headP, inDbMs: inDb.medianMs, clientMs: onClient.medianMs,
      reductionPct: percentLess(inDb.medianMs, onClient.medianMs),
      ...(lua ? { luaMs: lua.medianMs, speedupVsLua: lua.medianMs / inDb.medianMs } : {}),
      ...(headN === RESNET18 && headP === 4 ? { targetMet: 1 - inDb.medianMs / onClient.medianMs >= 0.95 } : {}),
    } : undefined;

    const files = resultFiles(o.outDir ?? AVERAGING_BENCH_DEFAULTS.outDir, 'averaging');
    const colors: Record<AveragingStrategy, string> = { 'in-db': '#1b9e77', client: '#d95f02', lua: '#7570b3' };
    fs.writeFileSync(files.svg, lineChartSvg(
      `Averaging N peers' gradients in Redis (${env.client}, median of ${reps})`,
      params.map((n) => ({
        title: `${fmtParams(n)} parameters`,
        series: strategies.map((s) => ({
          label: s, color: colors[s],
          points: measurements.filter((m) => m.params === n && m.strategy === s).map((m) => ({ x: m.peers, y: m.medianMs })),
        })),
      })),
      'peers', 'time per average'));
    const result: AveragingBenchResult = { ...env, measurements, ...(headline ? { headline } : {}), files };
    fs.writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  });
}

/** The results as a Markdown table: one row per size and peer count, one column per strategy. */
export function formatAveragingTable(r: AveragingBenchResult): string {
  const strategies = [...new Set(r.measurements.map((m) => m.strategy))];
  const rows = new Map<string, AveragingMeasurement[]>();
  for (const m of r.measurements) {
    const k = `${m.params}|${m.peers}`;
    rows.set(k, [...(rows.get(k) ?? []), m]);
  }
  const head = ['params', 'peers', ...strategies.map((s) => `${s} (ms)`)];
  if (strategies.includes('in-db') && strategies.includes('client')) head.push('in-db vs client');
  if (strategies.includes('in-db') && strategies.includes('lua')) head.push('in-db vs lua');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const ms of rows.values()) {
    const by = (s: AveragingStrategy) => ms.find((m) => m.strategy === s)?.medianMs;
    const cells = [fmtParams(ms[0].params), String(ms[0].peers), ...strategies.map((s) => by(s)!.toFixed(1))];
    if (head.includes('in-db vs client')) cells.push(timeSaved(percentLess(by('in-db')!, by('client')!)));
    if (head.includes('in-db vs lua')) cells.push(`${(by('lua')! / by('in-db')!).toFixed(0)}x faster`);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
