import { ArgumentError } from '../errors';

export type LayerSpec =
  | { type: 'dense'; units: number }
  | { type: 'conv2d'; filters: number; kernel: number; padding?: number }
  | { type: 'maxpool2' }
  | { type: 'relu' };

/** A feed-forward classifier: input [channels, height, width], layers in order, the last one dense with `classes` units. */
export interface ModelSpec {
  input: readonly [number, number, number];
  classes: number;
  layers: readonly LayerSpec[];
}

/** Multi-layer perceptron for 28x28 grey images: dense + ReLU per hidden size, then the classifier. */
export function mlpSpec(hidden: readonly number[] = [256, 128], classes = 10): ModelSpec {
  return {
    input: [1, 28, 28],
    classes,
    layers: [...hidden.flatMap((units) => [{ type: 'dense', units } as const, { type: 'relu' } as const]), { type: 'dense', units: classes }],
  };
}

/** LeNet-like CNN for 28x28 grey images: conv5x5(6, same) / pool / conv5x5(16) / pool / dense 120 / dense 84 / classes. */
export function cnnSpec(classes = 10): ModelSpec {
  return {
    input: [1, 28, 28],
    classes,
    layers: [
      { type: 'conv2d', filters: 6, kernel: 5, padding: 2 }, { type: 'relu' }, { type: 'maxpool2' },
      { type: 'conv2d', filters: 16, kernel: 5 }, { type: 'relu' }, { type: 'maxpool2' },
      { type: 'dense', units: 120 }, { type: 'relu' },
      { type: 'dense', units: 84 }, { type: 'relu' },
      { type: 'dense', units: classes },
    ],
  };
}

const positive = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;

/** The layer list as the native engine reads it; throws ArgumentError for a malformed spec. */
export function toNativeSpec(spec: ModelSpec): { input: number[]; classes: number; layers: Array<Record<string, number | string>> } {
  if (!spec || !Array.isArray(spec.input) || spec.input.length !== 3 || !spec.input.every(positive)) {
    throw new ArgumentError('ERR_MODEL_SPEC', 'input must be [channels, height, width] of positive integers');
  }
  if (!positive(spec.classes) || spec.classes < 2) throw new ArgumentError('ERR_MODEL_SPEC', 'classes must be an integer >= 2');
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) throw new ArgumentError('ERR_MODEL_SPEC', 'layers must be a non-empty array');
  const layers = spec.layers.map((l, i): Record<string, number | string> => {
    switch (l?.type) {
      case 'dense':
        if (!positive(l.units)) throw new ArgumentError('ERR_MODEL_SPEC', `layer ${i}: dense units must be a positive integer`);
        return { type: 'dense', units: l.units };
      case 'conv2d':
        if (!positive(l.filters) || !positive(l.kernel) || !(l.padding === undefined || Number.isSafeInteger(l.padding) && l.padding >= 0)) {
          throw new ArgumentError('ERR_MODEL_SPEC', `layer ${i}: conv2d needs positive filters and kernel, padding >= 0`);
        }
        return { type: 'conv2d', units: l.filters, kernel: l.kernel, padding: l.padding ?? 0 };
      case 'maxpool2':
      case 'relu':
        return { type: l.type };
      default:
        throw new ArgumentError('ERR_MODEL_SPEC', `layer ${i}: unknown type '${String((l as { type?: unknown })?.type)}'`);
    }
  });
  return { input: [...spec.input], classes: spec.classes, layers };
}
