// Between a framework's named tensors and one flat vector: what lets a gradient from tfjs (a NamedTensorMap),
// or any {name: Float32Array}, be stored, averaged and applied by spirt as a single tensor.
import { ArgumentError } from '../errors';
import { numel } from '../tensor';

/** A tf.Tensor-like value: a shape and synchronous access to its float data. */
export interface TensorLike {
  readonly shape: readonly number[];
  dataSync(): ArrayLike<number>;
}

export type NamedValues = Record<string, Float32Array | TensorLike>;

export interface FlatLayout {
  entries: Array<{ name: string; shape: number[]; offset: number; length: number }>;
  length: number;
}

function valueOf(name: string, v: Float32Array | TensorLike): { shape: number[]; data: ArrayLike<number> } {
  if (v instanceof Float32Array) return { shape: [v.length], data: v };
  if (v && typeof (v as TensorLike).dataSync === 'function' && Array.isArray((v as TensorLike).shape)) {
    const data = (v as TensorLike).dataSync();
    const shape = [...(v as TensorLike).shape];
    if (numel(shape) !== data.length) throw new ArgumentError('ERR_LENGTH', `${name}: shape [${shape}] does not hold ${data.length} values`);
    return { shape, data };
  }
  throw new ArgumentError('ERR_ARGUMENT', `${name} must be a Float32Array or a tensor with shape and dataSync()`);
}

/** The layout of a set of named values: names in sorted order, so every peer derives the same one. */
export function layoutOf(named: NamedValues): FlatLayout {
  let offset = 0;
  const entries = Object.keys(named).sort().map((name) => {
    const { shape, data } = valueOf(name, named[name]);
    const entry = { name, shape, offset, length: data.length };
    offset += data.length;
    return entry;
  });
  return { entries, length: offset };
}

/** Copies named values into one vector following `layout` (default: layoutOf(named)); every name must match. */
export function flatten(named: NamedValues, layout: FlatLayout = layoutOf(named)): { vector: Float32Array; layout: FlatLayout } {
  const names = Object.keys(named);
  if (names.length !== layout.entries.length) {
    throw new ArgumentError('ERR_LAYOUT', `${names.length} named values for a layout of ${layout.entries.length}`);
  }
  const vector = new Float32Array(layout.length);
  for (const e of layout.entries) {
    if (!(e.name in named)) throw new ArgumentError('ERR_LAYOUT', `missing '${e.name}'`);
    const { data } = valueOf(e.name, named[e.name]);
    if (data.length !== e.length) throw new ArgumentError('ERR_LAYOUT', `'${e.name}' has ${data.length} values, the layout says ${e.length}`);
    vector.set(data, e.offset);
  }
  return { vector, layout };
}

/** Views into the vector by name (no copy): writes through them change the vector. */
export function unflatten(vector: Float32Array, layout: FlatLayout): Record<string, Float32Array> {
  if (!(vector instanceof Float32Array) || vector.length !== layout.length) {
    throw new ArgumentError('ERR_LAYOUT', `vector must be a Float32Array of ${layout.length} values`);
  }
  const out: Record<string, Float32Array> = {};
  for (const e of layout.entries) out[e.name] = vector.subarray(e.offset, e.offset + e.length);
  return out;
}
