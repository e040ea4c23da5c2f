// A run's configuration from user options, validated before anything starts.
import crypto from 'node:crypto';
import { ArgumentError } from '../errors';
import { requireInteger, requireNumber } from '../validate';
import { AggregationRule, Attack, ExchangeScheme, ModelName, RunConfig, ShardPolicy, needsWholeGradients } from './protocol';

export interface RunOptions {
  urls: string[];
  model?: ModelName | { module: string };
  batch?: number;
  functions?: number;
  epochs?: number;
  lr?: number;
  momentum?: number;
  seed?: number;
  exchange?: ExchangeScheme;
  shardPolicy?: ShardPolicy;
  heartbeatMs?: number;
  data?: string;
  trainLimit?: number;
  testLimit?: number;
  digestEveryStep?: boolean;
  runId?: string;
  rule?: AggregationRule;
  sign?: boolean;
  byzantine?: { peers: number[]; attack: Attack };
}

const ATTACKS: readonly Attack[] = ['sign-flip', 'gaussian', 'scaled', 'label-flip', 'alie'];

function checkRule(rule: AggregationRule, peers: number): AggregationRule {
  switch (rule?.name) {
    case 'mean':
    case 'median':
      return { name: rule.name };
    case 'trimmed': {
      const trim = requireInteger(rule.trim, 'trim', 0);
      if (2 * trim >= peers) throw new ArgumentError('ERR_ARGUMENT', `trimmed mean dropping ${trim} at each end needs more than ${2 * trim} peers, got ${peers}`);
      return { name: 'trimmed', trim };
    }
    case 'krum': {
      const f = requireInteger(rule.f, 'f', 0);
      if (peers < 2 * f + 3) throw new ArgumentError('ERR_ARGUMENT', `Krum tolerating ${f} Byzantine peers needs at least ${2 * f + 3} peers, got ${peers}`);
      return { name: 'krum', f, ...(rule.multi === undefined ? {} : { multi: requireInteger(rule.multi, 'multi', 1) }) };
    }
    case 'cclip':
      return { name: 'cclip', tau: requireNumber(rule.tau, 'tau', { min: 0 }), ...(rule.iterations === undefined ? {} : { iterations: requireInteger(rule.iterations, 'iterations', 1) }) };
    default:
      throw new ArgumentError('ERR_ARGUMENT', `rule must be mean, median, trimmed, krum or cclip, got ${JSON.stringify(rule)}`);
  }
}

export const DEFAULT_HEARTBEAT_MS = 1000;

export function runConfig(o: RunOptions): RunConfig {
  if (!Array.isArray(o.urls) || o.urls.length === 0) throw new ArgumentError('ERR_ARGUMENT', 'a run needs at least one peer (--peers must be 1 or more)');
  const model = o.model ?? 'mlp';
  if (model !== 'mlp' && model !== 'cnn' && typeof (model as { module?: unknown })?.module !== 'string') {
    throw new ArgumentError('ERR_ARGUMENT', `model must be mlp, cnn or { module }, got ${JSON.stringify(model)}`);
  }
  const rule = checkRule(o.rule ?? { name: 'mean' }, o.urls.length);
  const exchange = o.exchange ?? (needsWholeGradients(rule) ? 'all-to-all' : 'sharded');
  if (exchange === 'sharded' && needsWholeGradients(rule)) throw new ArgumentError('ERR_ARGUMENT', `${rule.name} compares whole gradients: it needs --exchange all-to-all`);
  if (o.byzantine) {
    if (!ATTACKS.includes(o.byzantine.attack)) throw new ArgumentError('ERR_ARGUMENT', `attack must be one of ${ATTACKS.join(', ')}, got '${String(o.byzantine.attack)}'`);
    for (const p of o.byzantine.peers) if (!Number.isInteger(p) || p < 0 || p >= o.urls.length) throw new ArgumentError('ERR_ARGUMENT', `Byzantine peer ${p} is not a peer`);
  }
  if (exchange !== 'sharded' && exchange !== 'all-to-all') throw new ArgumentError('ERR_ARGUMENT', `exchange must be sharded or all-to-all, got '${String(exchange)}'`);
  const shardPolicy = o.shardPolicy ?? 'drop';
  if (shardPolicy !== 'drop' && shardPolicy !== 'redistribute') throw new ArgumentError('ERR_ARGUMENT', `shard policy must be drop or redistribute, got '${String(shardPolicy)}'`);
  return {
    runId: o.runId ?? crypto.randomBytes(6).toString('hex'),
    roster: o.urls.map((url, id) => ({ id, url })),
    model,
    batch: requireInteger(o.batch ?? 64, 'batch', 1),
    functions: requireInteger(o.functions ?? 2, 'functions', 1),
    epochs: requireInteger(o.epochs ?? 3, 'epochs', 1),
    lr: requireNumber(o.lr ?? 0.05, 'lr', { min: 0 }),
    momentum: requireNumber(o.momentum ?? 0.9, 'momentum', { min: 0 }),
    seed: requireInteger(o.seed ?? 1, 'seed', 0),
    exchange,
    shardPolicy,
    heartbeatMs: requireNumber(o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, 'heartbeatMs', { min: 10 }),
    ...(o.data === undefined ? {} : { data: o.data }),
    ...(o.trainLimit === undefined ? {} : { trainLimit: requireInteger(o.trainLimit, 'trainLimit', 1) }),
    ...(o.testLimit === undefined ? {} : { testLimit: requireInteger(o.testLimit, 'testLimit', 1) }),
    digestEveryStep: o.digestEveryStep ?? false,
    rule,
    sign: o.sign ?? false,
    ...(o.byzantine ? { byzantine: { peers: [...o.byzantine.peers], attack: o.byzantine.attack } } : {}),
  };
}
