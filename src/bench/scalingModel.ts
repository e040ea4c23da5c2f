// The model `spirt bench scaling` fits to what it measured, to predict machines larger than the one it ran on.
// One step of P peers x K functions x batch b, for a model of n float32 parameters, on C cores:
//
//   T_step = (c0 + c*b) * max(1, P*K / C)                          compute: K functions per peer, all sharing C cores
//          + (o + S(P)/R + (K + 8)*4n/M) * max(1, 2P / C)          sync: each peer's client and its redis-server busy
//   S(P)   = 2(P-1)/P * 4n                                          bytes a peer sends per step (sharded exchange)
//   T_epoch = floor(N / (P*K*b)) * T_step                           N training samples, evaluation left out
//
// c0 + c*b: one function's compute (read parameters, gradient of b samples, write it), least squares over the
// 1-peer 1-function runs; o: the rest of those runs' step (orchestration, round trips, in-db work at P = 1);
// R: bytes per ms of a client relay between two databases (TENSOR.GET + TENSOR.SET, measured idle); M: bytes
// per ms of in-database averaging (K+8 vectors read or written: the K-way mean, split, shard mean, cat, SGD).
// "Dedicated" predictions take C = P*(K+2): every function, peer client and server on its own core, links as
// fast as this machine's loopback relay.
import type { ExchangeOptions, GridRun, SyncComparison } from './scaling';

export interface ScalingModel {
  formula: string;
  parameters: { c0Ms: number; cMsPerSample: number; oMs: number; relayBytesPerMs: number; inDbBytesPerMs: number; paramCount: number; cores: number; trainSamples: number };
  /** every grid run: measured step time, the model on this machine's cores, and the model with dedicated cores */
  runs: Array<{ peers: number; functions: number; batch: number; measuredStepMs: number; modelHereStepMs: number; dedicatedStepMs: number; dedicatedEpochSeconds: number }>;
  /** mean |model here - measured| / measured over the grid */
  meanRelativeError: number;
  /** the ResNet-18-size synchronisation per step with dedicated cores, by peer count */
  syncPredictions: Array<{ peers: number; params: number; dedicatedSyncMs: number; bytesPerPeer: number }>;
}

export const SCALING_MODEL_FORMULA =
  'T_step = (c0 + c*b)*max(1, P*K/C) + (o + S(P)/R + (K+8)*4n/M)*max(1, 2P/C); S(P) = 2(P-1)/P*4n; T_epoch = floor(N/(P*K*b))*T_step';

/** Least squares y = a + b*x; a single x gives a line through the origin. */
function fitLine(points: Array<{ x: number; y: number }>): { a: number; b: number } {
  const xs = new Set(points.map((p) => p.x));
  if (xs.size < 2) {
    const b = points.reduce((s, p) => s + p.y / p.x, 0) / Math.max(1, points.length);
    return { a: 0, b };
  }
  const n = points.length, mx = points.reduce((s, p) => s + p.x, 0) / n, my = points.reduce((s, p) => s + p.y, 0) / n;
  const b = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return { a: Math.max(0, my - b * mx), b };
}

export function fitScalingModel(o: {
  grid: GridRun[]; exchangeOptions?: ExchangeOptions; sync?: SyncComparison; paramCount: number; cores: number; trainSamples: number;
}): ScalingModel {
  const { grid, cores, trainSamples } = o;
  const n = o.paramCount;
  // the runs with the least contention: one peer, one function (else the smallest P*K measured)
  const least = Math.min(...grid.map((g) => g.peers * g.functions));
  const solo = grid.filter((g) => g.peers * g.functions === least);
  const { a: c0Ms, b: cMsPerSample } = fitLine(solo.map((g) => ({ x: g.batch, y: g.phases.compute })));
  const oMs = solo.reduce((s, g) => s + g.stepMs - g.phases.compute, 0) / Math.max(1, solo.length);
  const ex = o.exchangeOptions;
  const relayBytesPerMs = ex ? ex.bytes / ex.clientRelayMs : o.sync ? o.sync.loopbackBytesPerSec / 1000 / 2 : 5e5;
  const inDbBytesPerMs = ex ? ex.inDbBytesPerSec / 1000 : 1e7;
  const step = (p: number, k: number, b: number, c: number, params: number) => {
    const sent = (2 * (p - 1) / p) * 4 * params;
    return (c0Ms + cMsPerSample * b) * Math.max(1, (p * k) / c) + (oMs + sent / relayBytesPerMs + ((k + 8) * 4 * params) / inDbBytesPerMs) * Math.max(1, (2 * p) / c);
  };
  const runs = grid.map((g) => {
    const dedicated = step(g.peers, g.functions, g.batch, g.peers * (g.functions + 2), n);
    return {
      peers: g.peers, functions: g.functions, batch: g.batch, measuredStepMs: g.stepMs,
      modelHereStepMs: step(g.peers, g.functions, g.batch, cores, n), dedicatedStepMs: dedicated,
      dedicatedEpochSeconds: (Math.floor(trainSamples / (g.peers * g.functions * g.batch)) * dedicated) / 1000,
    };
  });
  const meanRelativeError = runs.reduce((s, r) => s + Math.abs(r.modelHereStepMs - r.measuredStepMs) / r.measuredStepMs, 0) / Math.max(1, runs.length);
  const syncParams = o.sync?.params ?? ex?.params;
  const syncPredictions = syncParams
    ? [2, 4, 8, 16].map((p) => {
      const bytesPerPeer = (2 * (p - 1) / p) * 4 * syncParams;
      return { peers: p, params: syncParams, bytesPerPeer, dedicatedSyncMs: oMs + bytesPerPeer / relayBytesPerMs + (9 * 4 * syncParams) / inDbBytesPerMs };
    })
    : [];
  return {
    formula: SCALING_MODEL_FORMULA,
    parameters: { c0Ms, cMsPerSample, oMs, relayBytesPerMs, inDbBytesPerMs, paramCount: n, cores, trainSamples },
    runs, meanRelativeError, syncPredictions,
  };
}
