// Task state Update: (sharded) waits for every member's aggregated shard and concatenates them; then applies
// SGD with momentum to the parameters in place, in the database, and publishes the peer's state. Idempotent:
// run twice for one step, it applies the step once.
import { peerDb } from '../peer/db';
import { waitGuarded } from '../peer/liveness';
import { PeerState, addressOf, inbound, keys, version } from '../peer/protocol';
import { stateDigest } from '../peer/recovery';
import { StepEvent } from './event';

export async function update(event: StepEvent): Promise<StepEvent> {
  const { config, peer, view, position } = event;
  const ver = version(position.step, view.number);
  const own = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  let waitMs = 0;
  if (config.exchange === 'sharded') {
    const shards = view.members.map((m) => (m === peer ? keys.aggregatedShard(m) : inbound(config, keys.aggregatedShard(m))));
    waitMs = await waitGuarded(config, peer, view, shards.filter((_, i) => view.members[i] !== peer), ver);
    await own.cat(keys.update(peer), shards, ver);
  }
  const momentum = config.momentum > 0 ? ['MOMENTUM', String(config.momentum), 'VELOCITY', keys.velocity(peer)] : [];
  // GT: a retried Update (the Retry of the Task state, a reply lost on the way) finds the step applied and
  // changes nothing; only the same step in the same view may be found applied, anything newer is a protocol fault
  const applied = await own.command('TENSOR.SGD', keys.params(peer), keys.update(peer), 'LR', String(config.lr), ...momentum, 'VERSION', String(ver), 'GT');
  if (applied === null) {
    const found = await own.versionOf(keys.params(peer));
    if (found !== ver) throw new Error(`peer ${peer}'s parameters are at version ${found}, past step ${position.step} of view ${view.number} (version ${ver})`);
  }
  const state: PeerState = {
    step: position.step, view: view.number, epoch: position.epoch, stepInEpoch: position.stepInEpoch,
    digest: config.digestEveryStep ? await stateDigest(config, peer) : '',
  };
  await own.setJson(keys.state(peer), state);
  return { ...event, digest: state.digest, metrics: { waitMs, bytesSent: 0 } };
}

export const handler = update;
