// The peer protocol's data: the run configuration every task state receives, membership views, versions and
// the key schema. README "Peer-to-peer training" describes the same protocol in prose.
import { ArgumentError } from '../errors';

/** One peer of the roster: its id (its hash tag is `{peer<id>}`) and the URL of its own database. */
export interface PeerAddress {
  id: number;
  url: string;
}

export type ExchangeScheme = 'sharded' | 'all-to-all';
export type ModelName = 'mlp' | 'cnn';
/** What survivors do with a failed peer's data: keep training on their own shards only, or re-split all data among the members from the next epoch. */
export type ShardPolicy = 'drop' | 'redistribute';

/** How the members' gradients are combined: their mean, or a robust rule of TENSOR.AGG. */
export type AggregationRule =
  | { name: 'mean' }
  | { name: 'median' }
  | { name: 'trimmed'; trim: number }
  | { name: 'krum'; f: number; multi?: number }
  | { name: 'cclip'; tau: number; iterations?: number };

/** Crafted gradients a Byzantine peer sends instead of its honest one (benchmarks of robust rules). */
export type Attack = 'sign-flip' | 'gaussian' | 'scaled' | 'label-flip' | 'alie';

/** Everything a stateless task handler needs to know about the run; the same object reaches every state. */
export interface RunConfig {
  runId: string;
  /** every peer that may take part, by id; a view's members are a subset */
  roster: PeerAddress[];
  /** 'mlp', 'cnn', or the path of a module whose `createModel()` returns a TrainableModel */
  model: ModelName | { module: string };
  batch: number;
  /** gradient functions per peer per step (intra-peer parallelism) */
  functions: number;
  epochs: number;
  lr: number;
  momentum: number;
  seed: number;
  exchange: ExchangeScheme;
  shardPolicy: ShardPolicy;
  /** heartbeat interval; a peer silent for HEARTBEAT_LAPSE intervals is declared failed */
  heartbeatMs: number;
  /** Fashion-MNIST directory (default: $SPIRT_FASHION_MNIST_DIR or Debian's) */
  data?: string;
  /** train on the first N samples only (tests, quick runs) */
  trainLimit?: number;
  /** evaluate on the first N test samples only */
  testLimit?: number;
  /** publish the state digest after every step (chaos invariants) or only at epoch ends */
  digestEveryStep: boolean;
  rule: AggregationRule;
  /**
   * every gradient that crosses a peer boundary is a GradientMessage signed with the sender's identity
   * (SPIRT_IDENTITY_DIR) and verified by the receiving module (TENSOR.SETSIGNED) before it can be aggregated
   */
  sign: boolean;
  /** peers that attack (benchmarks): they are insiders, so their messages are correctly signed */
  byzantine?: { peers: number[]; attack: Attack };
}

/** Rules that need every member's whole gradient (distances between gradients), hence the all-to-all exchange. */
export function needsWholeGradients(rule: AggregationRule): boolean {
  return rule.name === 'krum' || rule.name === 'cclip';
}

/** A numbered membership view: every survivor records the same one before it applies a step in it. */
export interface View {
  number: number;
  /** sorted peer ids; shard q of a sharded exchange belongs to members[q] */
  members: number[];
  /** the first global step computed in this view */
  startStep: number;
  /** the epoch that step belongs to, and its index inside the epoch */
  epoch: number;
  stepInEpoch: number;
  /** the members whose data shards the current epoch uses (fixed at the epoch's first step) */
  planMembers: number[];
  /** the join requests (peer id -> request nonce) views admitted so far: a spent request is ignored */
  admitted?: Record<number, string>;
}

/** Where a peer stands after a step; published beside its parameters so a joiner can verify its copy. */
export interface PeerState {
  /** the last global step applied (-1: none) */
  step: number;
  view: number;
  epoch: number;
  stepInEpoch: number;
  /** sha256 of the parameters' bytes followed by the velocity's */
  digest: string;
  /** set when the peer ran its last epoch */
  finished?: boolean;
}

