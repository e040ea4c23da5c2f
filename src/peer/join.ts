// Joining: a new peer, a replacement, or one that was excluded (paused, partitioned) asks every member to
// let it in at the next step boundary. Members refuse a model that does not match and an id that a live
// member holds; otherwise they run a view change that adds it.
import { peerDb } from './db';
import { inspect } from './liveness';
import { RunConfig, View, addressOf, keys } from './protocol';

export interface JoinRequest {
  id: number;
  paramCount: number;
  model: string;
  at: number;
}

export interface JoinReply {
  accepted: false;
  reason: string;
}

export function modelName(config: RunConfig): string {
  return typeof config.model === 'string' ? config.model : `module:${config.model.module}`;
}

/** The join requests in `self`'s database, split into valid ones and refusals (with their reasons). */
export async function pendingJoins(config: RunConfig, self: number, view: View, paramCount: number): Promise<{ accepted: number[]; refused: Array<{ id: number; reason: string }> }> {
  const db = await peerDb(addressOf(config, self).url, 'control', config.heartbeatMs);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await db.command('SCAN', cursor, 'MATCH', '{peer*}:join', 'COUNT', '1000')) as [Buffer | string, Array<Buffer | string>];
    cursor = String(next);
    found.push(...batch.map(String));
  } while (cursor !== '0');
  const accepted: number[] = [], refused: Array<{ id: number; reason: string }> = [];
  for (const key of found) {
    const req = await db.getJson<JoinRequest>(key);
    if (!req) continue;
    const reason = req.paramCount !== paramCount || req.model !== modelName(config)
      ? `model mismatch: the joiner has ${req.model} with ${req.paramCount} parameters, the members ${modelName(config)} with ${paramCount}`
      : !config.roster.some((r) => r.id === req.id)
        ? `peer ${req.id} is not in the roster`
        : view.members.includes(req.id) && req.id !== self && (await inspect(config, req.id)).alive
          ? `duplicate peer id ${req.id}: a live member holds it`
          : null;
    if (reason) refused.push({ id: req.id, reason });
    else accepted.push(req.id);
  }
  for (const r of refused) {
    await db.setJson(keys.joinReply(self, r.id), { accepted: false, reason: r.reason } satisfies JoinReply, 600_000);
    await db.command('DEL', keys.join(r.id));
  }
  return { accepted, refused };
}

/** Once the joiner is a member, its request is spent. */
export async function clearJoin(config: RunConfig, self: number, joiner: number): Promise<void> {
  const db = await peerDb(addressOf(config, self).url, 'control', config.heartbeatMs);
  await db.command('DEL', keys.join(joiner));
}
