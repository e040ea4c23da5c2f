// The native engine: gradients against tfjs and finite differences on every SIMD path, parallel minibatches and
// thread counts (the same bits), worker teardown, layouts and errors.
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Model } from '../src/model/model';
import { ModelSpec, cnnSpec, mlpSpec, toNativeSpec } from '../src/model/spec';
import { ArgumentError } from '../src/errors';
import { native } from '../src/native';
import { rng } from './random';

function randomBatch(model: Model, n: number, seed: number) {
  const r = rng(seed);
  return {
    images: Float32Array.from({ length: n * model.inputSize }, () => r()),
    labels: Uint8Array.from({ length: n }, () => Math.floor(r() * model.spec.classes)),
  };
}

/** mean loss of the batch at params, via a one-batch gradient (the loss it reports) */
async function lossAt(model: Model, params: Float32Array, batch: { images: Float32Array; labels: Uint8Array }) {
  return (await model.gradient(params, [batch])).loss;
}

/**
 * Central differences on a sample of parameters of every tensor in the layout. Float32 forward passes
 * limit the precision, so the step is 1e-3 and the check is relative with an absolute floor.
 */
async function checkGradient(spec: ModelSpec, seed: number) {
  const model = new Model(spec);
  const params = model.initParams(seed);
  const r = rng(seed);
  for (let i = 0; i < params.length; i++) params[i] += (r() - 0.5) * 0.02; // non-zero biases too
  const batch = randomBatch(model, 3, seed);
  const { grad } = await model.gradient(params, [batch]);
  const eps = 1e-3;
  let checked = 0;
  for (const p of model.layout) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    for (let t = 0; t < 6; t++) {
      const i = p.offset + Math.floor(r() * size);
      const saved = params[i];
      params[i] = saved + eps;
      const up = await lossAt(model, params, batch);
      params[i] = saved - eps;
      const down = await lossAt(model, params, batch);
      params[i] = saved;
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(numeric - grad[i]);
      if (err > 2e-3 + 3e-2 * Math.max(Math.abs(numeric), Math.abs(grad[i]))) {
        throw new Error(`${p.name}[${i - p.offset}]: analytic ${grad[i]}, numeric ${numeric}`);
      }
      checked++;
    }
  }
  expect(checked).toBe(model.layout.length * 6);
}

/** The same model in tfjs (NHWC, its own conv2d, max-pool and softmax cross-entropy), with spirt's parameters: loss and gradients in spirt's layout. */
function tfjsGradient(model: Model, params: Float32Array, batch: { images: Float32Array; labels: Uint8Array }) {
  const { spec } = model;
  const n = batch.labels.length;
  const [c, h, w] = spec.input;
  const vars = model.layout.map((p) => tf.variable(tf.tensor(params.slice(p.offset, p.offset + p.shape.reduce((a, b) => a * b, 1)), p.shape), true, p.name));
  const x = tf.tensor4d(batch.images, [n, c, h, w]).transpose([0, 2, 3, 1]);
  const onehot = tf.oneHot(tf.tensor1d(Array.from(batch.labels), 'int32'), spec.classes);
  const loss = () => {
    let a = x as tf.Tensor;
    let v = 0;
    for (const l of spec.layers) {
      if (l.type === 'conv2d') {
        if (a.rank === 2) a = a.reshape([n, 1, 1, -1]); // a dense layer's output: channels x 1 x 1
        const kernel = vars[v++].transpose([2, 3, 1, 0]) as tf.Tensor4D; // [out, in, k, k] -> [k, k, in, out]
        a = tf.conv2d(a as tf.Tensor4D, kernel, 1, l.padding ?? 0).add(vars[v++]);
      } else if (l.type === 'dense') {
        if (a.rank === 4) a = a.transpose([0, 3, 1, 2]).reshape([n, -1]); // spirt flattens channels, rows, columns
        a = a.matMul(vars[v++]).add(vars[v++]);
      } else if (l.type === 'relu') a = tf.relu(a);
      else a = tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid');
    }
    return tf.losses.softmaxCrossEntropy(onehot, a) as tf.Scalar;
  };
  const { value, grads } = tf.variableGrads(loss, vars);
  const grad = new Float32Array(params.length);
  for (const p of model.layout) grad.set(grads[p.name].dataSync(), p.offset);
  const result = { loss: value.dataSync()[0], grad };
  tf.dispose([value, x, onehot, ...Object.values(grads), ...vars]);
  return result;
}

