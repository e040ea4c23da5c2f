// Training on one machine: K minibatch gradients computed in parallel by the native engine, averaged,
// and applied with the native SGD kernel; test accuracy after every epoch.
import { epochBatches, ImageDataset } from '../data/fashionMnist';
import { sgdStep } from '../kernels';
import { Model } from '../model/model';
import { ModelSpec } from '../model/spec';
import { requireInteger, requireNumber } from '../validate';

export interface LocalTrainingOptions {
  spec: ModelSpec;
  train: ImageDataset;
  test: ImageDataset;
  epochs: number;
  /** samples per minibatch */
  batch: number;
  /** minibatches computed in parallel per step (intra-peer parallelism) */
  workers?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  seed?: number;
  /** called after every step with the fraction of the epoch done and the running mean loss */
  onStep?: (epoch: number, fraction: number, loss: number) => void;
  onEpoch?: (result: EpochResult) => void;
}

export interface EpochResult {
  epoch: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
}

export async function trainLocal(o: LocalTrainingOptions): Promise<{ params: Float32Array; epochs: EpochResult[]; model: Model }> {
  const model = new Model(o.spec);
  const epochs = requireInteger(o.epochs, 'epochs', 1), batch = requireInteger(o.batch, 'batch', 1);
  const workers = requireInteger(o.workers ?? 2, 'workers', 1);
  const lr = requireNumber(o.lr ?? 0.05, 'lr', { min: 0 }), momentum = requireNumber(o.momentum ?? 0.9, 'momentum', { min: 0 });
  const weightDecay = requireNumber(o.weightDecay ?? 0, 'weightDecay', { min: 0 });
  const seed = requireInteger(o.seed ?? 1, 'seed', 0);
  const params = model.initParams(seed);
  const grad = new Float32Array(model.paramCount), velocity = new Float32Array(model.paramCount);
  const results: EpochResult[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const started = Date.now();
    const batches = epochBatches(o.train, batch, seed * 1000 + epoch);
    let lossSum = 0, seen = 0;
    for (;;) {
      const group = [];
      for (let i = 0; i < workers; i++) {
        const next = batches.next();
        if (next.done) break;
        group.push(next.value);
      }
      if (group.length === 0) break;
      const { loss } = await model.gradient(params, group, grad);
      sgdStep(params, grad, { lr, momentum, velocity, weightDecay });
      const n = group.reduce((s, b) => s + b.labels.length, 0);
      lossSum += loss * n;
      seen += n;
      o.onStep?.(epoch, seen / o.train.count, lossSum / seen);
    }
    const test = await model.evaluate(params, o.test);
    const result = { epoch, trainLoss: lossSum / seen, testLoss: test.loss, testAccuracy: test.accuracy, seconds: (Date.now() - started) / 1000 };
    results.push(result);
    o.onEpoch?.(result);
  }
  return { params, epochs: results, model };
}
