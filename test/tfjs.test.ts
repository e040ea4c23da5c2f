// The TensorFlow.js adapter against real tfjs models (pure JS CPU backend), a real redis-server with the module
// and real Fashion-MNIST.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  assignFlat, checkLayoutsMatch, flatToTensors, gradientsToFlat, layoutOfModel, tfjsGradient, tfjsTrainable, weightsToFlat,
} from '../src/adapters/tfjs';
import { epochBatches, loadFashionMnist, shard } from '../src/data/fashionMnist';
import { sgdStep } from '../src/kernels';
import { unflatten } from '../src/model/flatten';
import { TensorStore } from '../src/store/tensorStore';
import { tensor } from '../src/tensor';
import { withRedis } from './helpers';

// the example requires the package by name: point the names at this checkout's sources
jest.mock('spirt', () => jest.requireActual('../src/index'), { virtual: true });
jest.mock('spirt/tfjs', () => jest.requireActual('../src/adapters/tfjs'), { virtual: true });

const root = path.resolve(__dirname, '..');
const trainSet = loadFashionMnist('train');
const testSet = loadFashionMnist('test');

const mlp = (hidden = 32) => tf.sequential({
  layers: [tf.layers.dense({ inputShape: [784], units: hidden, activation: 'relu' }), tf.layers.dense({ units: 10 })],
});
const softmaxLoss = (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits);
const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const sameBytes = (a: Float32Array, b: Float32Array) => bytes(a).equals(bytes(b));

/** Byte equality, reporting the first element that differs (jest's deep equality crawls over 100 kB buffers). */
function expectSameBytes(actual: Float32Array, expected: Float32Array) {
  const firstDifference = sameBytes(actual, expected) ? -1 : actual.findIndex((x, i) => !Object.is(x, expected[i]));
  expect({ length: actual.length, firstDifference }).toEqual({ length: expected.length, firstDifference: -1 });
}
const firstBatch = (seed: number, size = 64) => epochBatches(trainSet, size, seed).next().value!;

/** The gradient of a batch as a tfjs user computes it, keyed by the model's weight names. */
function tfjsGrads(model: tf.Sequential, batch: { images: Float32Array; labels: Uint8Array }) {
  const x = tf.tensor2d(batch.images, [batch.labels.length, 784]);
  const y = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 10).toFloat();
  const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor));
  tf.dispose([x, y]);
  return { loss: value, grads };
}

