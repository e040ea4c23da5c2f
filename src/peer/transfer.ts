// Moving a gradient into another peer's database: a plain TENSOR.SET, or, with signing, a GradientMessage
// signed with the sender's identity that the receiving module verifies (TENSOR.SETSIGNED) before storing it
// under `signed:`, the only place aggregation reads from.
import { Identity, loadOrCreateIdentity } from '../security/identity';
import { encodeSignedGradient } from '../security/signing';
import { OutOfViewError } from '../errors';
import { asFloat32, onPeer } from './db';
import { RunConfig, View, addressOf, inbound, keys, version } from './protocol';
import { Position } from './view';

const identities = new Map<number, Identity>();

/** The peer's Ed25519 identity (SPIRT_IDENTITY_DIR, or ~/.spirt/identities), loaded once per process. */
export function identityOf(peer: number): Identity {
  let id = identities.get(peer);
  if (!id) {
    id = loadOrCreateIdentity(`peer${peer}`);
    identities.set(peer, id);
  }
  return id;
}

/** The GradientMessage of `bytes` (float32) from peer `from` at this step, signed with its identity. */
export function signedMessage(config: RunConfig, from: number, bytes: Buffer, view: View, position: Position): Uint8Array {
  const data = asFloat32(bytes);
  return encodeSignedGradient({
    epoch: position.epoch, step: position.step, view: view.number, numBatches: config.functions,
    tensor: { dtype: 'float32', shape: [data.length], data },
  }, identityOf(from));
}

/**
 * Copies `bytes` (float32) from peer `from` into peer `to`'s database as `key` (one of `from`'s keys); with
 * signing, as `message` (signedMessage of the same bytes: signed once, sent to every receiver).
 */
export async function sendGradient(config: RunConfig, from: number, to: number, key: string, bytes: Buffer, view: View, position: Position, message?: Uint8Array): Promise<number> {
  const ver = version(position.step, view.number);
  await onPeer(addressOf(config, to).url, to, config.heartbeatMs, async (target) => {
    // a peer that was excluded while it was cut off (paused, partitioned) finds out here, before it publishes
    const theirs = await target.getJson<View>(keys.view(to));
    if (theirs && theirs.number > view.number && !theirs.members.includes(from)) {
      throw new OutOfViewError('ERR_STALE_PEER', `peer ${from} of view ${view.number} cannot publish into peer ${to}'s view ${theirs.number} (${theirs.members.join(', ')}): it must rejoin`);
    }
    if (!config.sign) return target.setFloat32(key, bytes, ver);
    await target.store.setSigned(inbound(config, key), message ?? signedMessage(config, from, bytes, view, position), {
      signerKey: keys.pin(from), peer: `peer${from}`, step: position.step, view: view.number, epoch: position.epoch, version: ver,
    });
  });
  return bytes.length;
}
