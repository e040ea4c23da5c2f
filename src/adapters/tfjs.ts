// spirt/tfjs: TensorFlow.js models as spirt's flat float32 vectors. Weights are laid out by their position in
// `model.trainableWeights`, never by name: tfjs names weights per instance (dense_Dense1 here, dense_Dense3 on
// another peer), so only the order, shapes and dtypes say whether two peers hold the same architecture.
// This is the only file that loads tfjs; `require('spirt')` never does.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { NamedTensorMap, Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import { ArgumentError, SpirtError } from '../errors';
import type { FlatLayout } from '../model/flatten';
import type { LabeledBatch } from '../model/model';
import type { TrainableModel } from '../peer/training';
import { xorshift32 } from '../random';
import { numel } from '../tensor';
import { outputArray, requireF32, requireInteger } from '../validate';

function loadTfjsCore(): typeof import('@tensorflow/tfjs-core') {
  try {
    return require('@tensorflow/tfjs-core');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && (e as Error).message.includes("'@tensorflow/tfjs-core'")) {
      throw new SpirtError('ERR_TFJS_MISSING', 'spirt/tfjs needs TensorFlow.js: npm install @tensorflow/tfjs (or @tensorflow/tfjs-core and a backend)');
    }
    throw e;
  }
}

// the core that @tensorflow/tfjs itself uses (its dependency, hoisted beside it), so tensors made here belong to
// the same engine as the model's
const tf = loadTfjsCore();

/** A trainable weight as tfjs-layers holds it (a LayerVariable): read() gives its tf.Variable. */
export interface TfjsWeight {
  readonly name: string;
  readonly shape: readonly (number | null)[];
  readonly dtype: string;
  read(): Tensor;
}

/** What a layout needs of a model: a tf.LayersModel, or anything listing its trainable weights in a fixed order. */
export interface TfjsWeighted {
  readonly trainableWeights: readonly TfjsWeight[];
}

/** A one-input, one-output classifier such as a tf.LayersModel: what tfjsTrainable drives. */
export interface TfjsClassifier extends TfjsWeighted {
  readonly inputs: readonly { readonly shape: readonly (number | null)[] }[];
  readonly outputs: readonly { readonly shape: readonly (number | null)[] }[];
  apply(inputs: Tensor, kwargs?: { training?: boolean }): unknown;
}

/** One weight's slice of the flat vector: its name in this model (the key of its gradient), shape and dtype. */
export interface TfjsWeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  offset: number;
  length: number;
}

/** The layout of a model's weights (a FlatLayout, so `unflatten(vector, layout)` gives views by weight name). */
export interface TfjsLayout extends FlatLayout {
  entries: TfjsWeightEntry[];
}

/**
 * The loss of a batch: one-hot labels (float32, [n, classes]) and the model's outputs in, a scalar out (a
 * per-sample loss is averaged), e.g. `(labels, logits) => tf.losses.softmaxCrossEntropy(labels, logits)`.
 */
export type TfjsLoss = (labels: Tensor, outputs: Tensor) => Tensor;

export type { TrainableModel };

/** A tfjs classifier as the peer runtime's TrainableModel (what a `--model-module`'s createModel() returns), with its layout. */
export interface TfjsTrainable extends TrainableModel {
  readonly layout: TfjsLayout;
}

const describeShape = (shape: readonly unknown[]) => `[${shape.join(', ')}]`;

/** The model's trainable weights in order, with their shapes and dtypes; every peer of one architecture derives the same. */
export function layoutOfModel(model: TfjsWeighted): TfjsLayout {
  const weights = model?.trainableWeights;
  if (!Array.isArray(weights)) throw new ArgumentError('ERR_ARGUMENT', 'model must be a tf.LayersModel (or list its trainableWeights)');
  if (weights.length === 0) {
    throw new ArgumentError('ERR_LAYOUT', 'the model has no trainable weights: build it first (inputShape on its first layer, or model.build)');
  }
  let offset = 0;
  const entries = weights.map((w: TfjsWeight, i): TfjsWeightEntry => {
    if (w.dtype !== 'float32') {
      throw new ArgumentError('ERR_LAYOUT', `weight ${i} ('${w.name}') is ${w.dtype}: spirt exchanges float32 weights only`);
    }
    if (!w.shape.every((d) => Number.isSafeInteger(d))) {
      throw new ArgumentError('ERR_LAYOUT', `weight ${i} ('${w.name}') has shape ${describeShape(w.shape)}, not a fixed one`);
    }
    const shape = w.shape as number[];
    const entry = { name: w.name, shape: [...shape], dtype: w.dtype, offset, length: numel(shape) };
    offset += entry.length;
    return entry;
  });
  return { entries, length: offset };
}

