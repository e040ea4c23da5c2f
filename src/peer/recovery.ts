// State transfer: a joiner, or a survivor one step behind, copies parameters and optimizer state from a
// donor's database (DUMP/RESTORE: the module type's own serialization, version included), then checks the
// copy against the digest the donor published with its state.
import crypto from 'node:crypto';
import { PeerFailedError, PeerSetupError } from '../errors';
import { isConnectionFailure, peerDb } from './db';
import { PeerState, RunConfig, View, addressOf, keys } from './protocol';

/** sha256 over the parameters' bytes, then the velocity's (absent before the first step). */
export async function stateDigest(config: RunConfig, peer: number): Promise<string> {
  const db = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  const [params, velocity] = await Promise.all([db.getBlob(keys.params(peer)), db.getBlob(keys.velocity(peer))]);
  if (!params) throw new PeerSetupError('ERR_NO_PARAMS', `peer ${peer} holds no parameters`);
  const h = crypto.createHash('sha256').update(params);
  if (velocity) h.update(velocity);
  return h.digest('hex');
}

export async function readState(config: RunConfig, peer: number): Promise<PeerState | null> {
  const db = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  return db.getJson<PeerState>(keys.state(peer));
}

/**
 * Copies the donor's parameters, velocity and state into `self`'s database and verifies the digest.
 * Resolves to the state now held.
 */
export async function copyStateFrom(config: RunConfig, self: number, donor: number): Promise<PeerState> {
  try {
    return await copyState(config, self, donor);
  } catch (e) {
    if (isConnectionFailure(e)) throw new PeerFailedError([donor], `copying the state of peer ${donor} failed: ${e.message}`);
    throw e;
  }
}

async function copyState(config: RunConfig, self: number, donor: number): Promise<PeerState> {
  const from = await peerDb(addressOf(config, donor).url, 'data', config.heartbeatMs);
  const to = await peerDb(addressOf(config, self).url, 'data', config.heartbeatMs);
  const state = await from.getJson<PeerState>(keys.state(donor));
  if (!state) throw new PeerSetupError('ERR_NO_STATE', `donor peer ${donor} has published no state`);
  const [params, velocity] = await Promise.all([from.command('DUMP', keys.params(donor)), from.command('DUMP', keys.velocity(donor))]);
  if (params === null) throw new PeerSetupError('ERR_NO_PARAMS', `donor peer ${donor} holds no parameters`);
  await to.command('RESTORE', keys.params(self), '0', params as Buffer, 'REPLACE');
  if (velocity !== null) await to.command('RESTORE', keys.velocity(self), '0', velocity as Buffer, 'REPLACE');
  else await to.command('DEL', keys.velocity(self));
  // a donor that publishes digests only at epoch ends is hashed now (it cannot move on without this peer)
  const expected = state.digest || (await stateDigest(config, donor));
  const digest = await stateDigest(config, self);
  if (digest !== expected) {
    throw new PeerSetupError('ERR_DIGEST', `state copied from peer ${donor} has digest ${digest.slice(0, 12)}, the donor's is ${expected.slice(0, 12)}`);
  }
  await to.setJson(keys.state(self), { ...state, digest: expected });
  return { ...state, digest: expected };
}

/** After a view is installed: a member behind the view's start copies the state of one that is not. */
export async function catchUp(config: RunConfig, self: number, view: View, mine: PeerState): Promise<PeerState> {
  if (mine.step >= view.startStep - 1) return mine;
  for (const donor of view.members) {
    if (donor === self) continue;
    const s = await readState(config, donor).catch(() => null);
    if (s && s.step === view.startStep - 1) return copyStateFrom(config, self, donor);
  }
  throw new PeerSetupError('ERR_NO_DONOR', `no member of view ${view.number} holds the state after step ${view.startStep - 1}`);
}
