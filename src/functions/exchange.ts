// Task state Exchange: averages the peer's K gradients inside its database, then sends other peers their
// part of it. Sharded (reduce-scatter): shard q of the mean goes to member q, 1/P of the gradient each, so
// (P-1)/P leaves the peer. All-to-all (SPIRT's scheme): the whole mean goes to every other member.
import { attack } from '../peer/byzantine';
import { peerDb } from '../peer/db';
import { sendGradient, signedMessage } from '../peer/transfer';
import { addressOf, keys, version } from '../peer/protocol';
import { ExchangeEvent, StepEvent } from './event';

export async function exchange(event: ExchangeEvent): Promise<StepEvent> {
  const { config, peer, view, position } = event;
  const ver = version(position.step, view.number);
  const own = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  const workers = Array.from({ length: config.functions }, (_, k) => keys.workerGradient(peer, k));
  await own.avg(keys.localGradient(peer), workers, ver);
  if (config.byzantine?.peers.includes(peer)) await attack(config, peer, view, position, own);
  const others = view.members.filter((m) => m !== peer);
  let bytesSent = 0;
  if (config.exchange === 'sharded') {
    await own.split(keys.localGradient(peer), view.members.map((q) => keys.shard(peer, q)), ver);
    await Promise.all(others.map(async (q) => {
      const bytes = await own.getBlob(keys.shard(peer, q));
      if (!bytes) throw new Error(`shard ${q} of peer ${peer} vanished`);
      const sent = await sendGradient(config, peer, q, keys.shard(peer, q), bytes, view, position);
      bytesSent += sent;
    }));
  } else {
    const bytes = await own.getBlob(keys.localGradient(peer));
    if (!bytes) throw new Error(`the local gradient of peer ${peer} vanished`);
    const message = config.sign ? signedMessage(config, peer, bytes, view, position) : undefined;
    await Promise.all(others.map(async (q) => {
      const sent = await sendGradient(config, peer, q, keys.published(peer, position.step), bytes, view, position, message);
      bytesSent += sent;
    }));
  }
  const { gradients, ...rest } = event;
  const samples = gradients.reduce((s, g) => s + g.samples, 0);
  return { ...rest, loss: gradients.reduce((s, g) => s + g.loss * g.samples, 0) / samples, metrics: { waitMs: 0, bytesSent } };
}

export const handler = exchange;