const describeEntry = (e: TfjsWeightEntry | undefined, count: number) =>
  e ? `'${e.name}' ${describeShape(e.shape)} ${e.dtype}` : `none (${count} weights)`;

/**
 * Throws ArgumentError ERR_LAYOUT unless both layouts hold the same shapes and dtypes in the same order (names
 * aside), naming the first weight that differs, its shape and its position.
 */
export function checkLayoutsMatch(layout: TfjsLayout, expected: TfjsLayout): void {
  const count = Math.max(layout.entries.length, expected.entries.length);
  for (let i = 0; i < count; i++) {
    const here = layout.entries[i], there = expected.entries[i];
    if (here && there && here.dtype === there.dtype && describeShape(here.shape) === describeShape(there.shape)) continue;
    throw new ArgumentError('ERR_LAYOUT',
      `architectures differ at weight ${i}: ${describeEntry(here, layout.entries.length)} here, ${describeEntry(there, expected.entries.length)} expected`);
  }
}

/** Copies each weight's tensor data straight into its slice of `out` (the one copy; dataSync borrows on the CPU backend). */
function readInto(out: Float32Array, layout: TfjsLayout, tensorAt: (e: TfjsWeightEntry, i: number) => Tensor): Float32Array {
  layout.entries.forEach((e, i) => out.set(tensorAt(e, i).dataSync() as Float32Array, e.offset));
  return out;
}

/** The model's trainable weights as one vector in its layout; `out` (if given) receives them. */
export function weightsToFlat(model: TfjsWeighted, out?: Float32Array): Float32Array {
  const layout = layoutOfModel(model);
  return readInto(outputArray(out, Float32Array, layout.length), layout, (_e, i) => model.trainableWeights[i].read());
}

function gradientsInto(out: Float32Array, layout: TfjsLayout, grads: NamedTensorMap | Record<string, Tensor | null>): Float32Array {
  if (grads === null || typeof grads !== 'object') throw new ArgumentError('ERR_ARGUMENT', 'grads must be a map of weight names to tensors');
  const known = new Set(layout.entries.map((e) => e.name));
  const stray = Object.keys(grads).find((name) => grads[name] != null && !known.has(name));
  if (stray !== undefined) throw new ArgumentError('ERR_LAYOUT', `grads has '${stray}', which is not a trainable weight of this model`);
  return readInto(out, layout, (e, i) => {
    const g = grads[e.name];
    if (g == null) throw new ArgumentError('ERR_LAYOUT', `no gradient for weight ${i} ('${e.name}'): is it on the path to the loss?`);
    if (g.dtype !== e.dtype || describeShape(g.shape) !== describeShape(e.shape)) {
      throw new ArgumentError('ERR_LAYOUT', `gradient of weight ${i} ('${e.name}') is ${describeShape(g.shape)} ${g.dtype}, the weight ${describeShape(e.shape)} ${e.dtype}`);
    }
    return g;
  });
}

/**
 * A gradient map keyed by the model's weight names (what `optimizer.computeGradients` and `tf.variableGrads`
 * return) as one vector in the model's layout; `out` (if given) receives it. The tensors stay the caller's.
 */
export function gradientsToFlat(model: TfjsWeighted, grads: NamedTensorMap | Record<string, Tensor | null>, out?: Float32Array): Float32Array {
  const layout = layoutOfModel(model);
  return gradientsInto(outputArray(out, Float32Array, layout.length), layout, grads);
}

function requireVector(vector: Float32Array, layout: TfjsLayout): Float32Array {
  requireF32(vector, 'vector');
  if (vector.length !== layout.length) {
    throw new ArgumentError('ERR_LENGTH', `vector has ${vector.length} elements, the layout ${layout.length} (${layout.entries.length} weights)`);
  }
  return vector;
}

/**
 * One vector as new tensors with the layout's shapes, keyed by its weight names (what `optimizer.applyGradients`
 * takes). Each tensor owns a copy of its slice; dispose them when done.
 */
export function flatToTensors(vector: Float32Array, layout: TfjsLayout): NamedTensorMap {
  requireVector(vector, layout);
  const out: NamedTensorMap = {};
  for (const e of layout.entries) out[e.name] = tf.tensor(vector.slice(e.offset, e.offset + e.length), e.shape, 'float32');
  return out;
}

/** The tf.Variables behind the model's weights (LayerVariable.read() gives them, typed as plain tensors). */
function variablesOf(model: TfjsWeighted): Variable[] {
  return model.trainableWeights.map((w, i) => {
    const variable = w.read();
    if (!(variable instanceof tf.Variable)) {
      throw new ArgumentError('ERR_ARGUMENT', `weight ${i} ('${w.name}') does not read as a tf.Variable of this TensorFlow.js (two copies of @tensorflow/tfjs-core?)`);
    }
    return variable;
  });
}