describe('layouts and conversions between two independently built models', () => {
  test('layouts agree by position although tfjs named the weights differently', () => {
    const [a, b] = [mlp(), mlp()];
    expect(a.trainableWeights.map((w) => w.name)).not.toEqual(b.trainableWeights.map((w) => w.name));
    const la = layoutOfModel(a), lb = layoutOfModel(b);
    expect(la.entries.map((e) => [e.shape, e.dtype, e.offset, e.length])).toEqual([
      [[784, 32], 'float32', 0, 25088], [[32], 'float32', 25088, 32], [[32, 10], 'float32', 25120, 320], [[10], 'float32', 25440, 10],
    ]);
    expect(lb.entries.map(({ name: _name, ...rest }) => rest)).toEqual(la.entries.map(({ name: _name, ...rest }) => rest));
    expect(la.entries.map((e) => e.name)).toEqual(a.trainableWeights.map((w) => w.name));
    expect(la.length).toBe(25450);
    expect(() => checkLayoutsMatch(lb, la)).not.toThrow();
    // a layout is a FlatLayout: unflatten gives views by this model's weight names
    const views = unflatten(weightsToFlat(a), la);
    expectSameBytes(views[la.entries[2].name], a.trainableWeights[2].read().dataSync() as Float32Array);
  });

  test('weights round-trip through one vector into the other model, byte for byte, with nothing leaked', () => {
    const [a, b] = [mlp(), mlp()];
    const va = weightsToFlat(a);
    expect(sameBytes(weightsToFlat(b), va)).toBe(false);
    const tensorsBefore = tf.memory().numTensors;
    assignFlat(b, va, layoutOfModel(a));
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expectSameBytes(weightsToFlat(b), va);
    a.trainableWeights.forEach((w, i) => {
      const vb = b.trainableWeights[i].read();
      expect(vb.shape).toEqual(w.shape);
      expectSameBytes(vb.dataSync() as Float32Array, w.read().dataSync() as Float32Array);
    });
    va.fill(7); // the model owns copies, not views of the vector
    expect(weightsToFlat(b)).not.toContain(7);

    const out = new Float32Array(va.length);
    expect(weightsToFlat(a, out)).toBe(out);
    const tensors = flatToTensors(out, layoutOfModel(b));
    expect(Object.keys(tensors)).toEqual(b.trainableWeights.map((w) => w.name));
    b.trainableWeights.forEach((w) => {
      expect(tensors[w.name].shape).toEqual(w.shape);
      expectSameBytes(tensors[w.name].dataSync() as Float32Array, w.read().dataSync() as Float32Array);
    });
    tf.dispose(tensors);
  });

  test('a gradient map becomes one vector in the layout; maps of another model are refused', () => {
    const [a, b] = [mlp(), mlp()];
    const { loss, grads } = tfjsGrads(a, firstBatch(1));
    const flat = gradientsToFlat(a, grads);
    layoutOfModel(a).entries.forEach((e) => {
      expectSameBytes(flat.subarray(e.offset, e.offset + e.length), grads[e.name].dataSync() as Float32Array);
    });
    expect(() => gradientsToFlat(b, grads)).toThrow(/grads has 'dense_Dense\d+\/kernel', which is not a trainable weight of this model/);
    const partial = { ...grads };
    delete partial[a.trainableWeights[3].name];
    expect(() => gradientsToFlat(a, partial)).toThrow(/no gradient for weight 3 \('dense_Dense\d+\/bias'\)/);
    const swapped = { ...grads, [a.trainableWeights[1].name]: grads[a.trainableWeights[3].name] };
    expect(() => gradientsToFlat(a, swapped)).toThrow(/gradient of weight 1 \('dense_Dense\d+\/bias'\) is \[10\] float32, the weight \[32\] float32/);
    expect(() => gradientsToFlat(a, grads, new Float32Array(3))).toThrow(/out has 3 elements, expected 25450/);
    tf.dispose([loss, grads]);
  });
});

