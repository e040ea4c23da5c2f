// Failure detection: every peer keeps a heartbeat key with a TTL in its own database; a member whose key
// lapsed, or whose database has not answered for the same time, is declared failed. Checked at every step
// boundary and every time a blocking wait times out (a quarter interval), so detection takes at most
// HEARTBEAT_LAPSE + 1/4 intervals after the last beat.
import { OutOfViewError, PeerFailedError, ViewChangeError } from '../errors';
import { peerDb } from './db';
import { HEARTBEAT_LAPSE, PeerState, RunConfig, View, addressOf, keys } from './protocol';
import { Proposal } from './view';

export interface Heartbeat {
  peer: number;
  view: number;
  step: number;
  at: number;
  /** a (re)started process asking to join: its request's nonce (its beats are not its old incarnation's) */
  joining?: string;
}

/** Publishes this peer's heartbeat (a key that lives HEARTBEAT_LAPSE intervals). */
export async function beat(config: RunConfig, self: number, view: number, step: number, joining?: string): Promise<void> {
  const db = await peerDb(addressOf(config, self).url, 'data', config.heartbeatMs);
  const hb: Heartbeat = { peer: self, view, step, at: Date.now(), ...(joining ? { joining } : {}) };
  await db.setJson(keys.heartbeat(self), hb, HEARTBEAT_LAPSE * config.heartbeatMs);
}

/** Since when each peer's database has not answered (per process: the detector's only memory). */
const silentSince = new Map<number, number>();

export interface MemberReport {
  peer: number;
  alive: boolean;
  /** its heartbeat, when it answered and beats */
  heartbeat: Heartbeat | null;
  /** the view it installed and its current proposal, when it answered */
  view: View | null;
  proposal: Proposal | null;
  state: PeerState | null;
}

/** One look at a peer's database: heartbeat, installed view, proposal, state. */
export async function inspect(config: RunConfig, peer: number): Promise<MemberReport> {
  const lapseMs = HEARTBEAT_LAPSE * config.heartbeatMs;
  try {
    const db = await peerDb(addressOf(config, peer).url, 'control', config.heartbeatMs);
    const [heartbeat, view, proposal, state] = await Promise.all([
      db.getJson<Heartbeat>(keys.heartbeat(peer)),
      db.getJson<View>(keys.view(peer)),
      db.getJson<Proposal>(keys.proposal(peer)),
      db.getJson<PeerState>(keys.state(peer)),
    ]);
    silentSince.delete(peer);
    return { peer, alive: heartbeat !== null, heartbeat, view, proposal, state };
  } catch {
    const since = silentSince.get(peer) ?? Date.now();
    silentSince.set(peer, since);
    return { peer, alive: Date.now() - since < lapseMs, heartbeat: null, view: null, proposal: null, state: null };
  }
}

/**
 * Throws when the step cannot go on in `view`: PeerFailedError when members failed, ViewChangeError when a
 * member proposed or installed a newer view, OutOfViewError when a newer view excludes this peer.
 */
export async function guard(config: RunConfig, self: number, view: View): Promise<void> {
  const reports = await Promise.all(view.members.filter((m) => m !== self).map((m) => inspect(config, m)));
  for (const r of reports) {
    if (r.view && r.view.number > view.number && !r.view.members.includes(self)) {
      throw new OutOfViewError('ERR_OUT_OF_VIEW', `peer ${r.peer} installed view ${r.view.number} (${r.view.members.join(', ')}) without peer ${self}`);
    }
  }
  const failed = reports.filter((r) => !r.alive).map((r) => r.peer);
  if (failed.length) throw new PeerFailedError(failed, `peer(s) ${failed.join(', ')} failed (no heartbeat for ${HEARTBEAT_LAPSE} intervals of ${config.heartbeatMs} ms)`);
  // a member that beats as a joiner this view did not admit is a new process: the one in the view is gone, even
  // if the heartbeat never lapsed in between (the new one may beat from the moment the old one's key expired)
  const restarted = reports.find((r) => r.heartbeat?.joining !== undefined && view.admitted?.[r.peer] !== r.heartbeat.joining);
  if (restarted) throw new ViewChangeError('ERR_VIEW_CHANGE', `peer ${restarted.peer} restarted and asks to join`);
  const newer = reports.find((r) => (r.proposal && r.proposal.number > view.number) || (r.view && r.view.number > view.number));
  if (newer) throw new ViewChangeError('ERR_VIEW_CHANGE', `peer ${newer.peer} moved past view ${view.number}`);
}

/**
 * TENSOR.WAIT in slices of a quarter heartbeat interval, with the guard between slices: blocks in the server
 * (no polling of the keys), and never waits on a failed peer for more than the detection time.
 */
export async function waitGuarded(config: RunConfig, self: number, view: View, keysToWait: readonly string[], ver: number): Promise<number> {
  if (keysToWait.length === 0) return 0;
  const db = await peerDb(addressOf(config, self).url, 'data', config.heartbeatMs);
  const started = Date.now();
  const deadline = started + Math.max(120_000, 200 * config.heartbeatMs);
  for (;;) {
    const versions = await db.wait(keysToWait, ver, config.heartbeatMs / 4);
    if (versions) {
      const ahead = versions.findIndex((v) => v !== ver);
      if (ahead >= 0) throw new ViewChangeError('ERR_VIEW_CHANGE', `${keysToWait[ahead]} is at version ${versions[ahead]}, expected ${ver}`);
      return Date.now() - started;
    }
    await guard(config, self, view);
    if (Date.now() > deadline) throw new PeerFailedError([], `waited ${Date.now() - started} ms for ${keysToWait.join(', ')} with every member alive`);
  }
}
