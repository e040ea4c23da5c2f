// The embedded default of `spirt train --peers N`: N private redis-servers with the module (or the user's,
// --redis), N peer processes (`spirt peer`), their records gathered into a summary, everything stopped at
// the end, on failure and on Ctrl-C. With `respawn`, a peer process or server that dies is started again
// (the server from its append-only file) and the peer rejoins.
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { PeerSetupError } from '../errors';
import { RunningRedis, StartRedisOptions, startRedis } from '../redis/launcher';
import { createAclLayout } from '../security/acl';
import { loadOrCreateIdentity } from '../security/identity';
import { VerifyStats } from '../security/signing';
import { clientTlsOptions, createTlsMaterial } from '../security/tls';
import { RunOptions, runConfig } from './config';
import { closeAllConnections, peerDb, setDatabaseAccess } from './db';
import { PeerRecord, PhaseTimes, checkDatabase } from './peer';
import { RunConfig, keys } from './protocol';
import { stepsPerEpoch } from './training';

export type AppendFsync = 'always' | 'everysec' | 'no';

export interface TrainPeersOptions extends Omit<RunOptions, 'urls'> {
  /** peers to start (ignored when `redis` lists the databases) */
  peers?: number;
  /** use these databases instead of starting servers; peer i uses the i-th */
  redis?: string[];
  /** restart a peer (and its server) that dies, and let it rejoin */
  respawn?: boolean;
  /** with respawn: resolves when peer `id` may be restarted (default at once; the failure benchmark waits) */
  respawnGate?: (id: number) => Promise<void>;
  /** append-only file policy of the started servers (default everysec) */
  appendfsync?: AppendFsync;
  /**
   * started servers only: ACL users (default off, one user per peer allowed its own keys) and signed
   * gradients verified by the receiving module, with a fresh Ed25519 identity per peer (default true)
   */
  secure?: boolean;
  /** started servers speak TLS only, with a per-run CA; peers verify them and present client certificates */
  tls?: boolean;
  /** SPIRT_SIMD per peer (tests: mixed SIMD paths) */
  simd?: Array<string | undefined>;
  /** every record of every peer, as it arrives */
  onRecord?: (record: PeerRecord) => void;
  /** stops the run (Ctrl-C) */
  signal?: AbortSignal;
}

export interface PeerSummary {
  peer: number;
  digest: string;
  step: number;
  view: number;
  bytesSent: number;
  respawns: number;
}

export interface EpochSummary {
  epoch: number;
  accuracy: number;
  loss: number;
  seconds: number;
  /** mean ms per step by phase, over peers and steps */
  phases: PhaseTimes;
  steps: number;
  /** signed exchange: gradient messages the peers' databases verified and refused, summed over peers */
  verification: VerifyStats | null;
}

export interface TrainSummary {
  config: RunConfig;
  epochs: EpochSummary[];
  peers: PeerSummary[];
  /** every live peer finished with the same parameters and optimizer state */
  identical: boolean;
  steps: Array<{ peer: number; step: number; view: number; digest: string; phases: PhaseTimes; bytesSent: number; members: number[] }>;
  /** what the step records violate: a step applied twice, skipped, or digests that differ */
  violations: string[];
  views: number;
  seconds: number;
}

export interface PeerHandle {
  id: number;
  /** the environment of its peer process: its ACL user, identity and TLS files */
  env?: NodeJS.ProcessEnv;
  redis?: RunningRedis;
  process?: ChildProcess;
  /** redis-server arguments and launcher options to restart it with */
  serverArgs?: string[];
  startOptions?: Pick<StartRedisOptions, 'acl' | 'tls' | 'env'>;
  dir?: string;
  port?: number;
}

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'spirt.js');

