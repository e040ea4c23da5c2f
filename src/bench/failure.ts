// `spirt bench failure`: SPIRT's "peer failure recovery time" graph, measured. Trains peer-to-peer with the
// embedded default and --respawn, kills one peer with SIGKILL (its process, and its redis-server with
// killServer) at a random moment in the middle of an epoch, lets the launcher start a replacement, and turns
// the peers' records into a timeline (failure, detection, view change, replacement ready, full speed), with
// the training's invariants: every step applied once, every live peer bit-identical.
import fs from 'node:fs';
import os from 'node:os';
import { ArgumentError, PeerSetupError } from '../errors';
import { simd } from '../kernels';
import { peerDb } from '../peer/db';
import { PeerGroup, TrainSummary, startPeerGroup } from '../peer/launcher';
import type { Heartbeat } from '../peer/liveness';
import { RunConfig, keys } from '../peer/protocol';
import { spirtVersion } from '../version';
import { resultFiles } from './common';
import { FAILURE_BENCH_DEFAULTS as D } from './defaults';
import { failureSvg } from './failureSvg';
import { FailureTimeline, Kill, TimedRecord, failureTimeline } from './failureTimeline';

export interface FailureBenchOptions {
  peers?: number;
  /** the peer to kill */
  kill?: number;
  /** the epoch (1-based, as `spirt train` counts them) in which it is killed */
  atEpoch?: number;
  /** epochs of the run (default atEpoch + 1) */
  epochs?: number;
  /** how far into the epoch, as a fraction of its steps */
  killAt?: number;
  /** kill the peer's redis-server too (the replacement's server restarts from its append-only file) */
  killServer?: boolean;
  heartbeatMs?: number;
  functions?: number;
  batch?: number;
  trainLimit?: number;
  testLimit?: number;
  /** a step within this factor of the pre-failure median is at full speed */
  factor?: number;
  /** the run is stopped (and the benchmark fails) after this long */
  timeoutS?: number;
  outDir?: string;
  log?: (line: string) => void;
}

export interface FailureBenchResult {
  date: string;
  spirt: { version: string; simd: string };
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string; node: string; loadAverage: { start: number[]; end: number[] } };
  settings: Required<Omit<FailureBenchOptions, 'log' | 'outDir' | 'trainLimit'>> & { trainLimit: number | null };
  /** the kill: after the trigger step record, a random delay of up to one heartbeat interval (a failure is not aligned with the beats) */
  trigger: { step: number; epoch: number; stepInEpoch: number; delayMs: number };
  /** ms since the epoch at which the first peer started training; the SVG's time 0 */
  startedAt: number;
  timeline: FailureTimeline;
  goals: { detectionWithin3Intervals: boolean | null };
  training: {
    identical: boolean;
    violations: string[];
    accuracy: number[];
    views: number;
    seconds: number;
    peers: TrainSummary['peers'];
  };
  /** each peer's steps (global step, view, `at`) and installed views, for the graph */
  lanes: Array<{ peer: number; steps: Array<{ step: number; view: number; members: number; at: number }>; views: Array<{ view: number; members: number[]; at: number }> }>;
  epochEnds: Array<{ epoch: number; at: number }>;
  files: { json: string; svg: string };
}

function requireInt(v: number, name: string, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new ArgumentError('ERR_ARGUMENT', `--${name}: ${v} is not a whole number of at least ${min}`);
}

/** The victim's last heartbeat, from its database (null if it cannot be read, e.g. its server is gone). */
async function lastBeat(config: RunConfig, peer: number): Promise<number | null> {
  try {
    const db = await peerDb(config.roster[peer].url, 'control', config.heartbeatMs);
    return (await db.getJson<Heartbeat>(keys.heartbeat(peer)))?.at ?? null;
  } catch {
    return null;
  }
}

