import { ArgumentError } from '../errors';
import { NativeModelHandle, native } from '../native';
import { requireF32, requireInteger } from '../validate';
import { ModelSpec, toNativeSpec } from './spec';

/** One named parameter tensor inside the flat parameter vector. */
export interface ParamInfo {
  name: string;
  shape: number[];
  offset: number;
}

/** Images (n x channels*height*width, float32) with their class labels (n). */
export interface LabeledBatch {
  images: Float32Array;
  labels: Uint8Array;
}

/**
 * A classifier computed by the native engine. Parameters and gradients are single Float32Arrays of
 * paramCount elements, laid out as `layout` says, so a whole gradient is one tensor to store or average.
 */
export class Model {
  private readonly handle: NativeModelHandle;
  readonly spec: ModelSpec;

  constructor(spec: ModelSpec) {
    const nativeSpec = toNativeSpec(spec);
    const { NativeModel } = native(); // outside the try: a missing addon is a NativeLoadError, not a bad spec
    try {
      this.handle = new NativeModel(nativeSpec);
    } catch (e) {
      throw new ArgumentError('ERR_MODEL_SPEC', (e as Error).message.replace(/^spirt native: /, ''));
    }
    this.spec = spec;
  }

  get paramCount(): number {
    return this.handle.paramCount;
  }

  /** Elements per sample: channels * height * width. */
  get inputSize(): number {
    return this.handle.inputSize;
  }

  get layout(): ParamInfo[] {
    return this.handle.layout;
  }

  /** Fresh parameters: He-uniform weights from `seed`, zero biases. */
  initParams(seed = 1): Float32Array {
    const params = new Float32Array(this.paramCount);
    this.handle.init(params, requireInteger(seed, 'seed', 0));
    return params;
  }

  private checkParams(params: Float32Array, name: string): Float32Array {
    requireF32(params, name);
    if (params.length !== this.paramCount) {
      throw new ArgumentError('ERR_LENGTH', `${name} has ${params.length} elements, the model has ${this.paramCount} parameters`);
    }
    return params;
  }

  private checkBatch(b: LabeledBatch, i: number): LabeledBatch {
    if (!(b?.labels instanceof Uint8Array)) throw new ArgumentError('ERR_ARGUMENT', `batch ${i}: labels must be a Uint8Array`);
    requireF32(b.images, `batch ${i} images`);
    if (b.images.length !== b.labels.length * this.inputSize) {
      throw new ArgumentError('ERR_LENGTH', `batch ${i}: ${b.images.length} image values for ${b.labels.length} labels of ${this.inputSize}`);
    }
    const bad = b.labels.findIndex((y) => y >= this.spec.classes);
    if (bad >= 0) throw new ArgumentError('ERR_RANGE', `batch ${i}: label ${b.labels[bad]} at ${bad} is not a class (< ${this.spec.classes})`);
    return b;
  }

  /**
   * Mean loss and its gradient over the batches, computed in parallel on the addon's thread pool (intra-peer
   * parallelism): the gradients are averaged weighted by batch size, in batch order, into `grad`, so the result
   * does not depend on the thread count. Leave the arrays untouched until it settles.
   */
  async gradient(params: Float32Array, batches: readonly LabeledBatch[], grad = new Float32Array(this.paramCount)): Promise<{ loss: number; grad: Float32Array }> {
    this.checkParams(params, 'params');
    this.checkParams(grad, 'grad');
    if (!Array.isArray(batches) || batches.length === 0) throw new ArgumentError('ERR_ARGUMENT', 'gradient needs at least one batch');
    batches.forEach((b, i) => this.checkBatch(b, i));
    const loss = await this.handle.gradient(params, [...batches], grad);
    return { loss, grad };
  }

  /** Mean loss and accuracy over a labelled set, split across the thread pool (the same result for any thread count). */
  async evaluate(params: Float32Array, data: LabeledBatch): Promise<{ loss: number; accuracy: number; correct: number }> {
    this.checkParams(params, 'params');
    this.checkBatch(data, 0);
    const { loss, correct } = await this.handle.evaluate(params, data.images, data.labels);
    return { loss, correct, accuracy: data.labels.length ? correct / data.labels.length : 0 };
  }
}