function assignInto(variables: readonly Variable[], layout: TfjsLayout, vector: Float32Array): void {
  requireVector(vector, layout);
  layout.entries.forEach((e, i) => {
    // the tensor owns a copy of the slice (tf.tensor would alias the vector); the variable keeps its data after dispose
    const value = tf.tensor(vector.slice(e.offset, e.offset + e.length), e.shape, 'float32');
    variables[i].assign(value);
    value.dispose();
  });
}

/**
 * Writes one vector into the model's variables (variable.assign, no constraint applied), disposing the tensors
 * it makes. With `expected` (the layout the vector was made in, e.g. another peer's), a model of another
 * architecture is refused before anything is written.
 */
export function assignFlat(model: TfjsWeighted, vector: Float32Array, expected?: TfjsLayout): void {
  const layout = layoutOfModel(model);
  if (expected !== undefined) checkLayoutsMatch(layout, expected);
  assignInto(variablesOf(model), layout, vector);
}

/** tfjs's Glorot-uniform fans for a kernel shape (channels last), as tfjs-layers computes them. */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 2) return [shape[0], shape[1]];
  if (shape.length <= 5) {
    const receptive = shape.slice(0, -2).reduce((a, d) => a * d, 1);
    return [shape[shape.length - 2] * receptive, shape[shape.length - 1] * receptive];
  }
  const root = Math.sqrt(numel(shape));
  return [root, root];
}

/**
 * Initial parameters from a seed, the same bytes in every process: kernels (rank >= 2) drawn Glorot-uniform (tfjs's
 * default for dense and convolution kernels) from one xorshift stream; vectors (biases, normalization scales) are
 * the constant their initializer gave them in `initial`.
 */
function seededParams(layout: TfjsLayout, initial: Float32Array, seed: number): Float32Array {
  const params = new Float32Array(layout.length);
  const next = xorshift32(requireInteger(seed, 'seed', 0));
  layout.entries.forEach((e, i) => {
    const slice = params.subarray(e.offset, e.offset + e.length);
    if (e.shape.length >= 2) {
      const [fanIn, fanOut] = fans(e.shape);
      const limit = Math.sqrt(6 / Math.max(1, fanIn + fanOut));
      for (let j = 0; j < slice.length; j++) slice[j] = (2 * ((next() + 0.5) / 2 ** 32) - 1) * limit;
      return;
    }
    const values = initial.subarray(e.offset, e.offset + e.length);
    if (values.some((v) => v !== values[0])) {
      throw new ArgumentError('ERR_ARGUMENT',
        `weight ${i} ('${e.name}') did not start as a constant, so initParams cannot reproduce it in another process: give it a constant initializer`);
    }
    slice.set(values);
  });
  return params;
}

function fixedDims(shape: readonly (number | null)[] | undefined, what: string): number[] {
  const dims = shape?.slice(1) ?? [];
  if (dims.length === 0 || !dims.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) {
    throw new ArgumentError('ERR_ARGUMENT', `the model's ${what} shape ${describeShape(shape ?? [])} must be fixed after the batch dimension`);
  }
  return dims as number[];
}

/**
 * The batches as one batch (a single one as it is): the mean loss over their samples is the size-weighted mean
 * of the batches' losses, as spirt's native Model.gradient averages them.
 */
function joinBatches(batches: readonly LabeledBatch[], check: (b: LabeledBatch, what: string) => number): LabeledBatch {
  if (!Array.isArray(batches) || batches.length === 0) throw new ArgumentError('ERR_ARGUMENT', 'gradient needs a list of at least one batch');
  const sizes = batches.map((b, i) => check(b, batches.length === 1 ? 'batch' : `batch ${i}`));
  if (batches.length === 1) return batches[0];
  const total = sizes.reduce((a, n) => a + n, 0), inputSize = batches[0].images.length / sizes[0];
  const joined = { images: new Float32Array(total * inputSize), labels: new Uint8Array(total) };
  let at = 0;
  batches.forEach((b, i) => {
    joined.images.set(b.images, at * inputSize);
    joined.labels.set(b.labels, at);
    at += sizes[i];
  });
  return joined;
}

/**
 * Evaluation runs in chunks of this many samples, to bound the memory of the activations and, yielding to the
 * event loop between chunks, to let a peer's heartbeats through: the CPU backend computes on the main thread.
 */
const EVALUATION_CHUNK = 500;

/**
 * A tfjs classifier as the peer runtime's TrainableModel: parameters and gradients are flat vectors in
 * `layout`, batches are spirt's LabeledBatch (images row-major in the model's input shape, e.g. [28, 28, 1] or
 * [784]; class labels, one-hot encoded for `lossFn`); `gradient` takes a list of batches, as the runtime and
 * the native Model pass them, and gives the gradient of their samples' mean loss. Every call first writes
 * `params` into the model.
 * initParams: see seededParams (vectors keep the constants the model holds when tfjsTrainable is called).
 */
