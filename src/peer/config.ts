// A run's configuration from user options, validated before anything starts.
import crypto from 'node:crypto';
import { ArgumentError } from '../errors';
import { requireInteger, requireNumber } from '../validate';
import { ExchangeScheme, ModelName, RunConfig, ShardPolicy } from './protocol';

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
}

export const DEFAULT_HEARTBEAT_MS = 1000;

export function runConfig(o: RunOptions): RunConfig {
  if (!Array.isArray(o.urls) || o.urls.length === 0) throw new ArgumentError('ERR_ARGUMENT', 'a run needs at least one peer (--peers must be 1 or more)');
  const model = o.model ?? 'mlp';
  if (model !== 'mlp' && model !== 'cnn' && typeof (model as { module?: unknown })?.module !== 'string') {
    throw new ArgumentError('ERR_ARGUMENT', `model must be mlp, cnn or { module }, got ${JSON.stringify(model)}`);
  }
  const exchange = o.exchange ?? 'sharded';
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
  };
}