/** The running group, for tests and benchmarks that kill, pause and restart its parts. */
export interface PeerGroup {
  handles: PeerHandle[];
  config: RunConfig;
  /** resolves when every peer finished; rejects if one failed and respawn is off */
  done: Promise<TrainSummary>;
  /** starts a replacement process for peer `id` that joins the group */
  respawnPeer(id: number): void;
  /** restarts peer `id`'s redis-server from its data directory (append-only file) on the same port */
  restartServer(id: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPeerGroup(options: TrainPeersOptions): Promise<PeerGroup> {
  const started = Date.now();
  const appendfsync = options.appendfsync ?? 'everysec';
  const handles: PeerHandle[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-run-'));
  const stopAll = async () => {
    for (const h of handles) if (h.process && h.process.exitCode === null && h.process.signalCode === null) h.process.kill('SIGKILL');
    await Promise.all(handles.map((h) => h.redis?.stop().catch(() => undefined)));
    await closeAllConnections();
    setDatabaseAccess(undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  let config: RunConfig;
  try {
    let urls: string[];
    if (options.redis) {
      urls = options.redis;
    } else {
      const n = options.peers ?? 4;
      if (!Number.isInteger(n) || n < 1) throw new PeerSetupError('ERR_ARGUMENT', `--peers must be a whole number of at least 1, got ${String(n)}`);
      const secure = options.secure ?? true;
      const ids = Array.from({ length: n }, (_, id) => `peer${id}`);
      const layout = secure ? createAclLayout(ids) : undefined;
      const tls = options.tls ? createTlsMaterial(path.join(tmp, 'tls')) : undefined;
      const identityDir = path.join(tmp, 'identities');
      const pins = secure ? ids.map((id) => loadOrCreateIdentity(id, { dir: identityDir }).publicKey) : [];
      for (let id = 0; id < n; id++) {
        const dir = path.join(tmp, `peer${id}`);
        fs.mkdirSync(dir);
        const serverArgs = ['--appendonly', 'yes', '--appendfsync', appendfsync];
        // the module computes the averages and updates: it runs the peer's SIMD path too
        const simd = options.simd?.[id];
        const startOptions: Pick<StartRedisOptions, 'acl' | 'tls' | 'env'> = {
          ...(layout ? { acl: { layout, owner: ids[id] } } : {}), ...(tls ? { tls } : {}), ...(simd ? { env: { ...process.env, SPIRT_SIMD: simd } } : {}),
        };
        const redis = await startRedis({ dir, args: serverArgs, ...startOptions });
        const env: NodeJS.ProcessEnv = {
          ...(layout ? { SPIRT_REDIS_USERNAME: layout.peers[ids[id]].username, SPIRT_REDIS_PASSWORD: layout.peers[ids[id]].password, SPIRT_IDENTITY_DIR: identityDir } : {}),
          ...(tls ? { SPIRT_TLS_CA: tls.caFile, SPIRT_TLS_CERT: tls.clientCertFile, SPIRT_TLS_KEY: tls.clientKeyFile } : {}),
        };
        handles.push({ id, redis, serverArgs, dir, port: redis.port, env, startOptions });
      }
      // this process talks to the servers as their admin; the peers' URLs carry no credentials
      setDatabaseAccess({ ...(layout ? layout.admin : {}), ...(tls ? { tls: clientTlsOptions(tls) } : {}) });
      urls = handles.map((h) => `${tls ? 'rediss' : 'redis'}://127.0.0.1:${h.port}`);
      if (secure) {
        // pin every peer's public key in every database (only the admin may write pin:*)
        for (const url of urls) {
          const db = await peerDb(url, 'data', 1000);
          for (let id = 0; id < n; id++) await db.command('SET', keys.pin(id), Buffer.from(pins[id]));
        }
      }
    }
    config = runConfig({ ...options, urls, sign: options.redis ? options.sign : (options.sign ?? options.secure ?? true) });
    // bad input is refused before any peer starts
    stepsPerEpoch(config, { number: 1, members: config.roster.map((r) => r.id), startStep: 0, epoch: 0, stepInEpoch: 0, planMembers: config.roster.map((r) => r.id) }, 0);
    for (const r of config.roster) await checkDatabase(config, r.id);
    await closeAllConnections();
    for (const r of config.roster) if (!handles[r.id]) handles[r.id] = { id: r.id };
  } catch (e) {
    await stopAll();
    throw e;
  }
  const configFile = path.join(tmp, 'run.json');
  fs.writeFileSync(configFile, JSON.stringify(config));

  const records: PeerRecord[] = [];
  const respawns = new Map<number, number>();
  const finished = new Map<number, PeerRecord & { type: 'done' }>();
  let settle!: { resolve: (s: TrainSummary) => void; reject: (e: Error) => void };
  const done = new Promise<TrainSummary>((resolve, reject) => (settle = { resolve, reject }));
  let stopping = false;

  const launch = (id: number, join: boolean) => {
    const h = handles[id];
    const env = { ...process.env, ...h.env };
    const simd = options.simd?.[id];
    if (simd) env.SPIRT_SIMD = simd;
    const child = spawn(process.execPath, [BIN, 'peer', '--id', String(id), '--config', configFile, '--report', 'jsonl', ...(join ? ['--join'] : [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    h.process = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const record = JSON.parse(line) as PeerRecord;
      records.push(record);
      if (record.type === 'done') finished.set(record.peer, record);
      options.onRecord?.(record);
      if (finished.size === config.roster.length || (finished.size > 0 && allLiveFinished())) finish();
    });
    child.on('exit', (code, signal) => {
      if (stopping || finished.has(id) || h.process !== child) return;
      // once a peer finished the run, a replacement could only find it over: the others end it
      if (finished.size > 0) {
        if (allLiveFinished()) finish();
        return;
      }
      if (options.respawn) {
        respawns.set(id, (respawns.get(id) ?? 0) + 1);
        setTimeout(() => relaunch(id).catch((e: Error) => {
          if (!stopping) settle.reject(new PeerSetupError('ERR_RESPAWN', `peer ${id} could not be restarted: ${e.message}`));
        }), 50);
      } else {
        settle.reject(new PeerSetupError('ERR_PEER_EXIT', `peer ${id} exited (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      }
    });
  };
  const relaunch = async (id: number) => {
    await options.respawnGate?.(id);
    if (stopping) return;
    const h = handles[id];
    if (h.redis && !(await serverAlive(h))) await restartServer(id);
    launch(id, true);
  };
  // a killed server stays a zombie until its launcher reaps it: look at its state, not only at its pid
  const serverAlive = async (h: PeerHandle) => {
    try {
      const stat = fs.readFileSync(`/proc/${h.redis!.pid}/stat`, 'utf8');
      return !/^\d+ \(.*\) [ZX]/.test(stat);
    } catch {
      return false;
    }
  };
  const restartServer = async (id: number) => {
    const h = handles[id];
    if (!h.dir || !h.serverArgs) throw new PeerSetupError('ERR_ARGUMENT', `peer ${id}'s server was not started here`);
    // the old server's pid is gone; start a new one on the same port from the same directory (AOF)
    h.redis = await startRedis({ dir: h.dir, port: h.port, args: h.serverArgs, ...h.startOptions });
  };
  const allLiveFinished = () => [...handles].every((h) => finished.has(h.id) || !h.process || h.process.exitCode !== null);
  const finish = () => {
    if (stopping) return;
    stopping = true;
    settle.resolve(summarize(config, records, respawns, (Date.now() - started) / 1000));
  };
  for (const r of config.roster) launch(r.id, false);
  options.signal?.addEventListener('abort', () => {
    stopping = true;
    settle.reject(new PeerSetupError('ERR_ABORTED', 'training stopped'));
  });
  return {
    handles, config, done,
    respawnPeer: (id) => launch(id, true),
    restartServer,
    stop: async () => {
      stopping = true;
      await stopAll();
    },
  };
}

/** Runs a whole training to its end and stops everything it started, whatever happens. */
export async function trainPeers(options: TrainPeersOptions): Promise<TrainSummary> {
  const group = await startPeerGroup(options);
  try {
    return await group.done;
  } finally {
    await group.stop();
  }
}

function sumStats(list: Array<VerifyStats | null>): VerifyStats | null {
  const present = list.filter((v): v is VerifyStats => v !== null);
  if (!present.length) return null;
  const out: VerifyStats = { verified: 0, unsigned: 0, tampered: 0, wrongSigner: 0, replay: 0, malformed: 0 };
  for (const v of present) for (const k of Object.keys(out) as Array<keyof VerifyStats>) out[k] += v[k];
  return out;
}

function meanPhases(list: PhaseTimes[]): PhaseTimes {
  const out: PhaseTimes = { compute: 0, exchange: 0, aggregate: 0, update: 0, wait: 0, orchestration: 0 };
  for (const p of list) for (const k of Object.keys(out) as Array<keyof PhaseTimes>) out[k] += p[k] / list.length;
  return out;
}

export function summarize(config: RunConfig, records: PeerRecord[], respawns: Map<number, number>, seconds: number): TrainSummary {
  const steps = records.filter((r): r is PeerRecord & { type: 'step' } => r.type === 'step');
  const epochs: EpochSummary[] = [];
  for (let e = 0; e < config.epochs; e++) {
    const evals = records.filter((r): r is PeerRecord & { type: 'epoch' } => r.type === 'epoch' && r.epoch === e);
    const inEpoch = steps.filter((s) => s.epoch === e);
    if (!evals.length) continue;
    epochs.push({
      epoch: e, accuracy: evals[0].accuracy, loss: evals[0].loss, seconds: Math.max(...evals.map((x) => x.seconds)),
      phases: meanPhases(inEpoch.map((s) => s.phases)), steps: new Set(inEpoch.map((s) => s.step)).size,
      verification: sumStats(evals.map((x) => x.verification)),
    });
  }
  const violations: string[] = [];
  // per peer incarnation: steps strictly consecutive (never twice, never skipped); per step: one digest
  const byPeer = new Map<number, number[]>();
  for (const s of steps) {
    const list = byPeer.get(s.peer) ?? [];
    list.push(s.step);
    byPeer.set(s.peer, list);
  }
  for (const [peer, list] of byPeer) {
    const seen = new Set<number>();
    for (const s of list) {
      if (seen.has(s)) violations.push(`peer ${peer} applied step ${s} twice`);
      seen.add(s);
    }
  }
  // skipped: a survivor's consecutive records jump, and no state copy explains it (copies reset the run of steps)
  const rejoined = new Set(records.filter((r) => r.type === 'view' || r.type === 'rejoin').map((r) => `${r.peer}`));
  for (const [peer, list] of byPeer) {
    for (let i = 1; i < list.length; i++) {
      if (list[i] !== list[i - 1] + 1 && !rejoined.has(`${peer}`)) violations.push(`peer ${peer} went from step ${list[i - 1]} to ${list[i]}`);
    }
  }
  if (config.digestEveryStep) {
    const digests = new Map<number, Set<string>>();
    for (const s of steps) digests.set(s.step, (digests.get(s.step) ?? new Set()).add(s.digest));
    for (const [step, set] of digests) if (set.size > 1) violations.push(`step ${step}: peers hold ${set.size} different states`);
  }
  const done = records.filter((r): r is PeerRecord & { type: 'done' } => r.type === 'done');
  const peers: PeerSummary[] = done.map((d) => ({
    peer: d.peer, digest: d.digest, step: d.step, view: d.view,
    bytesSent: steps.filter((s) => s.peer === d.peer).reduce((a, s) => a + s.bytesSent, 0),
    respawns: respawns.get(d.peer) ?? 0,
  })).sort((a, b) => a.peer - b.peer);
  const finalSteps = Math.max(...peers.map((p) => p.step));
  const identical = new Set(peers.filter((p) => p.step === finalSteps).map((p) => p.digest)).size === 1;
  const views = Math.max(1, ...records.filter((r): r is PeerRecord & { type: 'view' } => r.type === 'view').map((r) => r.view.number));
  return {
    config, epochs, peers, identical, violations, views, seconds,
    steps: steps.map((s) => ({ peer: s.peer, step: s.step, view: s.view, digest: s.digest, phases: s.phases, bytesSent: s.bytesSent, members: s.members })),
  };
}