/** A peer silent for this many heartbeat intervals is declared failed (the heartbeat key's TTL). */
export const HEARTBEAT_LAPSE = 2.5;

/**
 * A tensor's version for (global step, view): views advance within a step when membership changes, so a
 * retried step's tensors are newer than the aborted attempt's, and every later step newer still.
 */
export const VIEW_BITS = 2 ** 20;
export function version(step: number, view: number): number {
  return (step + 1) * VIEW_BITS + view;
}
/** The step a version was written for (-1: the initial parameters, version 0). */
export function stepOfVersion(ver: number): number {
  return Math.floor(ver / VIEW_BITS) - 1;
}

const tag = (id: number) => `{peer${id}}`;

/**
 * The key schema. Every key carries its writer's hash tag; what other peers read is under `{peer<i>}:pub:`.
 * "in q's db" means the key lives in peer q's database although peer i writes it (it is still i's key).
 */
export const keys = {
  /** parameters and SGD velocity, in i's db */
  params: (i: number) => `${tag(i)}:pub:params`,
  velocity: (i: number) => `${tag(i)}:pub:velocity`,
  /** PeerState JSON after each applied step, in i's db */
  state: (i: number) => `${tag(i)}:pub:state`,
  /** heartbeat, a string with a TTL, in i's db */
  heartbeat: (i: number) => `${tag(i)}:pub:heartbeat`,
  /** the installed View (JSON) and the current view proposal, in i's db */
  view: (i: number) => `${tag(i)}:pub:view`,
  proposal: (i: number) => `${tag(i)}:pub:proposal`,
  /** a refusal of a join request by peer i, read by the joiner, in i's db */
  joinReply: (i: number, joiner: number) => `${tag(i)}:pub:join-reply:${joiner}`,
  /** gradient function k's result, in i's db */
  workerGradient: (i: number, k: number) => `${tag(i)}:grad:${k}`,
  /** the mean of i's K gradients, in i's db */
  localGradient: (i: number) => `${tag(i)}:grad`,
  /** sharded exchange: shard q of i's local gradient (SPLIT writes them in i's db; i copies shard q into q's db) */
  shard: (i: number, q: number) => `${tag(i)}:shard:${q}`,
  /** sharded exchange: owner q's aggregate of shard q, in every member's db */
  aggregatedShard: (q: number) => `${tag(q)}:agg`,
  /**
   * all-to-all exchange: i's local gradient copied into every member's db, in one of two slots by step
   * parity: a peer that finished step s may send step s+1's before a slower peer aggregated step s
   */
  published: (i: number, step: number) => `${tag(i)}:published:${step % 2}`,
  /** the aggregated gradient i applies, in i's db */
  update: (i: number) => `${tag(i)}:update`,
  /** a join request, written by joiner i into every member's db */
  join: (i: number) => `${tag(i)}:pub:join`,
  /** peer i's pinned Ed25519 public key, in every db (written by the run's admin) */
  pin: (i: number) => `pin:${tag(i)}`,
};

/**
 * Where a gradient from peer i lands in another peer's database: with signing, only TENSOR.SETSIGNED can
 * write `signed:{peer<i>}:...` (ACL), so an aggregate over those keys holds verified gradients only.
 */
export function inbound(config: RunConfig, key: string): string {
  return config.sign ? `signed:${key}` : key;
}

export function requirePeerId(id: unknown, roster: readonly PeerAddress[]): number {
  if (!Number.isInteger(id) || !roster.some((p) => p.id === id)) {
    throw new ArgumentError('ERR_PEER', `peer id ${String(id)} is not in the roster (${roster.map((p) => p.id).join(', ')})`);
  }
  return id as number;
}

export function addressOf(config: RunConfig, id: number): PeerAddress {
  const p = config.roster.find((r) => r.id === id);
  if (!p) throw new ArgumentError('ERR_PEER', `peer ${id} is not in the roster`);
  return p;
}