describe('native model engine', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  test.each([
    ['LeNet-like CNN', cnnSpec(), [3]],
    ['LeNet-like channels and kernels on 12x12 inputs', {
      input: [1, 12, 12], classes: 10,
      layers: [
        { type: 'conv2d', filters: 6, kernel: 5, padding: 2 }, { type: 'relu' }, { type: 'maxpool2' },
        { type: 'conv2d', filters: 16, kernel: 5 }, { type: 'relu' }, { type: 'maxpool2' },
        { type: 'dense', units: 12 }, { type: 'relu' }, { type: 'dense', units: 10 },
      ],
    } as ModelSpec, [1, 16, 37]],
    ['pooling the input, padded convolutions, a convolution after a dense layer', {
      input: [3, 12, 14], classes: 4,
      layers: [
        { type: 'maxpool2' }, { type: 'conv2d', filters: 5, kernel: 3, padding: 1 }, { type: 'maxpool2' }, { type: 'relu' },
        { type: 'conv2d', filters: 7, kernel: 2, padding: 2 }, { type: 'relu' }, { type: 'dense', units: 6 }, { type: 'relu' },
        { type: 'conv2d', filters: 3, kernel: 2, padding: 1 }, { type: 'maxpool2' }, { type: 'dense', units: 4 },
      ],
    } as ModelSpec, [5, 33]],
  ])('%s, batches of %j: loss and every gradient match tfjs', async (_, spec, sizes) => {
    const model = new Model(spec as ModelSpec);
    const params = model.initParams(11);
    const r = rng(5);
    for (let i = 0; i < params.length; i++) params[i] += (r() - 0.5) * 0.05; // non-zero biases too
    for (const n of sizes as number[]) {
      const batch = randomBatch(model, n, n);
      const got = await model.gradient(params, [batch]);
      const want = tfjsGradient(model, params, batch);
      expect(got.loss).toBeCloseTo(want.loss, 5);
      for (const p of model.layout) {
        const size = p.shape.reduce((a, b) => a * b, 1);
        const scale = want.grad.subarray(p.offset, p.offset + size).reduce((m, g) => Math.max(m, Math.abs(g)), 0);
        for (let i = p.offset; i < p.offset + size; i++) {
          if (Math.abs(got.grad[i] - want.grad[i]) > 1e-5 + 1e-4 * scale) {
            throw new Error(`batch ${n}, ${p.name}[${i - p.offset}]: spirt ${got.grad[i]}, tfjs ${want.grad[i]} (scale ${scale})`);
          }
        }
      }
    }
  });

  test('dense + ReLU gradients match finite differences', async () => {
    await checkGradient({ input: [1, 4, 5], classes: 3, layers: [{ type: 'dense', units: 7 }, { type: 'relu' }, { type: 'dense', units: 3 }] }, 1);
  });

  test('conv2d (with and without padding), max-pool and ReLU gradients match finite differences', async () => {
    await checkGradient({
      input: [2, 8, 8], classes: 4,
      layers: [
        { type: 'conv2d', filters: 3, kernel: 3, padding: 1 }, { type: 'relu' }, { type: 'maxpool2' },
        { type: 'conv2d', filters: 4, kernel: 3 }, { type: 'relu' }, { type: 'dense', units: 4 },
      ],
    }, 2);
  });

  test('softmax cross-entropy alone (a linear classifier) matches finite differences', async () => {
    await checkGradient({ input: [3, 2, 2], classes: 5, layers: [{ type: 'dense', units: 5 }] }, 3);
  });

  test('parallel minibatches give the size-weighted mean of their gradients', async () => {
    const model = new Model(mlpSpec([32]));
    const params = model.initParams(7);
    const a = randomBatch(model, 5, 1), b = randomBatch(model, 3, 2);
    const ga = await model.gradient(params, [a]), gb = await model.gradient(params, [b]);
    const both = await model.gradient(params, [a, b]);
    expect(both.loss).toBeCloseTo((ga.loss * 5 + gb.loss * 3) / 8, 6);
    for (let i = 0; i < params.length; i += 97) {
      expect(both.grad[i]).toBeCloseTo((ga.grad[i] * 5 + gb.grad[i] * 3) / 8, 6);
    }
  });

  test('gradients and evaluations give the same bits whatever the thread count (SPIRT_THREADS)', async () => {
    // the built package in child processes with 1 and 3 pool threads
    const script = (dist: string) => `
      const { createHash } = require('node:crypto');
      const { Model } = require(${JSON.stringify(path.join(dist, 'model', 'model.js'))});
      const { cnnSpec } = require(${JSON.stringify(path.join(dist, 'model', 'spec.js'))});
      const { native } = require(${JSON.stringify(path.join(dist, 'native.js'))});
      let s = 7;
      const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
      const model = new Model(cnnSpec());
      const params = model.initParams(5);
      const batch = (n) => ({ images: Float32Array.from({ length: n * 784 }, next), labels: Uint8Array.from({ length: n }, () => Math.floor(next() * 10)) });
      const batches = [batch(5), batch(9), batch(3)], test = batch(600);
      (async () => {
        const { loss, grad } = await model.gradient(params, batches);
        const ev = await model.evaluate(params, test);
        process.stdout.write(JSON.stringify({ threads: native().threads, loss, ev,
          grad: createHash('sha256').update(Buffer.from(grad.buffer)).digest('hex') }));
      })();`;
    const dist = path.resolve(__dirname, '..', 'dist');
    const run = (threads: string) => {
      const r = spawnSync(process.execPath, ['-e', script(dist)], { encoding: 'utf8', env: { ...process.env, SPIRT_THREADS: threads } });
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout);
    };
    const one = run('1'), three = run('3');
    expect(one.threads).toBe(1);
    expect(three.threads).toBe(3);
    expect(one.loss).toBeGreaterThan(0);
    expect({ ...three, threads: 1 }).toEqual(one);
  });

  test('failures on several pool threads at once reject the promise with their message', async () => {
    // the raw engine (no TS validation): both batches hold a label the 10 classes do not have
    const handle = new (native().NativeModel)(toNativeSpec(mlpSpec([8])));
    const params = new Float32Array(handle.paramCount), grad = new Float32Array(handle.paramCount);
    const bad = { images: new Float32Array(2 * 784), labels: Uint8Array.of(1, 12) };
    await expect(handle.gradient(params, [bad, bad, bad], grad)).rejects.toThrow(/spirt native: label out of range/);
    await expect(handle.evaluate(params, bad.images, bad.labels)).rejects.toThrow(/spirt native: label out of range/);
  });

  test('a worker thread ended while its gradients run leaves the process and the pool working', () => {
    // the worker is the first to load the addon, so ending it unloads the addon unless the pool keeps it loaded
    const dist = path.resolve(__dirname, '..', 'dist');
    const script = `
      const { Worker, isMainThread, parentPort } = require('node:worker_threads');
      const { Model } = require(${JSON.stringify(path.join(dist, 'model', 'model.js'))});
      const { cnnSpec } = require(${JSON.stringify(path.join(dist, 'model', 'spec.js'))});
      const batch = { images: new Float32Array(128 * 784).fill(0.5), labels: new Uint8Array(128) };
      const start = () => { const model = new Model(cnnSpec()); return { model, params: model.initParams(1) }; };
      if (isMainThread) {
        (async () => {
          for (let i = 0; i < 3; i++) {
            const w = new Worker(__filename);
            await new Promise((r) => w.once('message', r));
            await w.terminate();
          }
          const { model, params } = start();
          const { loss } = await model.gradient(params, [batch, batch]);
          process.stdout.write(String(loss));
        })();
      } else {
        const { model, params } = start();
        model.gradient(params, [batch, batch, batch]);
        parentPort.postMessage('running');
      }`;
    const file = path.join(os.tmpdir(), `spirt-worker-${process.pid}.js`);
    fs.writeFileSync(file, script);
    try {
      const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(Number(r.stdout)).toBeCloseTo(Math.log(10), 0);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('layouts, parameter counts and initialisation', () => {
    const mlp = new Model(mlpSpec());
    expect(mlp.paramCount).toBe(784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    expect(mlp.layout.map((p) => p.name)).toEqual([
      'layer0.dense.weight', 'layer0.dense.bias', 'layer2.dense.weight', 'layer2.dense.bias', 'layer4.dense.weight', 'layer4.dense.bias',
    ]);
    const cnn = new Model(cnnSpec());
    expect(cnn.layout[0]).toEqual({ name: 'layer0.conv2d.weight', shape: [6, 1, 5, 5], offset: 0 });
    expect(cnn.layout.find((p) => p.name === 'layer6.dense.weight')!.shape).toEqual([16 * 5 * 5, 120]);
    const p1 = cnn.initParams(3), p2 = cnn.initParams(3);
    expect(Array.from(p1)).toEqual(Array.from(p2));
    const bias = cnn.layout[1];
    expect(Array.from(p1.subarray(bias.offset, bias.offset + 6))).toEqual([0, 0, 0, 0, 0, 0]);
    const limit = Math.sqrt(6 / 25);
    expect(p1.subarray(0, 150).every((w) => Math.abs(w) <= limit)).toBe(true);
  });

  test('evaluate counts correct predictions', async () => {
    const model = new Model({ input: [1, 1, 2], classes: 2, layers: [{ type: 'dense', units: 2 }] });
    // weights [2 x 2] as [in x out]: class = argmax(x) on two-pixel inputs
    const params = Float32Array.of(1, 0, 0, 1, 0, 0);
    const data = { images: Float32Array.of(1, 0, 0, 1, 0.2, 0.9, 0.7, 0.1), labels: Uint8Array.of(0, 1, 1, 1) };
    const r = await model.evaluate(params, data);
    expect(r.correct).toBe(3);
    expect(r.accuracy).toBe(0.75);
  });

  test('bad specs and inputs are refused with clear errors', async () => {
    expect(() => new Model({ input: [1, 28, 28], classes: 10, layers: [{ type: 'dense', units: 5 }] })).toThrow(/last layer must be dense with one unit per class/);
    expect(() => new Model({ input: [1, 4, 4], classes: 2, layers: [{ type: 'conv2d', filters: 2, kernel: 9 }, { type: 'dense', units: 2 }] }))
      .toThrow(/kernel is larger than its padded input/);
    expect(() => new Model({ input: [1, 1, 1], classes: 2, layers: [{ type: 'maxpool2' }, { type: 'dense', units: 2 }] })).toThrow(/at least 2x2/);
    expect(() => new Model({ input: [1, 2, 2], classes: 2, layers: [{ type: 'softmax' } as never] })).toThrow(/unknown type 'softmax'/);
    expect(() => new Model({ input: [0, 2, 2], classes: 2, layers: [{ type: 'dense', units: 2 }] })).toThrow(ArgumentError);
    const model = new Model(mlpSpec([8]));
    const params = model.initParams();
    const b = randomBatch(model, 2, 1);
    await expect(model.gradient(params.subarray(1), [b])).rejects.toThrow(/the model has \d+ parameters/);
    await expect(model.gradient(params, [])).rejects.toThrow(/at least one batch/);
    await expect(model.gradient(params, [{ images: b.images.subarray(1), labels: b.labels }])).rejects.toThrow(/image values for 2 labels/);
    await expect(model.gradient(params, [{ images: b.images, labels: Uint8Array.of(1, 10) }])).rejects.toThrow(/label 10 at 1 is not a class/);
    await expect(model.evaluate(params, { images: b.images, labels: [1, 2] as never })).rejects.toThrow(/labels must be a Uint8Array/);
  });
});
