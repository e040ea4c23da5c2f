// Joining: a new peer, a replacement, or one that was excluded (paused, partitioned) asks every member to
// let it in at the next step boundary. Members refuse a model that does not match and an id that a live
// member holds; otherwise they run a view change that adds it.
import { peerDb } from './db';
import { RunConfig, View, addressOf, keys } from './protocol';

export interface JoinRequest {
  id: number;
  /** tells this request from the same peer's earlier ones */
  nonce: string;
  paramCount: number;
  model: string;
  at: number;
}

export interface JoinReply {
  accepted: false;
  reason: string;
  nonce: string;
}

export function modelName(config: RunConfig): string {
  return typeof config.model === 'string' ? config.model : `module:${config.model.module}`;
}

/**
 * The join requests in `self`'s database, split into valid ones and refusals (with their reasons). A request
 * for a member's id is a replacement: the joiner made sure the old incarnation's heartbeat lapsed.
 */
export async function pendingJoins(config: RunConfig, self: number, view: View, paramCount: number): Promise<{ accepted: number[]; admitted: Record<number, string>; refused: Array<{ id: number; reason: string }> }> {
  const db = await peerDb(addressOf(config, self).url, 'data', config.heartbeatMs);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await db.command('SCAN', cursor, 'MATCH', '{peer*}:pub:join', 'COUNT', '1000')) as [Buffer | string, Array<Buffer | string>];
    cursor = String(next);
    found.push(...batch.map(String));
  } while (cursor !== '0');
  const accepted: Array<{ id: number; nonce: string }> = [], refused: Array<{ id: number; nonce: string; reason: string }> = [];
  for (const key of found) {
    const req = await db.getJson<JoinRequest>(key);
    // spent (admitted in this or an earlier view) or already refused
    if (!req || view.admitted?.[req.id] === req.nonce) continue;
    if ((await db.getJson<JoinReply>(keys.joinReply(self, req.id)))?.nonce === req.nonce) continue;
    const reason = req.paramCount !== paramCount || req.model !== modelName(config)
      ? `model mismatch: the joiner has ${req.model} with ${req.paramCount} parameters, the members ${modelName(config)} with ${paramCount}`
      : !config.roster.some((r) => r.id === req.id)
        ? `peer ${req.id} is not in the roster`
        : null;
    if (reason) refused.push({ id: req.id, nonce: req.nonce, reason });
    else accepted.push({ id: req.id, nonce: req.nonce });
  }
  for (const r of refused) await db.setJson(keys.joinReply(self, r.id), { accepted: false, reason: r.reason, nonce: r.nonce } satisfies JoinReply, 600_000);
  return { accepted: accepted.map((a) => a.id), admitted: Object.fromEntries(accepted.map((a) => [a.id, a.nonce])), refused };
}