describe('two peers average their gradients in the database', () => {
  const redis = withRedis();
  let store: TensorStore;
  beforeAll(async () => {
    store = await TensorStore.connect(redis.current().url);
  });
  afterAll(async () => {
    await store?.close();
  });

  test('the mean computed by TENSOR.AVG, applied back into a model, equals averaging in tfjs', async () => {
    const [a, b] = [mlp(), mlp()];
    assignFlat(b, weightsToFlat(a));
    const ga = tfjsGrads(a, firstBatch(1)), gb = tfjsGrads(b, firstBatch(2));
    const n = layoutOfModel(a).length;
    await store.set('{tfjs}:grad:a', tensor('float32', [n], gradientsToFlat(a, ga.grads)));
    await store.set('{tfjs}:grad:b', tensor('float32', [n], gradientsToFlat(b, gb.grads)));
    await store.avg('{tfjs}:grad:mean', ['{tfjs}:grad:a', '{tfjs}:grad:b']);
    const mean = (await store.get('{tfjs}:grad:mean'))!.data as Float32Array;

    // peer a applies the database's mean; peer b averages the two gradient maps in tfjs, weight by weight
    const fromDatabase = flatToTensors(mean, layoutOfModel(a));
    tf.train.sgd(0.1).applyGradients(fromDatabase);
    const inTfjs: tf.NamedTensorMap = {};
    a.trainableWeights.forEach((w, i) => {
      const name = b.trainableWeights[i].name;
      inTfjs[name] = tf.div(tf.add(ga.grads[w.name], gb.grads[name]), 2);
    });
    tf.train.sgd(0.1).applyGradients(inTfjs);
    expectSameBytes(mean, gradientsToFlat(b, inTfjs));
    expectSameBytes(weightsToFlat(a), weightsToFlat(b));
    tf.dispose([ga.loss, ga.grads, gb.loss, gb.grads, fromDatabase, inTfjs]);
  });

  test('another architecture is refused, naming the first differing weight, its shape and position', () => {
    const a = mlp(32), narrower = mlp(16);
    const deeper = mlp(32);
    deeper.add(tf.layers.dense({ units: 10 }));
    expect(() => checkLayoutsMatch(layoutOfModel(narrower), layoutOfModel(a)))
      .toThrow(/architectures differ at weight 0: 'dense_Dense\d+\/kernel' \[784, 16\] float32 here, 'dense_Dense\d+\/kernel' \[784, 32\] float32 expected/);
    expect(() => checkLayoutsMatch(layoutOfModel(a), layoutOfModel(deeper)))
      .toThrow(/architectures differ at weight 4: none \(4 weights\) here, 'dense_Dense\d+\/kernel' \[10, 10\] float32 expected/);
    const before = weightsToFlat(narrower);
    let error: unknown;
    try {
      assignFlat(narrower, weightsToFlat(a), layoutOfModel(a));
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'ArgumentError', code: 'ERR_LAYOUT' });
    expectSameBytes(weightsToFlat(narrower), before); // nothing written
    expect(() => assignFlat(narrower, weightsToFlat(a))).toThrow(/vector has 25450 elements, the layout 12730 \(4 weights\)/);
    expect(() => flatToTensors(new Float64Array(3) as never, layoutOfModel(a))).toThrow(/vector must be a Float32Array, got Float64Array/);
    expect(() => layoutOfModel(tf.sequential())).toThrow(/no trainable weights: build it first/);
    expect(() => layoutOfModel({} as never)).toThrow(/model must be a tf.LayersModel/);
    const constant = tf.zeros([2]);
    const notVariables = { trainableWeights: [{ name: 'w', shape: [2], dtype: 'float32', read: () => constant }] };
    expect(() => assignFlat(notVariables, new Float32Array(2))).toThrow(/weight 0 \('w'\) does not read as a tf.Variable/);
    constant.dispose();
  });
});

