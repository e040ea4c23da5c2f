// Task state Aggregate: waits (TENSOR.WAIT, blocking in the server) until every member's contribution is in
// this peer's database, then aggregates in the database. Sharded: this peer owns shard `rank` and sends its
// aggregate to every member (all-gather, another (P-1)/P). All-to-all: every peer aggregates the whole
// gradient itself, from the same inputs in the same order, so all get the same bytes.
import { onPeer, peerDb } from '../peer/db';
import { waitGuarded } from '../peer/liveness';
import { addressOf, keys, version } from '../peer/protocol';
import { StepEvent } from './event';

export async function aggregate(event: StepEvent): Promise<StepEvent> {
  const { config, peer, view, position } = event;
  const ver = version(position.step, view.number);
  const own = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  let bytesSent = 0, waitMs: number;
  if (config.exchange === 'sharded') {
    const parts = view.members.map((m) => keys.shard(m, peer));
    waitMs = await waitGuarded(config, peer, view, parts, ver);
    await own.avg(keys.aggregatedShard(peer), parts, ver);
    const bytes = await own.getBlob(keys.aggregatedShard(peer));
    if (!bytes) throw new Error(`the aggregate of shard ${peer} vanished`);
    await Promise.all(view.members.filter((m) => m !== peer).map(async (m) => {
      await onPeer(addressOf(config, m).url, m, config.heartbeatMs, (target) => target.setFloat32(keys.aggregatedShard(peer), bytes, ver));
      bytesSent += bytes.length;
    }));
  } else {
    const sources = view.members.map((m) => (m === peer ? keys.localGradient(peer) : keys.published(m)));
    waitMs = await waitGuarded(config, peer, view, sources.filter((_, i) => view.members[i] !== peer), ver);
    await own.avg(keys.update(peer), sources, ver);
  }
  return { ...event, metrics: { waitMs, bytesSent } };
}

export const handler = aggregate;
