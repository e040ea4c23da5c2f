// What a peer trains: the model (spirt's native MLP/CNN or any user-supplied gradient function) and which
// minibatches each gradient function of each step draws. Cached per process like a warm Lambda container's.
import path from 'node:path';
import { ImageDataset, gatherBatch, loadFashionMnist, shard, shuffledOrder } from '../data/fashionMnist';
import { ArgumentError } from '../errors';
import { LabeledBatch, Model } from '../model/model';
import { cnnSpec, mlpSpec } from '../model/spec';
import { RunConfig, View } from './protocol';
import { planOf } from './view';

/**
 * A model the peer runtime can train: spirt's native Model is one; any framework's model is one through
 * a `gradient(params, batches)` function (see examples/tfjs-p2p).
 */
export interface TrainableModel {
  readonly paramCount: number;
  initParams(seed: number): Float32Array;
  /** the mean gradient (and loss) over the batches' samples */
  gradient(params: Float32Array, batches: readonly LabeledBatch[]): Promise<{ grad: Float32Array; loss: number }>;
  evaluate(params: Float32Array, data: LabeledBatch): Promise<{ loss: number; accuracy: number }>;
}

const models = new Map<string, Promise<TrainableModel>>();

export function modelFor(config: RunConfig): Promise<TrainableModel> {
  const id = typeof config.model === 'string' ? config.model : `module:${config.model.module}`;
  let m = models.get(id);
  if (!m) {
    m = createModel(config.model);
    models.set(id, m);
    m.catch(() => models.delete(id));
  }
  return m;
}

async function createModel(model: RunConfig['model']): Promise<TrainableModel> {
  if (model === 'mlp') return new Model(mlpSpec());
  if (model === 'cnn') return new Model(cnnSpec());
  if (typeof model === 'object' && typeof model?.module === 'string') {
    const loaded = (await import(path.resolve(model.module))) as { createModel?: () => TrainableModel | Promise<TrainableModel> };
    const create = loaded.createModel ?? (loaded as { default?: { createModel?: () => TrainableModel } }).default?.createModel;
    if (typeof create !== 'function') throw new ArgumentError('ERR_MODEL', `${model.module} exports no createModel()`);
    const m = await create();
    if (!Number.isInteger(m?.paramCount) || typeof m.gradient !== 'function' || typeof m.initParams !== 'function') {
      throw new ArgumentError('ERR_MODEL', `${model.module}: createModel() must return { paramCount, initParams, gradient, evaluate }`);
    }
    return m;
  }
  throw new ArgumentError('ERR_MODEL', `model must be 'mlp', 'cnn' or { module }, got ${JSON.stringify(model)}`);
}

const datasets = new Map<string, { train: ImageDataset; test: ImageDataset }>();

function limit(ds: ImageDataset, n: number | undefined): ImageDataset {
  if (n === undefined || n >= ds.count) return ds;
  return { ...ds, images: ds.images.subarray(0, n * ds.rows * ds.cols), labels: ds.labels.subarray(0, n), count: n };
}

export function datasetFor(config: RunConfig): { train: ImageDataset; test: ImageDataset } {
  const id = `${config.data ?? ''}|${config.trainLimit ?? ''}|${config.testLimit ?? ''}`;
  let d = datasets.get(id);
  if (!d) {
    d = { train: limit(loadFashionMnist('train', config.data), config.trainLimit), test: limit(loadFashionMnist('test', config.data), config.testLimit) };
    datasets.set(id, d);
  }
  return d;
}

/** The slots the epoch's data is split into, and the slot of each member of its plan. */
function epochSlots(config: RunConfig, view: View, epoch: number): { slots: number; slotOf: (peer: number) => number | undefined } {
  if (config.shardPolicy === 'redistribute') {
    const plan = planOf(view, epoch);
    return { slots: plan.length, slotOf: (p) => (plan.includes(p) ? plan.indexOf(p) : undefined) };
  }
  const ids = config.roster.map((r) => r.id).sort((a, b) => a - b);
  return { slots: ids.length, slotOf: (p) => (ids.includes(p) ? ids.indexOf(p) : undefined) };
}

/** Steps in an epoch: every plan member's shard gives the same number of full K x batch steps. */
export function stepsPerEpoch(config: RunConfig, view: View, epoch: number): number {
  const { train } = datasetFor(config);
  const { slots } = epochSlots(config, view, epoch);
  const smallest = Math.floor(train.count / slots);
  const steps = Math.floor(smallest / (config.functions * config.batch));
  if (steps < 1) {
    throw new ArgumentError('ERR_BATCH', `a shard of ${smallest} samples holds no step of ${config.functions} functions x batch ${config.batch}`);
  }
  return steps;
}

const orders = new Map<string, Uint32Array>();

/** A shuffled order of a shard's samples for one epoch: the same (seed, epoch, slot) gives the same order. */
function epochOrder(count: number, seed: number, epoch: number, slot: number): Uint32Array {
  const id = `${count}|${seed}|${epoch}|${slot}`;
  let order = orders.get(id);
  if (!order) {
    order = shuffledOrder(count, (seed * 1_000_003 + epoch * 7919 + slot * 104_729) >>> 0 || 1);
    if (orders.size > 8) orders.clear();
    orders.set(id, order);
  }
  return order;
}

/**
 * The minibatch gradient function `worker` of `peer` computes at a step: disjoint batches of the peer's
 * shard, in a seeded order, so runs repeat. A peer outside the epoch's plan (it joined mid-epoch under
 * 'redistribute') trains on its roster shard until the next epoch.
 */
export function minibatch(config: RunConfig, view: View, peer: number, epoch: number, stepInEpoch: number, worker: number): LabeledBatch {
  const { train } = datasetFor(config);
  let { slots, slotOf } = epochSlots(config, view, epoch);
  if (slotOf(peer) === undefined) ({ slots, slotOf } = epochSlots({ ...config, shardPolicy: 'drop' }, view, epoch));
  const slot = slotOf(peer) as number;
  const part = shard(train, slot, slots);
  const order = epochOrder(part.count, config.seed, epoch, slot);
  return gatherBatch(part, order, (stepInEpoch * config.functions + worker) * config.batch, config.batch);
}