export async function runFailureBench(o: FailureBenchOptions = {}): Promise<FailureBenchResult> {
  const atEpoch = o.atEpoch ?? D.atEpoch;
  const settings: FailureBenchResult['settings'] = {
    peers: o.peers ?? D.peers, kill: o.kill ?? D.kill, atEpoch, epochs: o.epochs ?? atEpoch + 1, killAt: o.killAt ?? D.killAt,
    killServer: o.killServer ?? false, heartbeatMs: o.heartbeatMs ?? D.heartbeatMs, functions: o.functions ?? D.functions,
    batch: o.batch ?? D.batch, trainLimit: o.trainLimit ?? null, testLimit: o.testLimit ?? D.testLimit, factor: o.factor ?? D.factor,
    timeoutS: o.timeoutS ?? D.timeoutS,
  };
  const s = settings;
  requireInt(s.peers, 'peers', 2);
  requireInt(s.atEpoch, 'at-epoch', 1);
  requireInt(s.epochs, 'epochs', 1);
  for (const [v, name] of [[s.functions, 'functions'], [s.batch, 'batch'], [s.testLimit, 'test-limit']] as const) requireInt(v, name, 1);
  if (s.trainLimit !== null) requireInt(s.trainLimit, 'train-limit', 1);
  if (!Number.isInteger(s.kill) || s.kill < 0 || s.kill >= s.peers) throw new ArgumentError('ERR_ARGUMENT', `--kill: ${s.kill} is not a peer id (0 to ${s.peers - 1})`);
  if (s.epochs < s.atEpoch) throw new ArgumentError('ERR_ARGUMENT', `--epochs ${s.epochs}: the run ends before epoch ${s.atEpoch}, in which the peer is killed`);
  if (!(s.killAt >= 0 && s.killAt < 1)) throw new ArgumentError('ERR_ARGUMENT', `--kill-at: ${s.killAt} is not a fraction in [0, 1)`);
  if (!(s.factor > 1)) throw new ArgumentError('ERR_ARGUMENT', `--factor: ${s.factor} must be above 1`);
  if (!(s.heartbeatMs >= 10)) throw new ArgumentError('ERR_ARGUMENT', `--heartbeat-ms: ${s.heartbeatMs} is below 10`);
  if (!(s.timeoutS > 0)) throw new ArgumentError('ERR_ARGUMENT', `--timeout-s: ${s.timeoutS} must be positive`);
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const files = resultFiles(o.outDir ?? D.outDir, 'failure');
  const loadStart = os.loadavg();

  const records: TimedRecord[] = [];
  let kill: Kill | null = null;
  let trigger: FailureBenchResult['trigger'] | null = null;
  let group: PeerGroup | undefined;
  let failKill: (e: Error) => void = () => undefined;
  const killFailed = new Promise<never>((_, reject) => (failKill = reject));
  killFailed.catch(() => undefined);

  const killVictim = async () => {
    const g = group!;
    const h = g.handles[s.kill];
    // read before the kill: the server may go with it
    const lastBeatAt = await lastBeat(g.config, s.kill);
    const at = Date.now();
    if (s.killServer) {
      if (!h.redis) throw new PeerSetupError('ERR_ARGUMENT', `peer ${s.kill}'s server was not started here`);
      process.kill(h.redis.pid, 'SIGKILL');
    }
    h.process?.kill('SIGKILL');
    kill = { peer: s.kill, at, lastBeatAt, server: s.killServer };
    log(`killed peer ${s.kill}${s.killServer ? ' and its redis-server' : ''} (kill -9) in epoch ${s.atEpoch}, after step ${trigger!.step}`);
  };
  // the victim is restarted once a survivor installed the view without it, so that every phase is measured on
  // its own (a replacement back before the old process is found dead would replace it in one view change)
  let excluded: () => void = () => undefined;
  const victimExcluded = new Promise<void>((resolve) => (excluded = resolve));
  const onRecord = (record: TimedRecord) => {
    records.push(record);
    if (kill && record.type === 'view' && record.peer !== s.kill && !record.view.members.includes(s.kill)) excluded();
    // once every survivor finished, a replacement that is not a member yet can never be admitted
    if (record.type === 'done' && kill) {
      const finished = new Set(records.filter((r) => r.type === 'done').map((r) => r.peer));
      const admitted = records.some((r) => r.type === 'view' && r.peer === s.kill && r.at > kill!.at && r.view.members.includes(s.kill));
      if (!admitted && [...Array(s.peers).keys()].every((p) => p === s.kill || finished.has(p))) {
        const joining = records.find((r) => r.type === 'joining' && r.peer === s.kill && r.at > kill!.at);
        failKill(new PeerSetupError('ERR_RUN_OVER', `the run ended ${((record.at - kill.at) / 1000).toFixed(1)} s after the kill, before the replacement of peer ${s.kill} ` +
          `rejoined (${joining ? `it asked to join ${((joining.receivedAt - kill.at) / 1000).toFixed(1)} s after the kill` : 'it had not even asked to join'}): ` +
          'give it more time (--epochs, --train-limit) or kill earlier (--at-epoch, --kill-at)'));
      }
    }
    if (record.type === 'ready' && record.peer === 0 && !record.joined) log(`${s.peers} peers ready: ${record.stepsPerEpoch} steps per epoch`);
    if (record.type === 'epoch' && record.peer === Math.min(...[...Array(s.peers).keys()].filter((p) => p !== s.kill))) {
      log(`epoch ${record.epoch + 1}: test accuracy ${(record.accuracy * 100).toFixed(2)}% (${record.seconds.toFixed(1)} s)`);
    }
    if (trigger || record.type !== 'step' || record.epoch !== s.atEpoch - 1 || record.stepInEpoch < Math.floor(s.killAt * record.stepsPerEpoch)) return;
    const delayMs = Math.random() * s.heartbeatMs;
    trigger = { step: record.step, epoch: record.epoch, stepInEpoch: record.stepInEpoch, delayMs };
    setTimeout(() => killVictim().catch((e: Error) => failKill(e)), delayMs);
  };

  log(`starting ${s.peers} private redis-servers with the spirt module and ${s.peers} peer processes (respawn on)...`);
  group = await startPeerGroup({
    peers: s.peers, functions: s.functions, batch: s.batch, epochs: s.epochs, heartbeatMs: s.heartbeatMs,
    ...(s.trainLimit === null ? {} : { trainLimit: s.trainLimit }), testLimit: s.testLimit,
    respawn: true, digestEveryStep: true,
    // bounded: a run in which no survivor excludes the victim still restarts it, and the report shows why
    respawnGate: (id) => (id === s.kill ? Promise.race([victimExcluded, new Promise<void>((r) => setTimeout(r, 20 * s.heartbeatMs).unref())]) : Promise.resolve()),
    onRecord: (r) => onRecord({ ...r, receivedAt: Date.now() }),
  });
  let summary: TrainSummary;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PeerSetupError('ERR_TIMEOUT', `the run did not finish within ${s.timeoutS} s` +
        `${kill ? '' : ` (peer ${s.kill} was never killed: does the run reach epoch ${s.atEpoch}?)`}; ${lastHeard(records, s.peers)}`)), s.timeoutS * 1000);
    });
    summary = await Promise.race([group.done, timeout, killFailed]);
  } finally {
    clearTimeout(timer);
    await group.stop();
  }
  if (!kill || !trigger) throw new PeerSetupError('ERR_ARGUMENT', `peer ${s.kill} was never killed: the run has no step ${s.killAt} into epoch ${s.atEpoch}`);
  const timeline = failureTimeline(records, kill, { heartbeatMs: s.heartbeatMs, peers: s.peers, factor: s.factor });

  const startedAt = Math.min(...records.filter((r): r is Extract<TimedRecord, { type: 'view' }> => r.type === 'view').map((r) => r.at));
  const lanes: FailureBenchResult['lanes'] = Array.from({ length: s.peers }, (_, peer) => ({
    peer,
    steps: records.filter((r): r is Extract<TimedRecord, { type: 'step' }> => r.type === 'step' && r.peer === peer)
      .map((r) => ({ step: r.step, view: r.view, members: r.members.length, at: r.at })),
    views: records.filter((r): r is Extract<TimedRecord, { type: 'view' }> => r.type === 'view' && r.peer === peer)
      .map((r) => ({ view: r.view.number, members: r.view.members, at: r.at })),
  }));
  const epochEnds = summary.epochs.map((e) => ({
    epoch: e.epoch,
    at: Math.min(...records.filter((r): r is Extract<TimedRecord, { type: 'epoch' }> => r.type === 'epoch' && r.epoch === e.epoch).map((r) => r.at)),
  }));
  const result: FailureBenchResult = {
    date: new Date().toISOString(),
    spirt: { version: spirtVersion, simd: simd.path },
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.arch()}`, node: process.version, loadAverage: { start: loadStart, end: os.loadavg() },
    },
    settings, trigger, startedAt, timeline,
    goals: { detectionWithin3Intervals: timeline.detection ? timeline.detection.intervals <= 3 : null },
    training: {
      identical: summary.identical, violations: summary.violations, accuracy: summary.epochs.map((e) => e.accuracy),
      views: summary.views, seconds: summary.seconds, peers: summary.peers,
    },
    lanes, epochEnds, files,
  };
  fs.writeFileSync(files.svg, failureSvg(result));
  fs.writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

const sec = (ms: number | null | undefined) => (ms == null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

/** The run's figures as the CLI prints them. */
export function formatFailureReport(r: FailureBenchResult): string {
  const t = r.timeline, p = t.phases, m = r.machine;
  const hb = r.settings.heartbeatMs;
  const lines = [
    `${m.cpu}, ${m.cores} cores, load average ${m.loadAverage.start[0].toFixed(1)} -> ${m.loadAverage.end[0].toFixed(1)}, Node ${m.node}, spirt ${r.spirt.version} (${r.spirt.simd})`,
    `${r.settings.peers} peers x ${r.settings.functions} functions x batch ${r.settings.batch}, heartbeat ${hb} ms; peer ${t.kill.peer}` +
      `${t.kill.server ? ' and its redis-server' : ''} killed in epoch ${r.settings.atEpoch} after step ${r.trigger.step} (+${r.trigger.delayMs.toFixed(0)} ms)`,
    '',
    `detection        ${sec(p.detectionMs)}` + (t.detection ? ` = ${t.detection.intervals.toFixed(2)} heartbeat intervals after the kill (goal <= 3: ${r.goals.detectionWithin3Intervals ? 'met' : 'MISSED'})` +
      `${t.detection.afterLastBeatMs === null ? '' : `, ${(t.detection.afterLastBeatMs / hb).toFixed(2)} after its last beat`}; peer ${t.detection.peer}: ${t.detection.error}` : ''),
    `view change      ${sec(p.viewChangeMs)}` + (t.viewChange ? ` (view ${t.viewChange.view}: ${t.viewChange.members.join(', ')}, from step ${t.viewChange.startStep})` : ''),
    `degraded         ${sec(p.degradedMs)}` + (t.replacement ? ` (replacement: restart ${sec(t.replacement.restartMs)}, admission ${sec(t.replacement.admissionMs)}; view ${t.replacement.view} from step ${t.replacement.startStep})` : ''),
    `state copy       ${sec(p.stateCopyMs)}`,
    `to full speed    ${sec(p.backToFullSpeedMs)}` + (t.fullSpeed ? ` (step ${t.fullSpeed.step})` : ''),
    `recovery         ${sec(p.recoveryMs)} from the kill to full speed`,
    '',
    `step time: ${sec(t.stepTimes.baselineMs)} before the failure (full speed <= ${sec(t.stepTimes.thresholdMs)}), ${sec(t.stepTimes.degradedMs)} without the peer, ` +
      `${sec(t.stepTimes.recoveredMs)} after; no step completed for ${sec(t.stalls.failureMs)} at the failure, ${sec(t.stalls.admissionMs)} at the admission`,
    `training: ${r.training.accuracy.map((a) => `${(a * 100).toFixed(2)}%`).join(', ')} test accuracy by epoch, ${r.training.views} views; ` +
      `${r.training.identical ? 'every peer finished bit-identical' : 'the peers finished with DIFFERENT states'}` +
      `${r.training.violations.length ? `; violations: ${r.training.violations.slice(0, 3).join('; ')}` : ', no step applied twice or skipped'}`,
  ];
  return lines.join('\n');
}

/** What each peer reported last (a stuck run says where it stuck): its last two records, condensed. */
function lastHeard(records: TimedRecord[], peers: number): string {
  const brief = (r: TimedRecord): string => {
    const at = new Date(r.receivedAt).toISOString().slice(11, 23);
    switch (r.type) {
      case 'step': return `step ${r.step} in view ${r.view} at ${at}`;
      case 'view': return `view ${r.view.number} (${r.view.members.join(',')}) from step ${r.view.startStep} at ${at}`;
      case 'recover': return `recover in view ${r.view} (${r.error}: ${r.cause.slice(0, 160)}) at ${at}`;
      case 'rejoin': return `rejoin (${r.reason.slice(0, 160)}) at ${at}`;
      default: return `${r.type} at ${at}`;
    }
  };
  return 'last heard: ' + Array.from({ length: peers }, (_, p) => {
    const last = records.filter((r) => r.peer === p).slice(-2);
    return `peer ${p}: ${last.length ? last.map(brief).join(', then ') : 'nothing'}`;
  }).join('; ');
}
