// One peer: checks its database and the others, initializes (or joins), then runs one state machine
// execution per epoch until the run ends. It reports what happens as records (JSON lines under the CLI).

import crypto from 'node:crypto';
import { OutOfViewError, PeerSetupError, RedisConnectionError, TensorCommandError } from '../errors';
import { StepEvent } from '../functions/event';
import type { RecoverEvent } from '../functions/recover';
import { VerifyStats, parseVerifyStats } from '../security/signing';
import { epochMachine, runEpoch } from '../orchestrate/runner';
import { closeAllConnections, peerDb } from './db';
import { beat, inspect } from './liveness';
import { JoinReply, JoinRequest, modelName } from './join';
import { HEARTBEAT_LAPSE, PeerState, RunConfig, View, addressOf, keys } from './protocol';
import { catchUp, stateDigest } from './recovery';
import { datasetFor, modelFor, stepsPerEpoch } from './training';

/** What a peer reports while it runs (the launcher aggregates these). */
export type PeerRecord =
  | { type: 'ready'; peer: number; paramCount: number; view: number; joined: boolean; stepsPerEpoch: number }
  | { type: 'step'; peer: number; step: number; epoch: number; stepInEpoch: number; stepsPerEpoch: number; view: number; members: number[]; loss: number; digest: string; phases: PhaseTimes; bytesSent: number; at: number }
  | { type: 'view'; peer: number; view: View; at: number }
  | { type: 'epoch'; peer: number; epoch: number; accuracy: number; loss: number; seconds: number; at: number; verification: VerifyStats | null }
  | { type: 'rejoin'; peer: number; reason: string; at: number }
  /** a view change starts: the state machine entered Recover, caught from `error` (what this peer detected) */
  | { type: 'recover'; peer: number; view: number; error: string; cause: string; at: number }
  /** a (re)starting peer has loaded its data and model and asks the members to admit it */
  | { type: 'joining'; peer: number; at: number }
  | { type: 'done'; peer: number; digest: string; step: number; view: number; at: number };

/** Milliseconds of one step, by phase. */
export interface PhaseTimes {
  compute: number;
  exchange: number;
  aggregate: number;
  update: number;
  wait: number;
  orchestration: number;
}

export interface PeerOptions {
  config: RunConfig;
  id: number;
  /** join a running group (replacement, rejoin) instead of starting with the roster */
  join?: boolean;
  report?: (record: PeerRecord) => void;
}

