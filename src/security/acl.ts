// Redis ACL users for a run's embedded servers: the default user disabled, one admin (the launcher), and one
// user per peer who may write only its own keys, read other peers' published keys and the pinned public keys,
// and put gradients into its signed namespace only through TENSOR.SETSIGNED under its own pinned key.
import crypto from 'node:crypto';
import { ArgumentError } from '../errors';
import { ProbeTarget, RespValue, probe } from '../redis/probe';
import { checkPeerId } from './identity';

/** Everything peer p owns in any peer's database: read and write, every allowed command. */
export const ownKeys = (peer: string) => `{${checkPeerId(peer)}}:*`;
/** What p publishes for the others to read (parameters, versions, heartbeats): `{p}:pub:...`. */
export const publishedKeys = (peer: string) => `{${checkPeerId(peer)}}:pub:*`;
/** The raw 32-byte public key of p pinned at start; written by the admin only, the SIGNER of p's messages. */
export const pinnedKey = (peer: string) => `pin:{${checkPeerId(peer)}}`;
/** Where p's verified gradients land (same hash slot as p's keys); written only by TENSOR.SETSIGNED. */
export const signedKey = (peer: string, name: string) => `signed:{${checkPeerId(peer)}}:${name}`;

/** Commands besides the module's that a peer may run: connection, string and key basics, heartbeats (SET PX). */
export const PEER_BASE_COMMANDS = [
  'auth', 'hello', 'ping', 'echo', 'quit', 'client|setname', 'client|getname', 'client|id',
  'get', 'set', 'setnx', 'getdel', 'mget', 'del', 'unlink', 'exists', 'type', 'incr', 'incrby',
  'expire', 'pexpire', 'ttl', 'pttl',
  // the peer runtime: finding join requests, copying a donor's state into the peer's own keys
  'scan', 'dump', 'restore',
] as const;

export interface AclUser {
  readonly username: string;
  readonly password: string;
}

/** The users of one run: the same admin and peer users on every peer's server. */
export interface AclLayout {
  readonly admin: AclUser;
  /** peer id -> its user (named after the peer) */
  readonly peers: Readonly<Record<string, AclUser>>;
}

const randomPassword = () => crypto.randomBytes(24).toString('base64url');

/** Random 192-bit passwords for an admin and each peer. */
export function createAclLayout(peerIds: readonly string[], adminName = 'spirt-admin'): AclLayout {
  const peers: Record<string, AclUser> = {};
  for (const id of peerIds) {
    checkPeerId(id);
    if (id === adminName) throw new ArgumentError('ERR_ARGUMENT', `peer id '${id}' is the admin's user name`);
    peers[id] = { username: id, password: randomPassword() };
  }
  return { admin: { username: adminName, password: randomPassword() }, peers };
}

/** A password as ACL rules carry it: its SHA-256 (no plaintext in files, logs or SLOWLOG). */
const passwordRule = (password: string) => `#${crypto.createHash('sha256').update(password).digest('hex')}`;

/** The ACL file a server starts with: the default user off, the admin allowed everything. */
export function aclFileText(layout: AclLayout): string {
  return `user default off resetkeys resetchannels -@all\nuser ${layout.admin.username} on ${passwordRule(layout.admin.password)} ~* &* +@all\n`;
}

export interface PeerRulesOptions {
  /** the module's commands (COMMAND LIST FILTERBY MODULE spirt), allowed on the peer's keys */
  moduleCommands: readonly string[];
  /** the peer whose database this is: it also reads every peer's signed gradients there */
  owner?: string;
}

/**
 * ACL SETUSER arguments for peer `peer`: write `{peer}:*`; read `{q}:pub:*` of every other peer and `pin:*`;
 * the owner also reads `signed:*`. A selector allows TENSOR.SETSIGNED into `signed:{peer}:*` with SIGNER
 * `pin:{peer}` only, so that namespace holds nothing but gradients verified under the peer's pinned key.
 */
export function peerAclRules(layout: AclLayout, peer: string, options: PeerRulesOptions): string[] {
  const user = layout.peers[peer];
  if (!user) throw new ArgumentError('ERR_ARGUMENT', `peer '${peer}' is not in the ACL layout`);
  const reads = Object.keys(layout.peers).filter((q) => q !== peer).map((q) => `%R~${publishedKeys(q)}`);
  const commands = [...PEER_BASE_COMMANDS, ...options.moduleCommands.map((c) => c.toLowerCase())].map((c) => `+${c}`);
  return [
    user.username, 'reset', 'on', passwordRule(user.password), 'resetchannels',
    `~${ownKeys(peer)}`, ...reads, '%R~pin:*', ...(options.owner === peer ? ['%R~signed:*'] : []),
    '-@all', ...commands,
    `(~${signedKey(peer, '*')} %R~${pinnedKey(peer)} +tensor.setsigned)`,
  ];
}

/** redis[s]://user:password@host:port (unix://user:password@localhost/path) for a user, from a server's url. */
export function urlWithCredentials(url: string, user: AclUser): string {
  const u = new URL(url.startsWith('unix:///') ? `unix://localhost${url.slice('unix://'.length)}` : url);
  u.username = encodeURIComponent(user.username);
  u.password = encodeURIComponent(user.password);
  return u.toString().replace(/\/$/, '');
}

/**
 * Creates the peer users on a running server as its admin (the module's commands are asked from the server,
 * so new TENSOR.* commands are covered) and saves them to its ACL file. Resolves to an error message, or
 * undefined when every user was set.
 */
export async function applyPeerUsers(target: ProbeTarget, layout: AclLayout, owner?: string): Promise<string | undefined> {
  const auth = ['AUTH', layout.admin.username, layout.admin.password];
  const listed = await probe(target, [auth, ['COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'spirt']], 5000);
  if (!listed) return 'the server did not answer COMMAND LIST';
  const failed = listed.find((r): r is Error => r instanceof Error);
  if (failed) return `COMMAND LIST: ${failed.message}`;
  const moduleCommands = (listed[1] as RespValue[]).map(String);
  const setUsers = Object.keys(layout.peers).map((peer) => ['ACL', 'SETUSER', ...peerAclRules(layout, peer, { moduleCommands, owner })]);
  const replies = await probe(target, [auth, ...setUsers, ['ACL', 'SAVE']], 5000);
  if (!replies) return 'the server did not answer ACL SETUSER';
  const refused = replies.find((r): r is Error => r instanceof Error);
  return refused ? `ACL SETUSER: ${refused.message}` : undefined;
}
