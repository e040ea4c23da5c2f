// Task state Aggregate: waits (TENSOR.WAIT, blocking in the server) until every member's contribution is in
// this peer's database, then aggregates in the database. Sharded: this peer owns shard `rank` and sends its
// aggregate to every member (all-gather, another (P-1)/P). All-to-all: every peer aggregates the whole
// gradient itself, from the same inputs in the same order, so all get the same bytes.
import { PeerDb, peerDb } from '../peer/db';
import { sendGradient, signedMessage } from '../peer/transfer';
import { waitGuarded } from '../peer/liveness';
import { RunConfig, addressOf, inbound, keys, version } from '../peer/protocol';
import { StepEvent } from './event';

export async function aggregate(event: StepEvent): Promise<StepEvent> {
  const { config, peer, view, position } = event;
  const ver = version(position.step, view.number);
  const own = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  let bytesSent = 0, waitMs: number;
  if (config.exchange === 'sharded') {
    // shard `peer` of every member's gradient: its own from SPLIT, the others' as they sent them
    const parts = view.members.map((m) => (m === peer ? keys.shard(m, peer) : inbound(config, keys.shard(m, peer))));
    waitMs = await waitGuarded(config, peer, view, parts.filter((_, i) => view.members[i] !== peer), ver);
    await combine(config, own, keys.aggregatedShard(peer), parts, ver);
    const bytes = await own.getBlob(keys.aggregatedShard(peer));
    if (!bytes) throw new Error(`the aggregate of shard ${peer} vanished`);
    const message = config.sign ? signedMessage(config, peer, bytes, view, position) : undefined;
    await Promise.all(view.members.filter((m) => m !== peer).map(async (m) => {
      const sent = await sendGradient(config, peer, m, keys.aggregatedShard(peer), bytes, view, position, message);
      bytesSent += sent;
    }));
  } else {
    const sources = view.members.map((m) => (m === peer ? keys.localGradient(peer) : inbound(config, keys.published(m, position.step))));
    waitMs = await waitGuarded(config, peer, view, sources.filter((_, i) => view.members[i] !== peer), ver);
    await combine(config, own, keys.update(peer), sources, ver);
  }
  return { ...event, metrics: { waitMs, bytesSent } };
}

/** The run's rule over the sources, in the database: TENSOR.AVG for the mean, TENSOR.AGG for a robust rule. */
async function combine(config: RunConfig, own: PeerDb, dest: string, sources: string[], ver: number): Promise<void> {
  const rule = config.rule;
  if (rule.name === 'mean') return own.avg(dest, sources, ver);
  if (rule.name === 'median') await own.store.agg(dest, 'median', sources, { version: ver });
  else if (rule.name === 'trimmed') await own.store.agg(dest, 'trimmed', sources, { trim: Math.min(rule.trim, Math.floor((sources.length - 1) / 2)), version: ver });
  else if (rule.name === 'krum') await own.store.agg(dest, 'krum', sources, { f: Math.min(rule.f, Math.floor((sources.length - 3) / 2)), multi: rule.multi, version: ver });
  else await own.store.agg(dest, 'cclip', sources, { tau: rule.tau, iterations: rule.iterations, version: ver });
}

export const handler = aggregate;