describe('tfjsTrainable and tfjsGradient: a tfjs model in the shape the peer runtime trains', () => {
  test('initParams gives the same bytes for a seed whatever tfjs drew, Glorot-uniform kernels and zero biases', () => {
    const a = tfjsTrainable(mlp(), softmaxLoss), b = tfjsTrainable(mlp(), softmaxLoss);
    const p = a.initParams(7);
    expect(a.paramCount).toBe(25450);
    expectSameBytes(b.initParams(7), p);
    expect(sameBytes(a.initParams(8), p)).toBe(false);
    const [kernel, bias] = a.layout.entries;
    const limit = Math.sqrt(6 / (784 + 32));
    const k = p.subarray(kernel.offset, kernel.offset + kernel.length);
    expect(Math.max(...k)).toBeLessThanOrEqual(limit);
    expect(Math.min(...k)).toBeGreaterThanOrEqual(-limit);
    expect(Math.max(...k)).toBeGreaterThan(0.95 * limit);
    expect(p.subarray(bias.offset, bias.offset + bias.length).every((v) => v === 0)).toBe(true);
    expect(() => a.initParams(-1)).toThrow(/seed must be an integer >= 0/);
    const randomBias = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, biasInitializer: 'randomNormal' })] });
    expect(() => tfjsTrainable(randomBias, softmaxLoss).initParams(1))
      .toThrow(/weight 1 \('dense_Dense\d+\/bias'\) did not start as a constant, so initParams cannot reproduce it/);
  });

  test('gradient equals the gradient tfjs computes for those weights, leaks no tensor, and refuses bad input', async () => {
    const trainable = tfjsTrainable(mlp(), softmaxLoss);
    const reference = mlp();
    const params = trainable.initParams(3), batch = firstBatch(4, 32);
    const tensorsBefore = tf.memory().numTensors;
    const { grad, loss } = await trainable.gradient(params, [batch]);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    assignFlat(reference, params);
    const expected = tfjsGrads(reference, batch);
    expectSameBytes(grad, gradientsToFlat(reference, expected.grads));
    expect(loss).toBe(expected.loss.dataSync()[0]);
    tf.dispose([expected.loss, expected.grads]);
    expectSameBytes(await tfjsGradient(mlp(), softmaxLoss)(params, batch), grad);

    await expect(trainable.gradient(params.subarray(1), [batch])).rejects.toThrow(/vector has 25449 elements, the layout 25450/);
    await expect(trainable.gradient(params, [{ images: batch.images, labels: batch.labels.subarray(1) }]))
      .rejects.toThrow(/batch: 25088 image values for 31 labels of 784/);
    await expect(trainable.gradient(params, [{ images: batch.images, labels: new Uint8Array(32).fill(10) }]))
      .rejects.toThrow(/label 10 at 0 is not a class \(< 10\)/);
    await expect(trainable.gradient(params, [])).rejects.toThrow(/a list of at least one batch/);
    await expect(trainable.gradient(params, batch as never)).rejects.toThrow(/a list of at least one batch/);
    await expect(trainable.gradient(params, [batch, { images: batch.images, labels: batch.labels.subarray(1) }]))
      .rejects.toThrow(/batch 1: 25088 image values for 31 labels/);
    expect(() => tfjsTrainable(mlp(), undefined as never)).toThrow(/lossFn must be a function/);
  });

  test('gradient of several batches is the gradient of their samples together (the size-weighted mean)', async () => {
    const trainable = tfjsTrainable(mlp(), softmaxLoss);
    const params = trainable.initParams(5);
    const a = firstBatch(6, 24), b = firstBatch(7, 40);
    const joined = { images: new Float32Array([...a.images, ...b.images]), labels: new Uint8Array([...a.labels, ...b.labels]) };
    const together = await trainable.gradient(params, [a, b]);
    const one = await trainable.gradient(params, [joined]);
    expectSameBytes(together.grad, one.grad);
    expect(together.loss).toBe(one.loss);
    const [ga, gb] = [await trainable.gradient(params, [a]), await trainable.gradient(params, [b])];
    expect(together.loss).toBeCloseTo((24 * ga.loss + 40 * gb.loss) / 64, 5);
    const weighted = ga.grad.map((g, i) => (24 * g + 40 * gb.grad[i]) / 64);
    expect(Math.max(...together.grad.map((g, i) => Math.abs(g - weighted[i])))).toBeLessThan(1e-5);
  });

  test('evaluate yields to the event loop between chunks of 500 samples, so a peer\'s heartbeat timers run', async () => {
    const trainable = tfjsTrainable(mlp(), softmaxLoss);
    const params = trainable.initParams(2);
    const resolvedAfterImmediate = async (samples: number) => {
      let immediateRan = false;
      setImmediate(() => (immediateRan = true));
      const data = { images: testSet.images.subarray(0, samples * 784), labels: testSet.labels.subarray(0, samples) };
      return trainable.evaluate(params, data).then(() => immediateRan);
    };
    expect(await resolvedAfterImmediate(500)).toBe(false); // one chunk: no yield
    expect(await resolvedAfterImmediate(501)).toBe(true);

    // a gradient at other params, called while an evaluation is under way, waits for it to end
    const data = { images: testSet.images.subarray(0, 1500 * 784), labels: testSet.labels.subarray(0, 1500) };
    const alone = await trainable.evaluate(params, data);
    const [during] = await Promise.all([trainable.evaluate(params, data), trainable.gradient(trainable.initParams(9), [firstBatch(1, 16)])]);
    expect(during).toEqual(alone);
  });

  test('one short epoch with spirt\'s SGD kernel reaches a sane test accuracy', async () => {
    const trainable = tfjsTrainable(tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 64, activation: 'relu' }), tf.layers.dense({ units: 10 })],
    }), softmaxLoss);
    const params = trainable.initParams(1), velocity = new Float32Array(trainable.paramCount);
    const before = await trainable.evaluate(params, testSet);
    for (const batch of epochBatches(shard(trainSet, 0, 5), 64, 1)) {
      const { grad } = await trainable.gradient(params, [batch]);
      sgdStep(params, grad, { lr: 0.02, momentum: 0.9, velocity });
    }
    const after = await trainable.evaluate(params, testSet);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.accuracy).toBeGreaterThanOrEqual(0.75);
  }, 120_000);
});