/** Fails with a typed error unless `url` answers and has the spirt module loaded. */
export async function checkDatabase(config: RunConfig, id: number): Promise<void> {
  const { url } = addressOf(config, id);
  let db;
  try {
    db = await peerDb(url, 'data', config.heartbeatMs);
    await db.command('TENSOR.GET', `{peer${id}}:probe`, 'META');
  } catch (e) {
    if (e instanceof TensorCommandError && /unknown command/i.test(e.message)) {
      throw new PeerSetupError('ERR_NO_MODULE', `peer ${id}'s Redis at ${redact(url)} does not have the spirt module loaded (start it with --loadmodule $(npx spirt module-path))`);
    }
    if (e instanceof RedisConnectionError) throw new PeerSetupError('ERR_UNREACHABLE', `peer ${id}'s Redis at ${redact(url)} is unreachable: ${e.message}`);
    throw e;
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/**
 * Removes this peer's keys from a previous run: its own in its database, and what it wrote into the others'
 * (with newer versions than this run's, they would confuse the barrier). Signed copies are not this peer's
 * to delete under ACL; embedded runs start on empty servers anyway.
 */
async function deleteOwnKeys(config: RunConfig, id: number, everywhere: boolean): Promise<void> {
  for (const peer of everywhere ? config.roster : [addressOf(config, id)]) {
    const db = await peerDb(peer.url, 'data', config.heartbeatMs).catch(() => null);
    if (!db) continue;
    for (const pattern of [`{peer${id}}:*`, `signed:{peer${id}}:*`]) {
      let cursor = '0';
      do {
        const [next, found] = (await db.command('SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000')) as [Buffer, Buffer[]];
        cursor = String(next);
        if (found.length) await db.command('DEL', ...found.map(String)).catch(() => undefined);
      } while (cursor !== '0');
    }
  }
}

interface Meta {
  paramCount: number;
  dtype: 'float32';
  model: string;
}

/** Every roster member publishes what it trains; all must agree before anything starts. */
async function agreeOnModel(config: RunConfig, id: number, meta: Meta): Promise<void> {
  const own = await peerDb(addressOf(config, id).url, 'data', config.heartbeatMs);
  await own.setJson(`{peer${id}}:pub:meta`, meta);
  const deadline = Date.now() + Math.max(30_000, 50 * config.heartbeatMs);
  for (const peer of config.roster) {
    if (peer.id === id) continue;
    for (;;) {
      const db = await peerDb(peer.url, 'control', config.heartbeatMs).catch(() => null);
      const theirs = db ? await db.getJson<Meta>(`{peer${peer.id}}:pub:meta`).catch(() => null) : null;
      if (theirs) {
        if (theirs.paramCount !== meta.paramCount || theirs.dtype !== meta.dtype || theirs.model !== meta.model) {
          throw new PeerSetupError('ERR_MODEL_MISMATCH', `peer ${peer.id} trains ${theirs.model} (${theirs.paramCount} ${theirs.dtype} parameters), peer ${id} ${meta.model} (${meta.paramCount} ${meta.dtype}): all peers must train the same model`);
        }
        break;
      }
      if (Date.now() > deadline) throw new PeerSetupError('ERR_UNREACHABLE', `peer ${peer.id} did not start within ${Math.round(Math.max(30_000, 50 * config.heartbeatMs) / 1000)} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Fresh start: the same seeded parameters in every peer's database, view 1 = the roster. */
async function initialize(config: RunConfig, id: number): Promise<{ view: View; state: PeerState }> {
  const model = await modelFor(config);
  await deleteOwnKeys(config, id, true);
  await agreeOnModel(config, id, { paramCount: model.paramCount, dtype: 'float32', model: modelName(config) });
  const own = await peerDb(addressOf(config, id).url, 'data', config.heartbeatMs);
  const params = model.initParams(config.seed);
  await own.setFloat32(keys.params(id), new Uint8Array(params.buffer, params.byteOffset, params.byteLength), 0);
  const members = config.roster.map((r) => r.id).sort((a, b) => a - b);
  const view: View = { number: 1, members, startStep: 0, epoch: 0, stepInEpoch: 0, planMembers: members };
  const state: PeerState = { step: -1, view: 1, epoch: 0, stepInEpoch: -1, digest: await stateDigest(config, id) };
  await own.setJson(keys.state(id), state);
  await own.setJson(keys.view(id), view);
  return { view, state };
}

/**
 * Joining: waits for a previous incarnation's heartbeat to lapse (a live one means a duplicate id), asks
 * every member, and waits until a view with this peer is installed or a member refuses.
 */
async function join(config: RunConfig, id: number): Promise<{ view: View; state: PeerState }> {
  const lapse = HEARTBEAT_LAPSE * config.heartbeatMs;
  const own = await peerDb(addressOf(config, id).url, 'data', config.heartbeatMs);
  // a newest view that still lists this id with a live heartbeat: another process is this peer
  const newest = async (): Promise<View | null> => {
    const views = await Promise.all(config.roster.filter((r) => r.id !== id).map((r) => inspect(config, r.id)));
    return views.map((v) => v.view).filter((v): v is View => v !== null).sort((a, b) => b.number - a.number)[0] ?? null;
  };
  const waitUntil = Date.now() + 2 * lapse + 1000;
  for (;;) {
    const view = await newest();
    const alive = (await own.command('PTTL', keys.heartbeat(id))) !== -2;
    if (!(view?.members.includes(id) && alive)) break;
    if (Date.now() > waitUntil) throw new PeerSetupError('ERR_DUPLICATE_PEER', `duplicate peer id ${id}: a live member of view ${view.number} holds it`);
    await new Promise((r) => setTimeout(r, config.heartbeatMs / 4));
  }
  await deleteOwnKeys(config, id, false);
  // beat from now on, so that members who admit this peer find it alive, marked as joining with the request's
  // nonce: a member whose view still holds this id learns that its old process is gone
  const nonce = crypto.randomBytes(8).toString('hex');
  await beat(config, id, 0, -1, nonce);
  const beating = setInterval(() => beat(config, id, 0, -1, nonce).catch(() => undefined), config.heartbeatMs);
  try {
    return await requestAdmission(config, id, nonce, members0(config, id), newest, own);
  } finally {
    clearInterval(beating);
  }
}

function members0(config: RunConfig, id: number) {
  return config.roster.filter((r) => r.id !== id);
}

async function requestAdmission(config: RunConfig, id: number, nonce: string, members: RunConfig['roster'], newest: () => Promise<View | null>, own: Awaited<ReturnType<typeof peerDb>>): Promise<{ view: View; state: PeerState }> {
  const model = await modelFor(config);
  const request: JoinRequest = { id, nonce, paramCount: model.paramCount, model: modelName(config), at: Date.now() };
  await Promise.all(members.map(async (r) => {
    const db = await peerDb(r.url, 'control', config.heartbeatMs).catch(() => null);
    await db?.setJson(keys.join(id), request, 600_000).catch(() => undefined);
  }));
  const deadline = Date.now() + Math.max(60_000, 300 * config.heartbeatMs);
  for (;;) {
    for (const r of members) {
      const db = await peerDb(r.url, 'control', config.heartbeatMs).catch(() => null);
      const reply = db ? await db.getJson<JoinReply>(keys.joinReply(r.id, id)).catch(() => null) : null;
      if (reply?.nonce === request.nonce) {
        const code = reply.reason.startsWith('duplicate') ? 'ERR_DUPLICATE_PEER' : reply.reason.startsWith('model mismatch') ? 'ERR_MODEL_MISMATCH' : 'ERR_JOIN_REFUSED';
        throw new PeerSetupError(code, `peer ${r.id} refused peer ${id}: ${reply.reason}`);
      }
    }
    const finished = await Promise.all(members.map((r) => inspect(config, r.id)));
    if (finished.some((r) => r.state?.finished)) throw new PeerSetupError('ERR_RUN_OVER', `the run ended before peer ${id} could join`);
    const view = await newest();
    if (view && view.members.includes(id)) {
      const none: PeerState = { step: -1, view: 0, epoch: 0, stepInEpoch: -1, digest: '' };
      const state = await catchUp(config, id, view, none);
      await own.setJson(keys.view(id), view);
      await Promise.all(members.map((r) => peerDb(r.url, 'control', config.heartbeatMs).then((db) => db.command('DEL', keys.join(id))).catch(() => undefined)));
      return { view, state };
    }
    if (Date.now() > deadline) throw new PeerSetupError('ERR_JOIN_TIMEOUT', `no member admitted peer ${id} within ${Math.round(Math.max(60_000, 300 * config.heartbeatMs) / 1000)} s`);
    await new Promise((r) => setTimeout(r, config.heartbeatMs / 4));
  }
}

/** Runs the peer until the last epoch; resolves to its final state. */
export async function runPeer(options: PeerOptions): Promise<PeerState> {
  try {
    return await runPeerUntilDone(options);
  } finally {
    // whatever happened, no connection keeps the process alive
    await closeAllConnections();
  }
}

async function runPeerUntilDone(options: PeerOptions): Promise<PeerState> {
  const { config, id } = options;
  const report = options.report ?? (() => undefined);
  await checkDatabase(config, id);
  // load the data and the model before the first heartbeat: loading blocks the event loop for seconds
  datasetFor(config);
  await modelFor(config);
  epochMachine();
  if (options.join) report({ type: 'joining', peer: id, at: Date.now() });
  let { view, state } = options.join ? await join(config, id) : await initialize(config, id);
  let position = { step: view.startStep, epoch: view.epoch, stepInEpoch: view.stepInEpoch };
  let current = { view: view.number, step: position.step };
  await beat(config, id, view.number, position.step);
  // a peer whose own database stays unreachable for longer than the others take to declare it failed ends
  // its process: its supervisor (--respawn) restarts the server from its append-only file and the peer rejoins
  let ownSilentSince: number | null = null;
  const heartbeat = setInterval(() => {
    beat(config, id, current.view, current.step).then(() => (ownSilentSince = null), () => {
      ownSilentSince ??= Date.now();
      if (Date.now() - ownSilentSince > HEARTBEAT_LAPSE * config.heartbeatMs) {
        process.stderr.write(`spirt: peer ${id} lost its own database at ${redact(addressOf(config, id).url)}\n`);
        process.exit(3);
      }
    });
  }, config.heartbeatMs);
  try {
    if (!options.join) await rendezvous(config, id);
    report({ type: 'ready', peer: id, paramCount: (await modelFor(config)).paramCount, view: view.number, joined: !!options.join, stepsPerEpoch: stepsPerEpoch(config, view, position.epoch) });
    report({ type: 'view', peer: id, view, at: Date.now() });
    while (position.epoch < config.epochs) {
      const started = Date.now();
      let stepStart = performance.now(), phases = emptyPhases(), bytesSent = 0, stateEnd = performance.now();
      let out: StepEvent;
      try {
        out = await runEpoch({ config, peer: id, view, position }, (name, ms, output) => {
          const event = output as StepEvent;
          const waitMs = event.metrics?.waitMs ?? 0;
          const now = performance.now();
          if (name === 'Membership') (stepStart = now - ms), (phases = emptyPhases()), (bytesSent = 0);
          else if (name === 'Exchange') phases.compute += now - ms - stateEnd, phases.exchange += ms;
          else if (name === 'Aggregate') phases.aggregate += ms - waitMs, phases.wait += waitMs;
          else if (name === 'Update') phases.update += ms - waitMs, phases.wait += waitMs;
          if (name !== 'ComputeGradient') stateEnd = now;
          bytesSent += event.metrics?.bytesSent ?? 0;
          if (name === 'Membership') current = { view: event.view.number, step: event.position.step };
          if (name === 'Update') {
            phases.orchestration = now - stepStart - (phases.compute + phases.exchange + phases.aggregate + phases.update + phases.wait);
            recordStep(config, id, event, phases, bytesSent, report);
          }
          if (name === 'Recover') {
            view = event.view;
            current = { view: view.number, step: event.position.step };
            report({ type: 'view', peer: id, view, at: Date.now() });
          }
        }, (name, input) => {
          if (name !== 'Recover') return;
          const { error } = input as RecoverEvent;
          report({ type: 'recover', peer: id, view: view.number, error: error?.Error ?? '', cause: (error?.Cause ?? '').slice(0, 300), at: Date.now() });
        });
      } catch (e) {
        if (!(e instanceof OutOfViewError)) throw e;
        report({ type: 'rejoin', peer: id, reason: e.message, at: Date.now() });
        ({ view, state } = await join(config, id));
        position = { step: view.startStep, epoch: view.epoch, stepInEpoch: view.stepInEpoch };
        current = { view: view.number, step: position.step };
        report({ type: 'view', peer: id, view, at: Date.now() });
        continue;
      }
      view = out.view;
      position = out.position;
      current = { view: view.number, step: position.step };
      if (out.evaluation) {
        // what this peer's database verified and refused so far (signed exchange)
        const verification = config.sign ? parseVerifyStats(await (await peerDb(addressOf(config, id).url, 'data', config.heartbeatMs)).command('TENSOR.VERIFYSTATS')) : null;
        report({ type: 'epoch', peer: id, epoch: position.epoch - 1, accuracy: out.evaluation.accuracy, loss: out.evaluation.loss, seconds: (Date.now() - started) / 1000, at: Date.now(), verification });
      }
    }
    const own = await peerDb(addressOf(config, id).url, 'data', config.heartbeatMs);
    const last = (await own.getJson<PeerState>(keys.state(id))) ?? state;
    const digest = await stateDigest(config, id);
    await own.setJson(keys.state(id), { ...last, digest, finished: true });
    report({ type: 'done', peer: id, digest, step: last.step, view: view.number, at: Date.now() });
    return { ...last, digest };
  } finally {
    clearInterval(heartbeat);
  }
}

/** A fresh start waits until every roster member has initialized and beats, so nobody starts by declaring a slow starter failed. */
async function rendezvous(config: RunConfig, id: number): Promise<void> {
  const deadline = Date.now() + Math.max(60_000, 100 * config.heartbeatMs);
  for (const peer of config.roster) {
    if (peer.id === id) continue;
    for (;;) {
      const r = await inspect(config, peer.id);
      if (r.alive && r.view?.number === 1 && r.state?.step === -1) break;
      if (r.state && r.state.step >= 0) break; // it is already training: it saw everyone
      if (Date.now() > deadline) throw new PeerSetupError('ERR_UNREACHABLE', `peer ${peer.id} did not become ready`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }
}

function emptyPhases(): PhaseTimes {
  return { compute: 0, exchange: 0, aggregate: 0, update: 0, wait: 0, orchestration: 0 };
}

function recordStep(config: RunConfig, id: number, event: StepEvent, phases: PhaseTimes, bytesSent: number, report: (r: PeerRecord) => void): void {
  const { position, view } = event;
  report({
    type: 'step', peer: id, step: position.step, epoch: position.epoch, stepInEpoch: position.stepInEpoch,
    stepsPerEpoch: stepsPerEpoch(config, view, position.epoch), view: view.number, members: view.members,
    loss: event.loss ?? NaN, digest: event.digest ?? '', phases: { ...phases }, bytesSent, at: Date.now(),
  });
}
