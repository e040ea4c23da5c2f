// Real training on Debian's Fashion-MNIST: the accuracy targets, within a CI-sized budget.
import { loadFashionMnist } from '../src/data/fashionMnist';
import { cnnSpec, mlpSpec } from '../src/model/spec';
import { EpochResult, trainLocal } from '../src/train/local';

const trainSet = loadFashionMnist('train');
const testSet = loadFashionMnist('test');

test('the MLP reaches at least 84% test accuracy in 3 epochs', async () => {
  const steps: number[] = [];
  const epochs: EpochResult[] = [];
  const r = await trainLocal({ spec: mlpSpec(), train: trainSet, test: testSet, epochs: 3, batch: 64, workers: 2, lr: 0.05, momentum: 0.9,
    onStep: (_e, fraction) => steps.push(fraction), onEpoch: (e) => epochs.push(e) });
  expect(r.epochs).toEqual(epochs);
  expect(steps[steps.length - 1]).toBe(1);
  expect(r.epochs[2].trainLoss).toBeLessThan(r.epochs[0].trainLoss);
  expect(r.epochs[2].testAccuracy).toBeGreaterThanOrEqual(0.84);
}, 120_000);

test('the LeNet-like CNN reaches at least 87% test accuracy in 4 epochs', async () => {
  const r = await trainLocal({ spec: cnnSpec(), train: trainSet, test: testSet, epochs: 4, batch: 64, workers: 2, lr: 0.05, momentum: 0.9 });
  expect(r.epochs[3].testAccuracy).toBeGreaterThanOrEqual(0.87);
}, 300_000);