describe('the README example', () => {
  const example = path.join(root, 'examples', 'tfjs-average.js');

  test('is printed whole in the README', () => {
    expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).toContain('```js\n' + fs.readFileSync(example, 'utf8') + '```\n');
  });

  test('runs: two peers average in Redis, apply the mean and stay identical', async () => {
    const lines: string[] = [];
    const { main } = require(example) as { main: (o: object) => Promise<{ losses: number[]; identical: boolean }> };
    const { losses, identical } = await main({ steps: 30, log: (line: string) => lines.push(line) });
    expect(identical).toBe(true);
    expect(losses).toHaveLength(30);
    expect(losses.slice(-5).reduce((s, l) => s + l, 0)).toBeLessThan(losses.slice(0, 5).reduce((s, l) => s + l, 0));
    expect(lines).toEqual([expect.stringMatching(/^step 10: mean loss/), expect.stringMatching(/^step 20/), expect.stringMatching(/^step 30/),
      "the peers' weights are identical"]);
  }, 60_000);
});

describe('packaging', () => {
  test("require('spirt') does not load tfjs (child process, built package)", () => {
    // NODE_PATH makes the package resolvable by its name, as in a user's node_modules
    const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-require-'));
    try {
      fs.symlinkSync(root, path.join(modules, 'spirt'));
      const script = "require('spirt'); const loaded = Object.keys(require.cache);" +
        "console.log(JSON.stringify({ spirt: loaded.some((f) => f.endsWith('/dist/index.js')), tfjs: loaded.filter((f) => f.includes('@tensorflow')) }))";
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: os.tmpdir(), env: { ...process.env, NODE_PATH: modules } });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ spirt: true, tfjs: [] });
    } finally {
      fs.rmSync(modules, { recursive: true, force: true });
    }
  });

  test("'spirt/tfjs' resolves to the adapter by the package's exports, in a user's node_modules and inside the package", () => {
    const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-require-'));
    try {
      fs.symlinkSync(root, path.join(modules, 'spirt'));
      const script = "console.log(JSON.stringify([require.resolve('spirt'), require.resolve('spirt/tfjs')]))";
      const user = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: os.tmpdir(), env: { ...process.env, NODE_PATH: modules } });
      const inside = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: path.join(root, 'examples') });
      for (const r of [user, inside]) {
        expect(r.stderr).toBe('');
        expect(JSON.parse(r.stdout).map((f: string) => path.relative(fs.realpathSync(root), fs.realpathSync(f)))).toEqual([
          path.join('dist', 'index.js'), path.join('dist', 'adapters', 'tfjs.js'),
        ]);
      }
    } finally {
      fs.rmSync(modules, { recursive: true, force: true });
    }
  });

  test('without TensorFlow.js, spirt/tfjs says what to install', () => {
    jest.isolateModules(() => {
      jest.doMock('@tensorflow/tfjs-core', () => {
        throw Object.assign(new Error("Cannot find module '@tensorflow/tfjs-core'"), { code: 'MODULE_NOT_FOUND' });
      });
      expect(() => require('../src/adapters/tfjs')).toThrow(/spirt\/tfjs needs TensorFlow.js: npm install @tensorflow\/tfjs/);
    });
  });
});
