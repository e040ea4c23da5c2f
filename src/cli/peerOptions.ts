// The training options `spirt train` and `spirt peer` share.
import { ArgumentError } from '../errors';
import type { RunOptions } from '../peer/config';
import type { AggregationRule } from '../peer/protocol';
import { numberOption } from './command';

export const TRAINING_OPTIONS = {
  model: { type: 'string' },
  'model-module': { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  functions: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  seed: { type: 'string' },
  exchange: { type: 'string' },
  'shard-policy': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  data: { type: 'string' },
  'train-limit': { type: 'string' },
  'test-limit': { type: 'string' },
  'digest-every-step': { type: 'boolean' },
  rule: { type: 'string' },
} as const;

export const TRAINING_HELP = `  --model NAME          mlp or cnn (default mlp)
  --model-module FILE   train the model a module's createModel() returns (any framework, see
                        examples/tfjs-p2p) instead of --model
  --epochs N            (default 3)
  --batch N             minibatch size per gradient function (default 64)
  --functions K         gradient functions per peer per step (default 2)
  --lr X                learning rate (default 0.05)
  --momentum X          SGD momentum (default 0.9)
  --seed N              initialization and shuffling seed (default 1)
  --exchange S          sharded (reduce-scatter + all-gather, default) or all-to-all (SPIRT's pull)
  --shard-policy P      a failed peer's data: drop (default) or redistribute among survivors
                        from the next epoch
  --heartbeat-ms N      heartbeat interval; 2.5 silent intervals declare a peer failed (default 1000)
  --data DIR            the Fashion-MNIST IDX files (default $SPIRT_FASHION_MNIST_DIR or
                        /usr/share/datasets/fashion-mnist)
  --train-limit N       train on the first N samples only; --test-limit N likewise
  --digest-every-step   publish a sha256 of every peer's state after every step (invariant checks)
  --rule R              how gradients are combined: mean (default), median, trimmed:K (drop K at each
                        end), krum:F (Krum tolerating F), cclip:TAU (centered clipping); krum and cclip
                        use the all-to-all exchange
`;

type Values = { [K in keyof typeof TRAINING_OPTIONS]?: (typeof TRAINING_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export function trainingOptions(v: Values): Omit<RunOptions, 'urls'> {
  const model = v['model-module'] ? { module: v['model-module'] } : (v.model ?? 'mlp');
  if (typeof model === 'string' && model !== 'mlp' && model !== 'cnn') throw new ArgumentError('ERR_ARGUMENT', `--model must be mlp or cnn, got '${model}'`);
  // refused here, before any server or peer is started for the run
  if (v.exchange !== undefined && v.exchange !== 'sharded' && v.exchange !== 'all-to-all') {
    throw new ArgumentError('ERR_ARGUMENT', `--exchange must be sharded or all-to-all, got '${v.exchange}'`);
  }
  if (v['shard-policy'] !== undefined && v['shard-policy'] !== 'drop' && v['shard-policy'] !== 'redistribute') {
    throw new ArgumentError('ERR_ARGUMENT', `--shard-policy must be drop or redistribute, got '${v['shard-policy']}'`);
  }
  const n = (name: keyof Values) => numberOption(v[name] as string | undefined, name);
  return {
    model: model as RunOptions['model'],
    epochs: n('epochs'), batch: n('batch'), functions: n('functions'), lr: n('lr'), momentum: n('momentum'), seed: n('seed'),
    exchange: v.exchange as RunOptions['exchange'], shardPolicy: v['shard-policy'] as RunOptions['shardPolicy'],
    heartbeatMs: n('heartbeat-ms'), data: v.data, trainLimit: n('train-limit'), testLimit: n('test-limit'),
    digestEveryStep: v['digest-every-step'],
    ...(v.rule === undefined ? {} : { rule: parseRule(v.rule) }),
  };
}

function parseRule(text: string): AggregationRule {
  const [name, arg] = text.split(':');
  const num = (what: string) => {
    const n = Number(arg);
    if (arg === undefined || arg.trim() === '' || !Number.isFinite(n)) throw new ArgumentError('ERR_ARGUMENT', `--rule ${name} needs ${what}: ${name}:N`);
    return n;
  };
  if ((name === 'mean' || name === 'median') && arg === undefined) return { name };
  if (name === 'trimmed') return { name, trim: num('the values dropped at each end') };
  if (name === 'krum') return { name, f: num('the Byzantine peers tolerated') };
  if (name === 'cclip') return { name, tau: num('the clipping radius') };
  throw new ArgumentError('ERR_ARGUMENT', `--rule must be mean, median, trimmed:K, krum:F or cclip:TAU, got '${text}'`);
}
