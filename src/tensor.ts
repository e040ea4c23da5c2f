import { DTYPES, DType, TypedArrayFor, arrayMatchesDType, isDType } from './dtype';
import { TensorFormatError } from './errors';

/** Most dimensions a tensor may have, the same limit as the Redis module's. */
export const MAX_DIMS = 8;
/** Largest tensor payload accepted anywhere (4 GiB), the same limit as the Redis module's. */
export const MAX_TENSOR_BYTES = 2 ** 32;
/** Largest dimension, even beside a zero one (no tensor holds more elements), the same bound as the module's. */
export const MAX_DIM = 2 ** 32;

/** A dense row-major tensor: typed-array elements, a shape and a dtype. */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayFor<D>;
}

/**
 * Number of elements a shape holds; throws TensorFormatError for a negative, fractional or oversized
 * dimension or shape. The verdict does not depend on the order of the dimensions, as in the module.
 */
export function numel(shape: readonly number[], elementSize = 1): number {
  if (shape.length > MAX_DIMS) {
    throw new TensorFormatError('ERR_BAD_SHAPE', `tensor has ${shape.length} dimensions; at most ${MAX_DIMS} are allowed`);
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0 || d > MAX_DIM) {
      throw new TensorFormatError('ERR_BAD_SHAPE', `shape [${shape.join(', ')}] has an invalid dimension ${d}`);
    }
  }
  // at most 8 factors below 2^33: the product stays finite, and exact whenever it is within the limit
  const n = shape.reduce((a, d) => a * d, 1);
  if (n * elementSize > MAX_TENSOR_BYTES) {
    throw new TensorFormatError('ERR_BAD_SHAPE', `shape [${shape.join(', ')}] exceeds ${MAX_TENSOR_BYTES} bytes`);
  }
  return n;
}

/** Builds a validated tensor; without data, a zero-filled one. */
export function tensor<D extends DType>(dtype: D, shape: readonly number[], data?: TypedArrayFor<D>): Tensor<D> {
  if (!isDType(dtype)) throw new TensorFormatError('ERR_UNKNOWN_DTYPE', `unknown dtype '${String(dtype)}'`);
  const n = numel(shape, DTYPES[dtype].size);
  const values = data ?? (new DTYPES[dtype].array(n) as TypedArrayFor<D>);
  if (!arrayMatchesDType(values, dtype)) {
    throw new TensorFormatError('ERR_DATA_TYPE', `dtype ${dtype} needs a ${DTYPES[dtype].array.name}, got ${values.constructor.name}`);
  }
  if (values.length !== n) {
    throw new TensorFormatError('ERR_DATA_LENGTH', `shape [${shape.join(', ')}] holds ${n} elements but data has ${values.length}`);
  }
  return { dtype, shape: [...shape], data: values };
}

/** A view of a tensor's elements as bytes (no copy). */
export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * Typed-array view over little-endian element bytes: zero-copy when the offset is aligned to the element
 * size, otherwise one copy (a typed array cannot start at an unaligned offset).
 */
export function viewElements<D extends DType>(dtype: D, bytes: Uint8Array): TypedArrayFor<D> {
  const { size, array } = DTYPES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new TensorFormatError('ERR_DATA_LENGTH', `${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const n = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return new array(bytes.buffer, bytes.byteOffset, n) as TypedArrayFor<D>;
  const copy = new array(n);
  new Uint8Array(copy.buffer).set(bytes);
  return copy as TypedArrayFor<D>;
}