export function tfjsTrainable(model: TfjsClassifier, lossFn: TfjsLoss): TfjsTrainable {
  if (typeof lossFn !== 'function') throw new ArgumentError('ERR_ARGUMENT', 'lossFn must be a function (labels, outputs) => loss');
  const layout = layoutOfModel(model);
  if (model.inputs?.length !== 1 || model.outputs?.length !== 1) {
    throw new ArgumentError('ERR_ARGUMENT', 'tfjsTrainable needs a model with one input and one output');
  }
  const inputDims = fixedDims(model.inputs[0].shape, 'input');
  const outputDims = fixedDims(model.outputs[0].shape, 'output');
  if (outputDims.length !== 1 || outputDims[0] < 2) {
    throw new ArgumentError('ERR_ARGUMENT', `the model's output shape ${describeShape(model.outputs[0].shape)} must be [null, classes >= 2]`);
  }
  const classes = outputDims[0], inputSize = numel(inputDims);
  const initial = weightsToFlat(model);
  const variables = variablesOf(model);

  // one call at a time: an evaluation yields between chunks, and a call in between would write other params
  let running: Promise<unknown> = Promise.resolve();
  function exclusive<T>(call: () => Promise<T>): Promise<T> {
    const result = running.then(call);
    running = result.catch(() => undefined);
    return result;
  }

  function checkBatch(b: LabeledBatch, what: string): number {
    if (!(b?.labels instanceof Uint8Array)) throw new ArgumentError('ERR_ARGUMENT', `${what}: labels must be a Uint8Array`);
    requireF32(b.images, `${what} images`);
    const n = b.labels.length;
    if (n === 0) throw new ArgumentError('ERR_LENGTH', `${what} has no samples`);
    if (b.images.length !== n * inputSize) {
      throw new ArgumentError('ERR_LENGTH', `${what}: ${b.images.length} image values for ${n} labels of ${inputSize}`);
    }
    const bad = b.labels.findIndex((y) => y >= classes);
    if (bad >= 0) throw new ArgumentError('ERR_RANGE', `${what}: label ${b.labels[bad]} at ${bad} is not a class (< ${classes})`);
    return n;
  }

  /** Inside a tidy: the batch's one-hot labels, class indices and the model's outputs. */
  function forward(b: LabeledBatch, training: boolean) {
    const n = b.labels.length;
    const indices = tf.tensor1d(Int32Array.from(b.labels), 'int32');
    const outputs = model.apply(tf.tensor(b.images, [n, ...inputDims], 'float32'), { training }) as Tensor;
    return { labels: tf.cast(tf.oneHot(indices, classes), 'float32'), indices, outputs };
  }

  const meanLoss = (labels: Tensor, outputs: Tensor): Scalar => {
    const loss = lossFn(labels, outputs);
    return (loss.rank === 0 ? loss : tf.mean(loss)) as Scalar;
  };

  return {
    layout,
    paramCount: layout.length,
    initParams: (seed: number) => seededParams(layout, initial, seed),

    gradient: (params: Float32Array, batches: readonly LabeledBatch[]) => exclusive(async () => {
      const batch = joinBatches(batches, checkBatch);
      assignInto(variables, layout, params);
      const grad = new Float32Array(layout.length);
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const { labels, outputs } = forward(batch, true);
          return meanLoss(labels, outputs);
        }, variables);
        gradientsInto(grad, layout, grads);
        return value.dataSync()[0];
      });
      return { grad, loss };
    }),

    evaluate: (params: Float32Array, data: LabeledBatch) => exclusive(async () => {
      const n = checkBatch(data, 'data');
      assignInto(variables, layout, params);
      let lossSum = 0, correct = 0;
      for (let start = 0; start < n; start += EVALUATION_CHUNK) {
        if (start > 0) await yieldToEventLoop();
        const end = Math.min(n, start + EVALUATION_CHUNK);
        const chunk = { images: data.images.subarray(start * inputSize, end * inputSize), labels: data.labels.subarray(start, end) };
        tf.tidy(() => {
          const { labels, indices, outputs } = forward(chunk, false);
          lossSum += meanLoss(labels, outputs).dataSync()[0] * (end - start);
          correct += tf.sum(tf.equal(tf.argMax(outputs, -1), indices)).dataSync()[0];
        });
      }
      return { loss: lossSum / n, accuracy: correct / n };
    }),
  };
}

/** A plain gradient function: params and a batch in, the loss gradient (in the layout) out. */
export function tfjsGradient(model: TfjsClassifier, lossFn: TfjsLoss): (params: Float32Array, batch: LabeledBatch) => Promise<Float32Array> {
  const trainable = tfjsTrainable(model, lossFn);
  return async (params, batch) => (await trainable.gradient(params, [batch])).grad;
}
